"""The official training scripts' arguments (an ``argparse`` namespace as a dict, as official checkpoints
and our fixtures store it) -> the shared ``MODEL.DETR`` keys.

Every official DETR-family repository forks DETR's main.py, so these argument names are common to all;
a method's ``official_config`` (projects/registry.py ``Method``) calls ``set_official_detr_args`` and
then sets its own keys.
"""


def set_official_detr_args(cfg, args) -> None:
    """Transformer sizes, matcher costs and box-loss weights from the official arguments."""
    detr = cfg.MODEL.DETR
    detr.NUM_CLASSES = args["num_classes"]
    detr.HIDDEN_DIM, detr.NHEADS, detr.DROPOUT = args["hidden_dim"], args["nheads"], args["dropout"]
    detr.ENC_LAYERS, detr.DEC_LAYERS = args["enc_layers"], args["dec_layers"]
    detr.DIM_FEEDFORWARD, detr.NUM_OBJECT_QUERIES = args["dim_feedforward"], args["num_queries"]
    detr.COST_CLASS, detr.COST_BBOX = args["set_cost_class"], args["set_cost_bbox"]
    detr.COST_GIOU = args["set_cost_giou"]
    detr.L1_WEIGHT, detr.GIOU_WEIGHT = args["bbox_loss_coef"], args["giou_loss_coef"]


def set_official_focal_args(cfg, args) -> None:
    """The sigmoid focal class loss of the fast-converging methods. A script without ``cls_loss_coef``
    hard-codes the class weight 2 in its build() (official SMCA), hence the default."""
    detr = cfg.MODEL.DETR
    detr.CLASS_LOSS = "focal"
    detr.FOCAL_ALPHA = args.get("focal_alpha", 0.25)
    detr.CLASS_WEIGHT = args.get("cls_loss_coef", 2.0)
