"""The class loss of a DETR-family model, one vocabulary for the loss, the matcher and inference.

"softmax": cross-entropy over K classes + a no-object class (DETR); matching cost -p(target);
    inference keeps one detection per query (arg-max over the real classes).
"focal": sigmoid focal loss over K classes (Deformable DETR, Conditional DETR, SMCA); matching
    cost is the focal loss of a positive minus that of a negative; inference keeps the top-k
    (query, class) pairs of the sigmoid scores.
"""
CLASS_LOSSES = ("softmax", "focal")


def check_class_loss(value: str, name: str = "MODEL.DETR.CLASS_LOSS") -> str:
    """``value`` when it is one of CLASS_LOSSES; a ValueError naming ``name`` otherwise."""
    if value not in CLASS_LOSSES:
        raise ValueError(f"{name} must be one of {CLASS_LOSSES}, got {value!r}")
    return value


def check_method_class_loss(value: str, method: str, class_loss=None, name: str = "MODEL.DETR.CLASS_LOSS") -> str:
    """``value`` checked by ``check_class_loss`` and against the loss ``method`` is trained with
    (``class_loss``; None accepts either); a ValueError naming ``name`` otherwise."""
    check_class_loss(value, name)
    if class_loss is not None and value != class_loss:
        raise ValueError(f"{method} is trained with the {class_loss!r} class loss: set {name} {class_loss!r}, "
                         f"got {value!r}")
    return value


def check_method_config(cfg, method, class_loss=None, pre_norm=True) -> str:
    """MODEL.DETR.CLASS_LOSS of ``cfg``, checked; a ValueError naming the key when ``cfg`` asks
    ``method`` for what it cannot do.

    class_loss: the loss the method is trained with ("softmax" or "focal"); None accepts either.
    pre_norm: False for methods whose layers are post-norm only (MODEL.DETR.PRE_NORM must be False).
    """
    found = check_method_class_loss(cfg.MODEL.DETR.CLASS_LOSS, method, class_loss)
    if not pre_norm and cfg.MODEL.DETR.PRE_NORM:
        raise ValueError(f"{method} has post-norm layers only (as the official code): set MODEL.DETR.PRE_NORM False")
    return found
