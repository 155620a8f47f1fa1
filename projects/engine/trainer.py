"""Detectron2 training/evaluation glue shared by every DETR-family method.

``Trainer`` is a DefaultTrainer with the DETR dataset mapper, the official optimizer groups and
full-model clipping, COCOEvaluator, up-front checks of the config against the datasets and of
every image, a training data stream that ``--resume`` continues exactly (batches, augmentation
and dropout are functions of the run seed and the iteration), a checkpoint written when
training is interrupted, safe and atomic checkpoint files (``DetrCheckpointer``), a stop at the
first non-finite prediction or loss on any rank or at a lasting divergence of the loss, DistributedDataParallel on CPU too (gloo), mixed precision
(SOLVER.AMP: float16/bfloat16 on GPU, bfloat16 on CPU; ``projects.engine.amp``), an optional moving average
of the weights (MODEL_EMA; ``projects.engine.ema``), and ``OUTPUT_DIR/training_curves.png`` (losses and AP)
refreshed during and after training.

It is built by ``DefaultTrainer.__init__`` itself, customised through its overridable parts:
``build_model`` (+ the finite checks), ``build_optimizer``, ``build_train_loader`` (the resumable
stream, seeded by the run seed that ``__init__`` resolves into the config first), ``build_hooks``.
Three parts DefaultTrainer builds have no ``build_*`` method; why each is done as it is:

- the step trainer: DefaultTrainer picks Detectron2's ``AMPTrainer`` (CUDA only) when SOLVER.AMP is
  on; it is replaced by ``DetrAMPTrainer`` over the same model, loader and optimizer before any hook
  is built (hooks reach the step trainer through the trainer, never hold it);
- the checkpointer: DefaultTrainer makes a plain ``DetectionCheckpointer`` and its ``build_hooks``
  hands ``self.checkpointer`` to the PeriodicCheckpointer, so the ``DetrCheckpointer`` (with the
  ``model_ema`` checkpointable) is put in place when ``build_hooks`` starts;
- the DistributedDataParallel wrapper: DefaultTrainer calls the module function
  ``create_ddp_model(model, broadcast_buffers=False)``, which passes ``device_ids=[local rank]``,
  and DistributedDataParallel refuses device ids for a CPU model (gloo). While ``__init__`` runs,
  that function is swapped for one that passes ``device_ids=None`` for a CPU model
  (``cpu_capable_ddp``); nothing else of Detectron2 is patched.
"""
import contextlib
import logging
import os
import warnings
import weakref
from typing import Tuple

from torch.nn.parallel import DistributedDataParallel

from detectron2.data import (DatasetCatalog, MetadataCatalog, build_detection_test_loader, build_detection_train_loader,
                             get_detection_dataset_dicts)
from detectron2.engine import DefaultTrainer
from detectron2.engine import defaults as d2_defaults
from detectron2.evaluation import COCOEvaluator

from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from projects.engine.amp import build_amp_trainer
from projects.checkpoint.checkpointer import DetrCheckpointer
from projects.data import DetrDatasetMapper, check_dataset_paths
from projects.data.image_checks import apply_bad_image_policy
from projects.data.resumable_loader import ResumableTrainingStream, build_resumable_train_loader, train_stream_from_config
from projects.data.skip_counter import SkippedImageCounter
from projects.registry import registered_methods
from projects.utils.determinism import StepSeed, run_seed
from projects.utils.errors import ConfigError, DataError
from projects.engine.ema import EMAHook, build_model_ema, evaluate_with_ema
from projects.engine.divergence import DivergenceMonitor
from projects.engine.finite_checks import install_finite_checks
from projects.engine.interrupt import StepBoundaryInterrupt, StopAfterStep
from projects.engine.curves import TrainingCurvesHook
from projects.engine.solver import build_detr_optimizer

logger = logging.getLogger(__name__)

# Top-level packages of the core whose loggers (``logging.getLogger(__name__)``) belong to this project;
# each registered method adds its package's (``project_logger_names``).
CORE_LOGGER_NAMES = ("projects", "ops")


def project_logger_names() -> Tuple[str, ...]:
    """CORE_LOGGER_NAMES + the logger of every registered method's package not already under one of them."""
    names = list(CORE_LOGGER_NAMES)
    for method in registered_methods().values():
        if not any(method.logger_name == name or method.logger_name.startswith(name + ".") for name in names):
            names.append(method.logger_name)
    return tuple(names)


def setup_project_loggers(output_dir, distributed_rank=None):
    """Send the project's log lines to stdout (rank 0) and ``output_dir/log.txt`` like Detectron2's.

    Detectron2's ``default_setup`` configures only the "detectron2" and "fvcore" loggers; this does
    the same for every name of ``project_logger_names()`` (rank r > 0 writes ``log.txt.rank<r>``).
    Call it once per process, after ``default_setup``.
    """
    rank = comm.get_rank() if distributed_rank is None else distributed_rank
    for name in project_logger_names():
        setup_logger(output_dir or None, distributed_rank=rank, name=name)


def dataset_num_classes(dataset_name):
    """Number of thing classes of a registered dataset (loads it if the metadata is not set yet)."""
    metadata = MetadataCatalog.get(dataset_name)
    if not hasattr(metadata, "thing_classes"):
        DatasetCatalog.get(dataset_name)  # COCO-json datasets set thing_classes while loading
    return len(MetadataCatalog.get(dataset_name).thing_classes)


def check_config_against_datasets(cfg, dataset_names=None):
    """Fail early when a dataset is not registered or its files are missing (DataError), or when
    MODEL.DETR.NUM_CLASSES does not fit a dataset (ConfigError).

    ``dataset_names`` defaults to DATASETS.TRAIN + DATASETS.TEST; evaluation and inference tools
    pass the datasets they read (e.g. ``cfg.DATASETS.TEST`` for ``--eval-only``).
    """
    names = list(cfg.DATASETS.TRAIN) + list(cfg.DATASETS.TEST) if dataset_names is None else list(dataset_names)
    try:
        check_dataset_paths(names)
    except (KeyError, FileNotFoundError) as error:
        raise DataError(error.args[0] if error.args else str(error)) from error
    for name in names:
        found = dataset_num_classes(name)
        if found != cfg.MODEL.DETR.NUM_CLASSES:
            raise ConfigError(
                f"MODEL.DETR.NUM_CLASSES is {cfg.MODEL.DETR.NUM_CLASSES} but dataset '{name}' has {found} "
                f"categories; set MODEL.DETR.NUM_CLASSES {found}"
            )


def checked_records(cfg, records, label):
    """``records`` after the image check of DATALOADER.IMAGE_CHECK under DATALOADER.BAD_IMAGE_POLICY
    (datasets given as torch Datasets instead of lists of dicts are not checked)."""
    if not isinstance(records, list):
        return records
    return apply_bad_image_policy(records, label, cfg.DATALOADER.IMAGE_CHECK, cfg.DATALOADER.BAD_IMAGE_POLICY)


def with_run_seed(cfg):
    """A copy of ``cfg`` whose SEED is the run seed (``run_seed``: SEED itself if >= 0, else one random
    seed shared by all processes), so that every builder reads the same one."""
    frozen, cfg = cfg.is_frozen(), cfg.clone()
    cfg.defrost()
    cfg.SEED = run_seed(cfg.SEED)
    if frozen:
        cfg.freeze()
    return cfg


@contextlib.contextmanager
def cpu_capable_ddp():
    """Inside the block, Detectron2's ``create_ddp_model`` (as DefaultTrainer calls it) wraps a CPU
    model with ``device_ids=None``, the only value DistributedDataParallel accepts for one (gloo)."""
    create_ddp_model = d2_defaults.create_ddp_model

    def wrap(model, **kwargs):
        if next(model.parameters()).device.type == "cpu":
            kwargs["device_ids"] = None
        return create_ddp_model(model, **kwargs)

    d2_defaults.create_ddp_model = wrap
    try:
        yield
    finally:
        d2_defaults.create_ddp_model = create_ddp_model


@contextlib.contextmanager
def quiet_discarded_amp_trainer():
    """Silence the GradScaler warnings of the Detectron2 AMPTrainer that DefaultTrainer builds with
    SOLVER.AMP on ("deprecated", "CUDA is not available"): the Trainer replaces it before use."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.cuda\.amp\.GradScaler")
        yield


class Trainer(DefaultTrainer):
    """DefaultTrainer for DETR-family models (see module docstring)."""

    def __init__(self, cfg):
        """Checks ``cfg`` against its datasets, resolves the run seed (saved in checkpoints: a resumed
        run continues the same streams), then Detectron2's DefaultTrainer construction."""
        check_config_against_datasets(cfg)
        cfg = with_run_seed(cfg)
        self.seed = cfg.SEED
        with cpu_capable_ddp(), quiet_discarded_amp_trainer():
            super().__init__(cfg)

    def _install_detr_parts(self):
        """The parts DefaultTrainer builds without a ``build_*`` method (module docstring): the
        mixed-precision step, the moving average and the checkpointer that saves it."""
        cfg = self.cfg
        if cfg.SOLVER.AMP.ENABLED:
            self._trainer = build_amp_trainer(cfg, self.model, self.data_loader, self.optimizer)
        self.model_ema = build_model_ema(cfg, self.model_without_ddp)  # None unless MODEL_EMA.ENABLED
        extra = {} if self.model_ema is None else {"model_ema": self.model_ema}
        self.checkpointer = DetrCheckpointer.from_config(cfg, self.model, trainer=weakref.proxy(self), **extra)
        self._train_stream = getattr(getattr(self.data_loader, "loader", None), "dataset", None)

    @property
    def model_without_ddp(self):
        """The trained model itself (unwrapped from DistributedDataParallel)."""
        model = self._trainer.model
        return model.module if isinstance(model, DistributedDataParallel) else model

    def resume_or_load(self, resume=True):
        """Detectron2's resume, then the data stream starts at the resumed iteration with the run's seed."""
        super().resume_or_load(resume=resume)
        if isinstance(self._train_stream, ResumableTrainingStream):
            self._train_stream.seed, self._train_stream.start_iter = self.seed, self.start_iter

    def state_dict(self):
        return {**super().state_dict(), "seed": self.seed}

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self.seed = int(state_dict.get("seed", self.seed))  # checkpoints of older versions lack it

    def build_hooks(self):
        """DefaultTrainer.__init__ calls this last, when the model, optimizer, loader, step trainer
        and scheduler exist: the DETR parts the hooks use are installed first."""
        self._install_detr_parts()
        hooks = [StepSeed()] + super().build_hooks()
        if self.model_ema is not None:  # updated before the checkpointer and the evaluation see the step
            if self.cfg.MODEL_EMA.USE_FOR_EVAL:
                evaluate_with_ema(hooks, self.model_ema)
            hooks.insert(1, EMAHook(self.model_ema))
        if comm.is_main_process():  # after the writers, so the plot sees the latest metrics
            hooks.append(TrainingCurvesHook(self.cfg.OUTPUT_DIR, self.cfg.TEST.EVAL_PERIOD or 1000))
        return hooks + [StopAfterStep()]  # last: a Ctrl-C stops after every hook of the step

    @classmethod
    def build_model(cls, cfg):
        """Detectron2's model (logged), stopping training at the first non-finite prediction or loss
        (``projects.engine.finite_checks``, on every rank at once) or a lasting divergence of the loss
        (SOLVER.DIVERGENCE, ``projects.engine.divergence``); the checks do nothing in eval mode."""
        model = super().build_model(cfg)
        install_finite_checks(model, DivergenceMonitor.from_config(cfg))
        return model

    @classmethod
    def build_optimizer(cls, cfg, model):
        return build_detr_optimizer(cfg, model)

    @classmethod
    def build_train_loader(cls, cfg):
        """The training loader over the checked images (DATALOADER.IMAGE_CHECK / BAD_IMAGE_POLICY):
        a ``ResumableTrainingStream`` (batches a function of (run seed, iteration, rank); the run seed
        of ``run_seed(cfg.SEED)``) for the TrainingSampler, Detectron2's loader for other samplers."""
        records = get_detection_dataset_dicts(cfg.DATASETS.TRAIN, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS)
        checked = checked_records(cfg, records, f"DATASETS.TRAIN {tuple(cfg.DATASETS.TRAIN)}")
        mapper = DetrDatasetMapper(cfg, is_train=True)
        seed = run_seed(cfg.SEED)
        stream = train_stream_from_config(cfg, checked, mapper, seed, comm.get_rank(), comm.get_world_size())
        if stream is None:
            loader = build_detection_train_loader(cfg, dataset=checked, mapper=mapper)
        else:
            loader = build_resumable_train_loader(stream, cfg.DATALOADER.NUM_WORKERS)
        return SkippedImageCounter(loader, skipped_up_front=len(records) - len(checked))

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        """The evaluation loader over the checked images, TEST.IMS_PER_BATCH images per batch."""
        records = checked_records(cfg, get_detection_dataset_dicts([dataset_name], filter_empty=False),
                                  f"test set '{dataset_name}'")
        return build_detection_test_loader(records, mapper=DetrDatasetMapper(cfg, is_train=False),
                                           batch_size=cfg.TEST.IMS_PER_BATCH,
                                           num_workers=cfg.DATALOADER.NUM_WORKERS)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        return COCOEvaluator(dataset_name, output_dir=output_folder)

    def train(self):
        try:
            return super().train()
        except KeyboardInterrupt as interrupt:
            # keep the progress: --resume continues after the last completed iteration. After a
            # StepBoundaryInterrupt (Ctrl-C) that is ``self.iter``; an interrupt inside a step
            # leaves that step to be redone. The trainer's own state (a checkpointable) records
            # ``self.iter`` as the last completed one.
            if not isinstance(interrupt, StepBoundaryInterrupt):
                self.iter -= 1
            logger.warning("Training interrupted after iteration %d; saving model_interrupted.pth", self.iter)
            self.checkpointer.save("model_interrupted", iteration=self.iter)
            raise
