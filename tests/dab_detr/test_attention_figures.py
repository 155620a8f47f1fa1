"""DAB-DETR's attention recorders (dab_detr/attention_figures.py): the last layer's modulated cross-attention
and reference size, the deformable model's sampling points, both from the model's own forward pass."""
import pytest
import torch

from projects.layers.misc import merge_heads, split_heads
from projects.visualization.attention import build_recorder
from projects.visualization.attention.geometry import ImageView
from tests.harness.attention_utils import SUM_TOLERANCE, embedded_val_image, recorded


@pytest.fixture(scope="module")
def image(small_embedded_root):
    return embedded_val_image(small_embedded_root)


def test_modulated_attention_is_what_the_layer_used(image):
    model, _, _ = recorded("dab_detr_embedded", image)
    layer = model.transformer.decoder.layers[-1]
    captured = {}
    layer.cross_attn.register_forward_hook(lambda m, args, out: captured.update(value=args[2], output=out))
    recorder = build_recorder(model)
    with recorder.recording(model), torch.no_grad():
        model([{"image": torch.as_tensor(image.transpose(2, 0, 1).copy()), "height": 64, "width": 64}])
    attention, ref_wh = recorder.records["attention"], recorder.records["ref_wh"]
    num_queries = model.refpoint_embed.num_embeddings
    assert attention.shape[:3] == (1, layer.cross_attn.num_heads, num_queries)
    assert ref_wh.shape == (1, num_queries, 2) and bool(((ref_wh > 0) & (ref_wh < 1)).all())
    torch.testing.assert_close(attention.sum(-1), torch.ones(attention.shape[:-1]), **SUM_TOLERANCE)
    value = split_heads(captured["value"], layer.cross_attn.num_heads)
    rebuilt = layer.cross_attn.out_proj(merge_heads(attention @ value))
    torch.testing.assert_close(rebuilt, captured["output"], atol=1e-4, rtol=1e-4)  # float32 model output
    assert len(recorder.outputs["anchors"]) == len(model.transformer.decoder.layers)


@pytest.mark.parametrize("config_name", ["dab_detr_embedded", "dab_deformable_detr_embedded"])
def test_figures_are_drawn(config_name, image):
    from projects.visualization.attention import top_detections

    model, recorder, _ = recorded(config_name, image)
    detections = top_detections(recorder.outputs, model.class_loss, 2)
    figures = recorder.figures(ImageView(image, recorder.input_hw), detections, {})
    expected = 1 if config_name == "dab_detr_embedded" else 2  # + the anchors figure of the deformable model
    assert len(figures) == expected * len(detections)
    if config_name == "dab_deformable_detr_embedded":
        sampling = recorder.records["decoder"]
        torch.testing.assert_close(sampling["weights"].flatten(-2).sum(-1),
                                   torch.ones(sampling["weights"].shape[:3]), **SUM_TOLERANCE)
        assert sampling["reference"].shape[-1] == 4  # the anchor box scales the offsets
