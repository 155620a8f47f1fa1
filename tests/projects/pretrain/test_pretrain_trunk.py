"""The embedded trunk pretraining (projects.pretrain): labels, sampling, resume, the weights file,
and that a detector config loads it through MODEL.WEIGHTS as it loads ImageNet weights."""
import numpy as np
import pytest
import torch

from detectron2.modeling import build_model
from detectron2.utils.file_io import PathManager

from projects.checkpoint import DetrCheckpointer, read_pickled_weights
from projects.config import load_config
from projects.pretrain import PREFIX, PretrainSettings, make_trunk, register_embedded_trunk_handler
from projects.pretrain.make_trunk import _record, default_trunk_path
from projects.pretrain.presence_crops import CropSampler, LabelledImage, presence_labels
from projects.pretrain.train_trunk import pretrain
from projects.pretrain.trunk_classifier import PIXEL_MEAN, PIXEL_STD, TrunkClassifier, trunk_config
from projects.pretrain.trunk_file import stored_pretraining, write_trunk_file
from tests.tools.tool_utils import ROOT

TINY = PretrainSettings(steps=4, batch_size=2, crop=64, warmup_steps=1)
PRETRAINED_CONFIG = ROOT / "configs" / "embedded_pretrained" / "deformable_detr.yaml"


def test_presence_needs_half_of_a_box_inside_the_window():
    boxes = np.array([[0, 0, 10, 10],      # fully inside
                      [15, 0, 35, 10],     # 5 of 20 columns inside: 25 %
                      [10, 10, 30, 20]],   # 10 of 20 columns inside: 50 %
                     dtype=np.float32)
    classes = np.array([0, 1, 3])
    labels = presence_labels(boxes, classes, window=(0, 0, 20, 20), num_classes=4)
    np.testing.assert_array_equal(labels, [1, 0, 0, 1])
    np.testing.assert_array_equal(presence_labels(boxes[:0], classes[:0], (0, 0, 20, 20), 4), [0, 0, 0, 0])


def _sampler(crop=32):
    pixels = np.zeros((40, 50, 3), dtype=np.uint8)
    pixels[5:15, 5:15] = 255
    image = LabelledImage(pixels, np.array([[5, 5, 15, 15]], dtype=np.float32), np.array([2]))
    return CropSampler([image], 4, PIXEL_MEAN, PIXEL_STD, crop=crop, scales=(1.0, 1.0))


def test_samples_depend_only_on_the_generator():
    first = _sampler().sample(np.random.default_rng([0, 3]), 4)
    again = _sampler().sample(np.random.default_rng([0, 3]), 4)
    other = _sampler().sample(np.random.default_rng([0, 4]), 4)
    assert first[0].shape == (4, 3, 32, 32) and first[1].shape == (4, 4)
    torch.testing.assert_close(first[0], again[0], rtol=0, atol=1e-6)  # same draw (float32 arithmetic)
    assert torch.equal(first[1], again[1])  # 0/1 labels
    assert not torch.allclose(first[0], other[0])
    # only class 2 exists; it is labelled exactly when the square's pixels are in the window
    assert set(first[1][:, [0, 1, 3]].unique().tolist()) == {0.0}


def test_resumed_pretraining_ends_where_an_uninterrupted_one_does(tmp_path):
    def run(partial, stop_at=None):
        torch.manual_seed(0)
        model = TrunkClassifier(trunk_config(18), 4)

        def stop(step, _loss):
            if step == stop_at:
                raise KeyboardInterrupt

        try:
            pretrain(model, _sampler(), TINY, partial_path=str(partial), save_every=2, log_every=1, on_log=stop)
        except KeyboardInterrupt:
            return None
        return model

    straight = run(tmp_path / "a.pth")
    interrupted = run(tmp_path / "c.pth", stop_at=3)  # stopped during step 3: the state of step 2 is on disk
    assert interrupted is None and (tmp_path / "c.pth").is_file()
    resumed = run(tmp_path / "c.pth")
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)  # same batches, same steps


def test_trunk_file_loads_into_a_pretrained_regime_detector(tmp_path):
    path = make_trunk(tmp_path / "R-18.pkl", TINY)
    data = read_pickled_weights(str(path))
    assert data["matching_heuristics"] and "not ImageNet" in data["__author__"]
    assert stored_pretraining(path)["settings"] == TINY.as_dict()
    cfg = load_config(str(PRETRAINED_CONFIG), ["MODEL.WEIGHTS", str(path), "MODEL.DETR.HIDDEN_DIM", "32"])
    model = build_model(cfg)
    DetrCheckpointer.from_config(cfg, model, save_dir=str(tmp_path)).load(cfg.MODEL.WEIGHTS)
    loaded = model.backbone.body.state_dict()  # the Detectron2 ResNet inside MaskedBackbone
    assert set(data["model"]) <= set(loaded), "every trunk array has a home in the detector"
    for name, array in data["model"].items():
        torch.testing.assert_close(loaded[name], torch.from_numpy(array), rtol=0, atol=1e-7, msg=name)  # a float32 copy


def test_trunk_file_with_the_same_settings_is_reused(tmp_path):
    path = tmp_path / "R-18.pkl"
    write_trunk_file(path, TrunkClassifier(trunk_config(18), 4).trunk, {**_record(TINY), "marker": 1})
    assert make_trunk(path, TINY) == path and stored_pretraining(path)["marker"] == 1


def test_weights_prefix_resolves_to_the_cache_or_names_the_expected_form(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    settings = PretrainSettings()
    write_trunk_file(default_trunk_path(18), TrunkClassifier(trunk_config(18), 4).trunk, _record(settings))
    register_embedded_trunk_handler()
    assert PathManager.get_local_path(PREFIX + "R-18.pkl") == str(default_trunk_path(18))
    with pytest.raises(ValueError, match="R-<depth>.pkl"):
        PathManager.get_local_path(PREFIX + "resnet18.pth")
