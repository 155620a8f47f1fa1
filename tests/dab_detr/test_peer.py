"""DAB-DETR's Hugging Face peer (dab_detr/peer.py): the settings HF's DAB-DETR cannot reproduce are
refused in one line before anything is built; its copied-weights parity is in
tests/tools/benchmarks/test_peers.py with the other peers'."""
from pathlib import Path

import pytest

from projects.benchmark.hf_configs import check_supported
from projects.benchmark.hf_peer import peer_methods, peer_of
from projects.config import load_config

ROOT = Path(__file__).resolve().parents[2]
DAB = str(ROOT / "configs" / "dab_detr" / "dab_detr_r50_50ep.yaml")


def test_dab_detr_has_a_peer_and_dn_detr_none():
    peers = peer_methods()
    assert peers["dab_detr"].meta_architecture == "DABDETR"
    assert "dn_detr" not in peers


def test_the_official_config_is_supported():
    check_supported(load_config(DAB))  # raises on any setting HF cannot express


@pytest.mark.parametrize("overrides, message", [
    (["MODEL.DN.ENABLED", "True"], r"MODEL\.DN\.ENABLED must be False"),
    (["MODEL.DAB_DETR.POSITION_TEMPERATURE", "20.5"],
     r"MODEL\.DAB_DETR\.POSITION_TEMPERATURE must be a whole number.*20\.5"),
])
def test_what_hf_cannot_express_is_refused_in_one_line(overrides, message):
    with pytest.raises(ValueError, match=rf"^Cannot compare with Hugging Face: {message}"):
        check_supported(load_config(DAB, overrides))


def test_the_deformable_model_has_no_peer():
    cfg = load_config(str(ROOT / "configs" / "dab_detr" / "dab_deformable_detr_r50_50ep.yaml"))
    with pytest.raises(ValueError, match="No Hugging Face peer for MODEL.META_ARCHITECTURE 'DABDeformableDETR'"):
        peer_of(cfg)
