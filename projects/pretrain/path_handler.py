"""``embedded-trunk://R-18.pkl`` in MODEL.WEIGHTS: the cached embedded trunk, made on first use."""
import re

from detectron2.utils.file_io import PathHandler, PathManager

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


def register_embedded_trunk_handler() -> None:
    """Let Detectron2's PathManager (and so MODEL.WEIGHTS) resolve ``embedded-trunk://`` paths."""
    PathManager.register_handler(EmbeddedTrunkHandler(), allow_override=True)
