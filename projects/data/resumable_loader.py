"""A training data loader whose batch at iteration i depends only on (run seed, i, rank).

Detectron2's TrainingSampler draws from a generator that lives in memory, so after ``--resume``
the data stream restarts from its beginning. Here the stream is a function of positions:

- sample position p (0, 1, 2, ... over the whole run, all processes) -> dataset index
  ``permutation(seed, epoch = p // N)[p % N]`` (a fresh shuffle per epoch, as TrainingSampler);
- global batch i holds positions [i * B, (i + 1) * B); process r takes its contiguous share of
  B / world_size (so 1 process x batch B and k processes x B / k see the same samples);
- each sample is mapped with the global random generators seeded from (seed, p): augmentation
  is the same whichever worker or process maps it;
- with DATALOADER.ASPECT_RATIO_GROUPING, each process groups its share of the stream into
  landscape / portrait batches as Detectron2 does; on resume the grouping is replayed from the
  start over the indices only (no image is read), which is cheap.

Starting at iteration ``start_iter`` therefore yields exactly the batches an uninterrupted run
yields from there on, with any number of workers (each worker maps every W-th batch; the torch
DataLoader returns them in round-robin order).
"""
import logging
from typing import Callable, Iterator, List, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from detectron2.data.common import DatasetFromList

from projects.utils.determinism import derive_seed, seeded_global_rngs

logger = logging.getLogger(__name__)

MAX_SUBSTITUTES = 100  # replacement draws for samples the mapper rejects (returns None)


def _identity(batch):
    return batch


class PositionStream:
    """Sample position -> dataset index, a fresh seeded permutation of ``size`` indices per epoch."""

    def __init__(self, size: int, seed: int, shuffle: bool = True):
        self.size, self.seed, self.shuffle = size, seed, shuffle
        self._epoch, self._order = None, None

    def index(self, position: int) -> int:
        epoch, offset = divmod(position, self.size)
        if not self.shuffle:
            return offset
        if epoch != self._epoch:
            self._epoch = epoch
            self._order = np.random.default_rng(derive_seed(self.seed, epoch)).permutation(self.size)
        return int(self._order[offset])


class ResumableTrainingStream(IterableDataset):
    """Per-process training batches (lists of mapped dicts) starting at iteration ``start_iter``."""

    def __init__(self, records: List[dict], mapper: Callable, *, total_batch_size: int, seed: int,
                 rank: int = 0, world_size: int = 1, aspect_ratio_grouping: bool = False,
                 shuffle: bool = True, start_iter: int = 0):
        if total_batch_size % world_size:
            raise ValueError(f"SOLVER.IMS_PER_BATCH ({total_batch_size}) must be divisible by the number "
                             f"of processes ({world_size})")
        self.dataset = DatasetFromList(records, copy=False)
        self.landscape = np.array([r.get("width", 1) > r.get("height", 0) for r in records], dtype=bool)
        self.mapper = mapper
        self.total_batch_size, self.batch_size = total_batch_size, total_batch_size // world_size
        self.rank, self.world_size = rank, world_size
        self.aspect_ratio_grouping, self.shuffle = aspect_ratio_grouping, shuffle
        self.seed, self.start_iter = seed, start_iter

    def batch_positions(self) -> Iterator[List[int]]:
        """Positions of this process's batches, from iteration ``start_iter`` on (infinite)."""
        if self.aspect_ratio_grouping:
            yield from self._grouped_positions()
            return
        iteration = self.start_iter
        while True:
            first = iteration * self.total_batch_size + self.rank * self.batch_size
            yield list(range(first, first + self.batch_size))
            iteration += 1

    def _grouped_positions(self) -> Iterator[List[int]]:
        """This process's positions (rank, rank + world, ...) grouped by orientation into batches,
        replayed from position 0; the first ``start_iter`` batches are dropped."""
        stream = PositionStream(len(self.dataset), self.seed, self.shuffle)
        buckets, emitted, position = ([], []), 0, self.rank
        while True:
            bucket = buckets[int(self.landscape[stream.index(position)])]
            bucket.append(position)
            position += self.world_size
            if len(bucket) == self.batch_size:
                if emitted >= self.start_iter:
                    yield list(bucket)
                emitted += 1
                bucket.clear()

    def map_position(self, position: int, stream: PositionStream) -> dict:
        """The mapped sample at ``position``; a rejected sample is replaced by a seeded random one."""
        index = stream.index(position)
        for attempt in range(MAX_SUBSTITUTES):
            if attempt:
                substitute = np.random.default_rng(derive_seed(self.seed, position, attempt))
                index = int(substitute.integers(len(self.dataset)))
            with seeded_global_rngs(derive_seed(self.seed, position, attempt)):
                item = self.mapper(self.dataset[index])
            if item is not None:
                return item
        raise RuntimeError(f"The mapper rejected {MAX_SUBSTITUTES} images in a row (position {position})")

    def __iter__(self) -> Iterator[List[dict]]:
        worker = get_worker_info()
        worker_id, num_workers = (worker.id, worker.num_workers) if worker is not None else (0, 1)
        stream = PositionStream(len(self.dataset), self.seed, self.shuffle)
        for number, positions in enumerate(self.batch_positions()):
            if number % num_workers == worker_id:
                yield [self.map_position(p, stream) for p in positions]


def build_resumable_train_loader(stream: ResumableTrainingStream, num_workers: int) -> DataLoader:
    """A DataLoader over ``stream``'s ready-made batches (Detectron2's list-of-dicts batches).

    It gets its own generator: creating an iterator draws a base seed, which must not come from
    torch's global generator (that would shift the model's dropout after a resume).
    """
    return DataLoader(stream, batch_size=None, num_workers=num_workers, collate_fn=_identity,
                      pin_memory=False, persistent_workers=False, generator=torch.Generator())


def train_stream_from_config(cfg, records: List[dict], mapper: Callable, seed: int, rank: int,
                             world_size: int) -> Optional[ResumableTrainingStream]:
    """The stream for DATALOADER.SAMPLER_TRAIN "TrainingSampler"; None for other samplers."""
    if cfg.DATALOADER.SAMPLER_TRAIN != "TrainingSampler":
        logger.warning("DATALOADER.SAMPLER_TRAIN %s: using Detectron2's loader; --resume will not "
                       "continue its data stream exactly", cfg.DATALOADER.SAMPLER_TRAIN)
        return None
    return ResumableTrainingStream(
        records, mapper, total_batch_size=cfg.SOLVER.IMS_PER_BATCH, seed=seed, rank=rank,
        world_size=world_size, aspect_ratio_grouping=cfg.DATALOADER.ASPECT_RATIO_GROUPING,
    )
