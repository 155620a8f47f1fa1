"""Test helpers for the embedded dataset: a small copy and its registration under the usual names."""
import contextlib

from detectron2.data import DatasetCatalog, MetadataCatalog

from projects.data import EMBEDDED_DATASET_NAMES, register_embedded_dataset

SMALL_NUM_TRAIN = 12  # train image 7 has no objects (embedded dataset rule: index % 40 == 7)
SMALL_NUM_VAL = 4
EMPTY_INDEX = 7


@contextlib.contextmanager
def hidden_embedded_registration():
    """Unregister embedded_shapes_{train,val} for the block; yields their names; restores them after."""
    names = list(EMBEDDED_DATASET_NAMES.values())
    saved = {name: (DatasetCatalog.pop(name, None), MetadataCatalog.pop(name, None)) for name in names}
    try:
        yield names
    finally:
        for name, (loader, metadata) in saved.items():
            DatasetCatalog.pop(name, None)
            MetadataCatalog.pop(name, None)
            if loader is not None:
                DatasetCatalog[name] = loader
            if metadata is not None:
                MetadataCatalog[name] = metadata


@contextlib.contextmanager
def small_embedded_registration(root):
    """The small copy at ``root`` registered as embedded_shapes_{train,val} for the block, the
    registration in place before (if any) restored after."""
    with hidden_embedded_registration() as names:
        register_embedded_dataset(root, num_train=SMALL_NUM_TRAIN, num_val=SMALL_NUM_VAL)
        yield names

