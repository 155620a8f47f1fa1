"""The ImageNet weights are real and loaded right: real photographs (scikit-image) land in sensible ImageNet
classes with the 1000-class head; random or misloaded weights do not; the trained preprocessing fits best."""
import pytest

from projects.modeling.efficientnet.classifier import EfficientNetLiteClassifier, imagenet_classifier
from tests.projects.modeling.efficientnet_photos import (
    PREPROCESSING,
    SENSIBLE,
    imagenet_categories,
    mean_log_sensible,
    probabilities,
    stem_variance_mismatch,
    top5_is_sensible,
)

TRAINED = "trained: RGB, mean 127, std 128"


@pytest.fixture(scope="module")
def categories():
    return imagenet_categories()


@pytest.fixture(scope="module")
def lite0():
    return imagenet_classifier("lite0")


@pytest.mark.parametrize("variant", ["lite0", "lite1", "lite2"])
def test_photos_land_in_sensible_imagenet_classes(variant, categories):
    assert top5_is_sensible(imagenet_classifier(variant), variant, categories) == {name: True for name in SENSIBLE}


def test_chelsea_is_a_domestic_cat(lite0, categories):
    top5 = [categories[i] for i in probabilities(lite0, "lite0", "chelsea", (127.0,) * 3, (128.0,) * 3).topk(5).indices]
    assert {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"} & set(top5)


def test_random_weights_fail_the_check(categories):
    model = EfficientNetLiteClassifier("lite0").eval()  # seeded by tests/conftest.py
    assert sum(top5_is_sensible(model, "lite0", categories).values()) <= 1


def _misloaded(lite0, how):
    model = EfficientNetLiteClassifier("lite0").eval()
    state = {k: v.clone() for k, v in lite0.state_dict().items()}
    if how == "class order shifted":
        state["fc.weight"], state["fc.bias"] = state["fc.weight"].roll(500, 0), state["fc.bias"].roll(500, 0)
    elif how == "BatchNorm statistics not loaded":
        for key in state:
            if key.endswith("running_mean"):
                state[key].zero_()
            elif key.endswith("running_var"):
                state[key].fill_(1.0)
    elif how == "depthwise kernels transposed":  # a TF HWIO -> OIHW conversion done wrong
        for key in [k for k in state if k.endswith("depthwise.weight")]:
            state[key] = state[key].transpose(-1, -2).contiguous()
    model.load_state_dict(state)
    return model


@pytest.mark.parametrize("how", ["class order shifted", "BatchNorm statistics not loaded",
                                 "depthwise kernels transposed"])
def test_misloaded_weights_fail_the_check(lite0, categories, how):
    assert sum(top5_is_sensible(_misloaded(lite0, how), "lite0", categories).values()) <= 2


@pytest.mark.parametrize("variant", ["lite0", "lite1", "lite2"])
def test_trained_pixel_scale_matches_the_stem_batchnorm_statistics(variant):
    model = imagenet_classifier(variant)
    mismatch = {name: stem_variance_mismatch(model, variant, *prep) for name, prep in PREPROCESSING.items()}
    # channel order does not change the variance much (the photos' channels have similar spread)
    scales = {k: v for k, v in mismatch.items() if not k.startswith("BGR")}
    assert min(scales, key=scales.get) == TRAINED, mismatch
    assert scales[TRAINED] < 0.7 * min(v for k, v in scales.items() if k != TRAINED), mismatch


def test_trained_preprocessing_classifies_the_photos_best(lite0, categories):
    scores = {name: mean_log_sensible(lite0, "lite0", *prep, categories) for name, prep in PREPROCESSING.items()}
    assert max(scores, key=scores.get) == TRAINED, scores
