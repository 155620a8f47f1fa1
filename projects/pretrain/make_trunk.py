"""Make (or reuse) the embedded trunk: pretrain on the embedded training split, write the weights file."""
import logging
import os
from pathlib import Path
from typing import Dict, Optional

from detectron2.data import DatasetCatalog, MetadataCatalog

from projects.data import EMBEDDED_DATASET_NAMES, register_embedded_dataset
from projects.data.embedded_dataset import GENERATOR_VERSION, default_embedded_root
from projects.pretrain.presence_crops import CropSampler, load_split
from projects.pretrain.train_trunk import PretrainSettings, presence_accuracy, pretrain
from projects.pretrain.trunk_classifier import PIXEL_MEAN, PIXEL_STD, TrunkClassifier, trunk_config
from projects.pretrain.trunk_file import stored_pretraining, write_trunk_file

logger = logging.getLogger(__name__)


def default_trunk_path(depth: int = 18) -> Path:
    """``$DETECTRON2_DATASETS/embedded_shapes_trunk/R-<depth>.pkl`` (beside the embedded dataset's cache)."""
    return default_embedded_root().parent / "embedded_shapes_trunk" / f"R-{depth}.pkl"


def _sampler(split: str, crop: int) -> CropSampler:
    name = EMBEDDED_DATASET_NAMES[split]
    images = load_split(DatasetCatalog.get(name))  # the COCO loader maps category ids to 0..K-1
    return CropSampler(images, len(MetadataCatalog.get(name).thing_classes), PIXEL_MEAN, PIXEL_STD, crop=crop)


def _record(settings: PretrainSettings) -> Dict:
    return {"settings": settings.as_dict(), "dataset_version": GENERATOR_VERSION, "split": "train"}


def make_trunk(path: os.PathLike, settings: PretrainSettings = PretrainSettings(), force: bool = False) -> Path:
    """Pretrain the trunk on the embedded training split and write it to ``path``.

    An existing file made with the same settings is reused unless ``force``. Progress (with ETA) is
    logged; a partial state beside ``path`` lets an interrupted run continue where it stopped.
    """
    path = Path(path)
    stored = stored_pretraining(path)
    if not force and stored is not None and all(stored.get(k) == v for k, v in _record(settings).items()):
        return path
    register_embedded_dataset()
    logger.info("Pretraining the R-%d trunk on embedded_shapes_train shape presence (%d steps of %d crops of "
                "%d px) -> %s", settings.depth, settings.steps, settings.batch_size, settings.crop, path)
    train_sampler = _sampler("train", settings.crop)
    model = TrunkClassifier(trunk_config(settings.depth), train_sampler.num_classes)
    partial = path.with_name(path.name + ".partial.pth")
    path.parent.mkdir(parents=True, exist_ok=True)
    pretrain(model, train_sampler, settings, partial_path=str(partial))
    record = _record(settings)
    record["val_presence"] = presence_accuracy(model, _sampler("val", settings.crop))
    logger.info("Trunk presence accuracy on embedded_shapes_val crops: %s", record["val_presence"])
    write_trunk_file(path, model.trunk, record)
    if partial.exists():
        partial.unlink()
    return path
