"""The tolerances of float comparisons in the tests, stated once.

Float results differ in their last bits between machines (SIMD level: AVX2 vs AVX-512 paths in
MKL/oneDNN), thread counts (the order of parallel sums) and implementations (the official code vs
ours, the compiled op vs its reference). Integers, indices, masks and shapes are compared exactly.
"""
import torch

# float32 model outputs and intermediates of O(1): measured differences are 1e-7..2e-6; the project bound is 1e-4.
OUT_ATOL = 1e-4
# float32 losses of O(1): a few ulp of the official values.
LOSS_ATOL = 1e-6


def assert_close(actual, expected, atol=OUT_ATOL, msg=None):
    """Absolute tolerance ``atol`` (default: float32 model outputs), no relative term."""
    torch.testing.assert_close(actual, expected, atol=atol, rtol=0, msg=msg)


def assert_same_detections(instances, expected, atol=OUT_ATOL):
    """Post-processed detections (Instances) equal ``expected`` ({"scores", "labels", "boxes"}) up to float noise.

    Top-k over nearly tied scores (gaps down to 1e-7 in the fixtures) may order them either way on
    another machine, so each detection pairs one-to-one with an expected detection of the same label
    whose score and box are within ``atol`` (its own position tried first, then any other), and the
    sorted scores agree.
    """
    scores, labels, boxes = instances.scores, instances.pred_classes, instances.pred_boxes.tensor
    assert scores.shape == expected["scores"].shape
    assert_close(scores.sort(descending=True).values, expected["scores"].sort(descending=True).values, atol)
    free = set(range(len(scores)))
    for index in range(len(scores)):
        match = next((other for other in [index, *sorted(free)] if other in free
                      and bool(labels[index] == expected["labels"][other])
                      and float((scores[index] - expected["scores"][other]).abs()) <= atol
                      and float((boxes[index] - expected["boxes"][other]).abs().max()) <= atol), None)
        assert match is not None, (f"detection {index} (class {int(labels[index])}, score {float(scores[index]):.6f}) "
                                   "has no expected counterpart")
        free.remove(match)
