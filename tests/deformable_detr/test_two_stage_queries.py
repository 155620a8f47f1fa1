"""Two-stage Deformable DETR: the top encoder proposals are the object queries, so their number is
MODEL.DETR.NUM_OBJECT_QUERIES, read once; a direct construction that disagrees is refused."""
import pytest

from deformable_detr import DeformableDETR
from tests.harness.e2e_utils import tiny_cfg

TWO_STAGE = "configs/quickstart/deformable_detr_two_stage_embedded.yaml"


def test_proposals_are_the_configured_queries():
    cfg = tiny_cfg(TWO_STAGE, extra=["MODEL.DETR.NUM_OBJECT_QUERIES", 7])
    args = DeformableDETR.from_config(cfg)
    assert args["num_queries"] == args["transformer"].num_proposals == 7
    DeformableDETR(**args)


def test_direct_construction_with_other_proposals_is_refused():
    args = DeformableDETR.from_config(tiny_cfg(TWO_STAGE, extra=["MODEL.DETR.NUM_OBJECT_QUERIES", 7]))
    with pytest.raises(ValueError, match=r"^num_queries \(8\) must equal the two-stage transformer's num_proposals "
                                         r"\(7\): its top encoder proposals are the object queries$"):
        DeformableDETR(**{**args, "num_queries": 8})
