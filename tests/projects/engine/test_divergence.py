"""A finite loss far above its running median is logged as divergence with its iteration, and stops
training with one line if it lasts; SOLVER.DIVERGENCE.ENABLED False turns the check off (issue 24, item 4)."""
import logging

import pytest

from detectron2.utils.events import get_event_storage

from projects.config import default_config
from projects.engine.divergence import DivergenceMonitor
from projects.engine.trainer import Trainer
from projects.utils.errors import ConfigError, TrainingDivergedError
from tests.harness.fast_config import fast_cfg


def _monitor(factor=10.0, window=4, warmup=3, patience=3):
    return DivergenceMonitor(factor=factor, window=window, warmup=warmup, patience=patience)


def test_defaults_are_stated_and_on():
    settings = default_config().SOLVER.DIVERGENCE
    assert (settings.ENABLED, settings.FACTOR, settings.WINDOW, settings.WARMUP, settings.PATIENCE) == (
        True, 10.0, 20, 10, 20)


def test_jump_is_logged_then_stops_when_it_lasts(caplog):
    monitor = _monitor()
    for iteration, loss in enumerate([30.0, 20.0, 25.0, 22.0, 230.0]):  # reference: median 25, then 23.5
        monitor.update(loss, iteration)  # 230 < 10 x 23.5: healthy
    with caplog.at_level(logging.WARNING, logger="projects.engine.divergence"):
        monitor.update(300.0, 5)
    assert "Divergence at iteration 5: total loss 300 > 10 x its running median 23.5" in caplog.text
    monitor.update(300.0, 6)  # the diverged losses do not raise the reference (its lowest value)
    with pytest.raises(TrainingDivergedError, match=r"^Training diverged at iteration 7: the total loss \(400\) "
                                                    r"stayed above 10 x its running median \(23\.5\) for 3 "
                                                    r"iterations since iteration 5; .*ENABLED False"):
        monitor.update(400.0, 7)


def test_one_healthy_loss_resets_the_count():
    monitor = _monitor()
    for iteration, loss in enumerate([20.0, 20.0, 20.0, 500.0, 500.0, 30.0, 500.0, 500.0]):
        monitor.update(loss, iteration)  # never 3 diverged iterations in a row
    assert monitor.streak == [6, 7]


def test_slow_climb_is_caught():
    """x1.5 per iteration: the window's median follows it, its lowest value does not."""
    monitor = _monitor(window=4, warmup=4, patience=2)
    losses = [10.0 * 1.5 ** i for i in range(20)]
    with pytest.raises(TrainingDivergedError) as raised:
        for iteration, loss in enumerate(losses):
            monitor.update(loss, iteration)
    # reference: median of the first 4 = 10 x (1.5 + 2.25) / 2 = 18.75; first loss above 187.5 is 10 x 1.5^8
    assert "since iteration 8" in str(raised.value) and "iteration 9:" in str(raised.value)


def test_switch_and_bad_settings():
    cfg = default_config()
    cfg.SOLVER.DIVERGENCE.ENABLED = False
    assert DivergenceMonitor.from_config(cfg) is None
    with pytest.raises(ConfigError, match="SOLVER.DIVERGENCE needs FACTOR > 1"):
        _monitor(factor=1.0)


def _scale_losses_from(trainer, monkeypatch, first_iteration, factor):
    criterion = trainer.model_without_ddp.criterion
    weighted = criterion.weighted_losses

    def exploding(loss_dict):
        losses = weighted(loss_dict)
        if get_event_storage().iter >= first_iteration:
            losses = {k: v * factor for k, v in losses.items()}
        return losses

    monkeypatch.setattr(criterion, "weighted_losses", exploding)


DIVERGENCE = ["SOLVER.DIVERGENCE.WINDOW", 3, "SOLVER.DIVERGENCE.WARMUP", 3, "SOLVER.DIVERGENCE.PATIENCE", 2]


@pytest.mark.parametrize("enabled", [True, False])
def test_training_stops_on_a_huge_finite_loss_unless_switched_off(tmp_path, monkeypatch, enabled):
    cfg = fast_cfg(tmp_path, ["SOLVER.MAX_ITER", 7, "SOLVER.DIVERGENCE.ENABLED", enabled, *DIVERGENCE])
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    _scale_losses_from(trainer, monkeypatch, first_iteration=4, factor=1e8)  # as LR x 1e4 did: 1e9 and finite
    if not enabled:
        trainer.train()
        assert trainer.storage.history("total_loss").latest() > 1e8  # ran to the end, diverged
        return
    with pytest.raises(TrainingDivergedError, match=r"^Training diverged at iteration 5: .* for 2 iterations "
                                                    r"since iteration 4"):
        trainer.train()
