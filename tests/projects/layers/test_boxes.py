"""Box conversions, pairwise IoU and generalized IoU (projects/layers/boxes.py)."""
import pytest
import torch

from projects.layers.boxes import (
    box_cxcywh_to_xyxy,
    box_iou,
    box_xyxy_to_cxcywh,
    generalized_box_iou,
    paired_generalized_box_iou,
)


def random_xyxy(count, generator):
    top_left = torch.rand(count, 2, generator=generator, dtype=torch.float64)
    size = 0.05 + torch.rand(count, 2, generator=generator, dtype=torch.float64)
    return torch.cat([top_left, top_left + size], dim=-1)


def test_cxcywh_xyxy_known_values_and_round_trip():
    cxcywh = torch.tensor([[0.5, 0.5, 0.2, 0.4], [0.1, 0.9, 0.2, 0.2]], dtype=torch.float64)
    expected = torch.tensor([[0.4, 0.3, 0.6, 0.7], [0.0, 0.8, 0.2, 1.0]], dtype=torch.float64)
    # float64 arithmetic on short decimals: a few ulp (2e-16); 1e-12 leaves room for FMA/SIMD paths.
    torch.testing.assert_close(box_cxcywh_to_xyxy(cxcywh), expected, atol=1e-12, rtol=0)
    torch.testing.assert_close(box_xyxy_to_cxcywh(expected), cxcywh, atol=1e-12, rtol=0)


def test_conversions_keep_leading_dims():
    boxes = torch.rand(2, 3, 5, 4, dtype=torch.float64)
    assert box_cxcywh_to_xyxy(boxes).shape == (2, 3, 5, 4)
    torch.testing.assert_close(box_xyxy_to_cxcywh(box_cxcywh_to_xyxy(boxes)), boxes, atol=1e-12, rtol=0)


def test_iou_and_giou_hand_computed():
    first = torch.tensor([[0.0, 0.0, 2.0, 2.0]], dtype=torch.float64)
    second = torch.tensor([[1.0, 1.0, 3.0, 3.0], [4.0, 0.0, 5.0, 1.0]], dtype=torch.float64)
    iou, union = box_iou(first, second)
    # overlap 1, union 4 + 4 - 1 = 7; disjoint box: IoU 0, union 4 + 1 (float64: 1e-12, as above)
    torch.testing.assert_close(iou, torch.tensor([[1 / 7, 0.0]], dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(union, torch.tensor([[7.0, 5.0]], dtype=torch.float64), atol=1e-12, rtol=0)
    # enclosing boxes: 3x3 = 9 and 5x2 = 10
    expected_giou = torch.tensor([[1 / 7 - 2 / 9, 0.0 - 5 / 10]], dtype=torch.float64)
    torch.testing.assert_close(generalized_box_iou(first, second), expected_giou, atol=1e-12, rtol=0)


def test_giou_of_identical_boxes_is_one():
    boxes = random_xyxy(6, torch.Generator().manual_seed(0))
    giou = generalized_box_iou(boxes, boxes)
    torch.testing.assert_close(giou.diagonal(), torch.ones(6, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(paired_generalized_box_iou(boxes, boxes), torch.ones(6, dtype=torch.float64),
                               atol=1e-12, rtol=0)


def test_giou_range_and_paired_equals_diagonal():
    generator = torch.Generator().manual_seed(1)
    boxes1, boxes2 = random_xyxy(7, generator), random_xyxy(7, generator)
    giou = generalized_box_iou(boxes1, boxes2)
    assert giou.shape == (7, 7)
    assert bool((giou <= 1).all()) and bool((giou > -1).all())
    torch.testing.assert_close(paired_generalized_box_iou(boxes1, boxes2), giou.diagonal(), atol=1e-12, rtol=0)


def test_empty_inputs_give_empty_results():
    boxes = random_xyxy(3, torch.Generator().manual_seed(2))
    assert generalized_box_iou(boxes, boxes[:0]).shape == (3, 0)
    assert paired_generalized_box_iou(boxes[:0], boxes[:0]).shape == (0,)


@pytest.mark.parametrize("giou_fn", [generalized_box_iou, paired_generalized_box_iou])
def test_degenerate_boxes_raise_value_error(giou_fn):
    good = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    inverted = torch.tensor([[0.5, 0.5, 0.4, 0.9]])  # x1 < x0, as when cxcywh is passed unconverted
    with pytest.raises(ValueError, match="x1 >= x0"):
        giou_fn(good, inverted)
    with pytest.raises(ValueError, match="x1 >= x0"):
        giou_fn(inverted, good)
    with pytest.raises(ValueError):
        giou_fn(good, torch.tensor([[float("nan"), 0.0, 1.0, 1.0]]))


def test_paired_giou_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="equal shapes"):
        paired_generalized_box_iou(torch.zeros(2, 4), torch.zeros(3, 4))
