"""Test helper: run with the embedded dataset's names free, restoring any registration afterwards."""
import contextlib

from detectron2.data import DatasetCatalog, MetadataCatalog

from projects.data import EMBEDDED_DATASET_NAMES


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
