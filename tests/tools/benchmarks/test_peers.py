"""tools/benchmarks/peers.py's weight mapping: tiny versions of the R50 config of every registered
method with a Hugging Face peer (``Method.benchmark_peer``), and those peers, with every weight
copied over, give the same outputs."""
import importlib
from types import SimpleNamespace

import pytest
import torch

from projects.benchmark import hf_configs
from tests.harness.tolerances import OUT_ATOL, assert_close
from tests.tools.tool_utils import ROOT, load_tool

transformers = pytest.importorskip(
    "transformers", reason="needs transformers (pip install -r tools/benchmarks/requirements.txt)")

from projects.benchmark.hf_peer import peer_methods, peer_of  # noqa: E402
from projects.benchmark.hf_weights import hf_names, to_hf_state_dict  # noqa: E402
from projects.benchmark.peers import (batch_for, build_pair, hf_outputs, hf_training_loss,  # noqa: E402
                                      ours_outputs, ours_training_loss, random_targets)
from projects.config import load_config  # noqa: E402
from projects.registry import registered_methods  # noqa: E402

# A bottleneck ResNet-50 at 1/8 width and a 32-wide transformer: the R50 key layout, in milliseconds.
TINY = ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "", "MODEL.RESNETS.STEM_OUT_CHANNELS", "16",
        "MODEL.RESNETS.RES2_OUT_CHANNELS", "32", "MODEL.RESNETS.WIDTH_PER_GROUP", "8", "MODEL.DETR.HIDDEN_DIM", "32",
        "MODEL.DETR.NHEADS", "2", "MODEL.DETR.ENC_LAYERS", "1", "MODEL.DETR.DEC_LAYERS", "2",
        "MODEL.DETR.DIM_FEEDFORWARD", "64", "MODEL.DETR.NUM_OBJECT_QUERIES", "10"]
# the basic-block ResNet (R18/R34) layout, on the baseline's config
R18 = ["MODEL.RESNETS.DEPTH", "18", "MODEL.RESNETS.RES2_OUT_CHANNELS", "64", "MODEL.RESNETS.STEM_OUT_CHANNELS", "64"]
PEERS = peer_methods()
CASES = {**{method: (method, []) for method in PEERS}, "detr_r18": ("detr", R18)}
# the method whose training step the benchmark times (its peer sets time_training)
TRAINED = next(method for method, peer in PEERS.items() if peer.time_training)
# two images of different sizes: padding, masks and per-image valid ratios are exercised
SIZES = [(96, 128), (80, 112)]


def tiny_pair(case):
    """The peer pair of a tiny version of the method's benchmark config (its peer's ``default_config``)."""
    method, extra = CASES[case]
    return build_pair(load_config(str(ROOT / PEERS[method].default_config), [*TINY, *extra]))


def test_each_peer_names_its_own_config():
    for method, peer in PEERS.items():
        cfg = load_config(str(ROOT / peer.default_config))
        assert cfg.MODEL.META_ARCHITECTURE == peer.meta_architecture, method


def test_a_method_without_a_peer_is_refused_by_name():
    # a meta-architecture no peer claims (DN-DETR has no peer, but its DABDETR is DAB-DETR's)
    claimed = {peer.meta_architecture for peer in PEERS.values()}
    without = [arch for m in registered_methods().values() if m.benchmark_peer is None
               for arch in m.meta_architectures if arch not in claimed]
    if not without:
        pytest.skip("every registered meta-architecture has a Hugging Face peer")
    arch = without[0]
    cfg = SimpleNamespace(MODEL=SimpleNamespace(META_ARCHITECTURE=arch))
    with pytest.raises(ValueError, match=f"No Hugging Face peer for MODEL.META_ARCHITECTURE '{arch}'"):
        peer_of(cfg)


def test_shared_renames_apply_unless_a_peer_opts_out():
    # DETR's peer keeps the shared FFN / attention-output renames; DAB-DETR's opts out (layer_rules=())
    name = "transformer.encoder.layers.0.self_attn.out_proj.weight"
    renamed = {method: [n for n, _ in hf_names(name, (8, 8), PEERS[method])] for method in ("detr", "dab_detr")}
    assert renamed == {"detr": ["model.encoder.layers.0.self_attn.o_proj.weight"],
                       "dab_detr": ["model.encoder.layers.0.self_attn.out_proj.weight"]}


def test_a_tied_module_gets_the_same_tensor():
    # HF's DAB-DETR ties model.decoder.bbox_embed to bbox_predictor: our one box head fills both
    weight = torch.randn(4, 8)
    mapped = to_hf_state_dict({"bbox_embed.layers.2.weight": weight}, PEERS["dab_detr"])
    assert set(mapped) == {"bbox_predictor.layers.2.weight", "model.decoder.bbox_embed.layers.2.weight"}
    assert all(value is weight for value in mapped.values())


@pytest.mark.parametrize("case", list(CASES))
def test_copied_weights_give_the_same_outputs(case):
    pair = tiny_pair(case)
    batch = batch_for(pair.ours, SIZES)
    with torch.no_grad():
        ours = ours_outputs(pair.ours, batch)
        theirs = hf_outputs(pair.hf, batch)
    assert ours["pred_logits"].shape == theirs.logits.shape
    # float32 model outputs: the project's bound (implementations differ in summation order only)
    assert_close(ours["pred_logits"], theirs.logits, atol=OUT_ATOL)
    assert_close(ours["pred_boxes"], theirs.pred_boxes, atol=OUT_ATOL)
    # the outputs depend on the image, by far more than the tolerance (the perturbed weights make the
    # boxes and the deformable sampling input-dependent; at the official init they would not be)
    for key in ("pred_logits", "pred_boxes"):
        assert (ours[key][0] - ours[key][1]).abs().max() > 10 * OUT_ATOL


def test_training_step_trains_the_same_parameters():
    pair = tiny_pair(TRAINED)
    batch = batch_for(pair.ours, SIZES)
    targets = random_targets(len(SIZES), load_config(str(ROOT / PEERS[TRAINED].default_config)).MODEL.DETR.NUM_CLASSES)
    pair.ours.train(), pair.hf.train()
    for model, loss_fn in ((pair.ours, ours_training_loss), (pair.hf, hf_training_loss)):
        loss = loss_fn(model, batch, targets)
        assert torch.isfinite(loss)
        loss.backward()
    ours_trained = {n for n, p in pair.ours.named_parameters() if p.grad is not None}
    hf_trained = {n for n, p in pair.hf.named_parameters() if p.grad is not None}
    # the backbone from res3 on trains on both sides (HF's own freezing rule would freeze its whole trunk)
    assert any(n.startswith("backbone.body.res3.") for n in ours_trained)
    assert any(".encoder.stages.1." in n for n in hf_trained)
    assert not any(".encoder.stages.0." in n or ".embedder." in n for n in hf_trained)


def test_profile_prints_the_speed_up_and_its_bound(capsys):
    tool = load_tool("benchmarks/peers")
    pair = tiny_pair(TRAINED)
    tool.profile(pair, batch_for(pair.ours, SIZES), threads=1, top=3)
    lines = capsys.readouterr().out.splitlines()
    bound_line = next(line for line in lines if line.startswith("Speed-up HF / ours"))
    speed_up, bound = (float(part.split("x")[0]) for part in (bound_line.split("ours ")[1],
                                                             bound_line.split("our dense ")[1]))
    # our dense time is part of our total, so the bound can only be above the measured speed-up
    assert 0 < speed_up < bound


def test_missing_transformers_exits_with_the_install_hint(monkeypatch):
    real_import = importlib.import_module

    def fail_on_transformers(name, *args):
        if name == "transformers":
            raise ImportError("No module named 'transformers'")
        return real_import(name, *args)

    monkeypatch.setattr(hf_configs.importlib, "import_module", fail_on_transformers)
    with pytest.raises(SystemExit, match=r"pip install -r tools/benchmarks/requirements.txt"):
        hf_configs.import_transformers()
