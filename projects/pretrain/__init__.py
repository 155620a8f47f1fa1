"""Pretraining the embedded detectors' ResNet trunk on a classification task of the embedded
training split (shape presence in image windows): the stand-in for ImageNet weights in the
embedded regime, made here and cached like the dataset. It is not ImageNet."""
from projects.pretrain.make_trunk import default_trunk_path, make_trunk
from projects.pretrain.path_handler import PREFIX, register_embedded_trunk_handler
from projects.pretrain.train_trunk import PretrainSettings

__all__ = ["PREFIX", "PretrainSettings", "default_trunk_path", "make_trunk", "register_embedded_trunk_handler"]
