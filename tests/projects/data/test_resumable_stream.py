"""The training stream's batch at iteration i is a function of (seed, i, rank) only (issue 10, item 4)."""
import itertools

import numpy as np
import pytest

from projects.data.resumable_loader import ResumableTrainingStream, build_resumable_train_loader

RECORDS = [{"image_id": i, "width": 100 + 50 * (i % 3 == 0), "height": 100} for i in range(11)]


class DrawingMapper:
    """Returns the record's id and one draw of numpy's global generator (the augmentation's source);
    rejects the ids in ``reject`` (as the mapper does for unreadable images under policy skip)."""

    def __init__(self, reject=()):
        self.reject = set(reject)

    def __call__(self, record):
        if record["image_id"] in self.reject:
            return None
        return {"image_id": record["image_id"], "draw": int(np.random.randint(1 << 30))}


def _batches(count, start_iter=0, grouping=False, rank=0, world=1, mapper=None, workers=0, total=4):
    stream = ResumableTrainingStream(RECORDS, mapper or DrawingMapper(), total_batch_size=total, seed=5,
                                     rank=rank, world_size=world, aspect_ratio_grouping=grouping,
                                     start_iter=start_iter)
    return list(itertools.islice(build_resumable_train_loader(stream, workers), count))


@pytest.mark.parametrize("grouping", [False, True])
def test_starting_later_gives_the_tail_of_the_stream(grouping):
    full = _batches(9, grouping=grouping)  # more than two epochs of 11 images
    assert _batches(4, start_iter=5, grouping=grouping) == full[5:]


def test_a_worker_maps_exactly_what_the_main_process_maps():
    assert _batches(5, workers=2) == _batches(5)


def test_processes_share_each_global_batch():
    single = _batches(4)
    shares = [_batches(4, rank=r, world=2) for r in (0, 1)]
    assert [a + b for a, b in zip(*shares)] == single


def test_rejected_samples_get_the_same_substitute_every_time():
    batches = _batches(6, mapper=DrawingMapper(reject={3}))
    ids = [item["image_id"] for batch in batches for item in batch]
    assert 3 not in ids and len(ids) == 24
    assert _batches(6, mapper=DrawingMapper(reject={3})) == batches
    assert _batches(3, start_iter=3, mapper=DrawingMapper(reject={3})) == batches[3:]


def test_each_epoch_is_a_permutation():
    ids = [item["image_id"] for batch in _batches(11, total=2) for item in batch]
    assert sorted(ids[:11]) == list(range(11)) and sorted(ids[11:22]) == list(range(11))
    assert ids[:11] != ids[11:22]  # reshuffled
