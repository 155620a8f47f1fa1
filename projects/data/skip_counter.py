"""Count the images skipped under DATALOADER.BAD_IMAGE_POLICY skip in Detectron2's event storage."""
from typing import Iterable, Iterator, List

from detectron2.utils.events import get_event_storage

from projects.data.dataset_mapper import SKIPPED_KEY

METRIC = "data/bad_images_skipped"


class SkippedImageCounter:
    """Wrap a training data loader (batches = lists of dicts); remove the mapper's "bad_images_skipped"
    entries and write the running total (plus ``skipped_up_front``) as ``data/bad_images_skipped``."""

    def __init__(self, loader: Iterable[List[dict]], skipped_up_front: int = 0):
        self.loader = loader
        self.total = skipped_up_front

    def __iter__(self) -> Iterator[List[dict]]:
        for batch in self.loader:
            for item in batch:
                self.total += len(item.pop(SKIPPED_KEY, ()))
            try:
                get_event_storage().put_scalar(METRIC, self.total, smoothing_hint=False)
            except AssertionError:  # iterated outside a trainer: nothing to record into
                pass
            yield batch
