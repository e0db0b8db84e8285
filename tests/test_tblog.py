"""TensorBoard event files beside curve.csv: the scalars of each step, once per step after
a resume, nothing when switched off."""

from __future__ import annotations

import time

import pytest

from vssl_bench.config import Config
from vssl_bench.tblog import EventLog, available

pytest.importorskip("tensorboard")


def _read(log_dir) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_events_hold_each_step_once_after_a_resume(tmp_path) -> None:
    cfg = Config(tensorboard="on")
    log = EventLog(tmp_path, cfg)
    for step in range(1, 5):
        log.add(step, {"train/loss": 1.0 / step, "train/lr": 0.1})
    log.close()
    # Event files are read in name order, and a name starts with the second it was created
    # in: a resumed run is a later process, so its file sorts after the killed run's.
    time.sleep(1.1)
    # killed after the checkpoint of step 2: the resumed run logs steps 3 and 4 again
    log = EventLog(tmp_path, cfg, resume_step=2)
    for step in (3, 4, 5):
        log.add(step, {"train/loss": 10.0 + step, "train/lr": 0.1})
    log.close()
    got = _read(tmp_path)
    assert [s for s, _ in got["train/loss"]] == [1, 2, 3, 4, 5]
    assert [v for _, v in got["train/loss"]][2:] == pytest.approx([13.0, 14.0, 15.0])


def test_off_writes_nothing(tmp_path) -> None:
    assert available()
    log = EventLog(tmp_path / "tb", Config(tensorboard="off"))
    log.add(1, {"train/loss": 1.0})
    log.close()
    assert not (tmp_path / "tb").exists()


def test_a_training_run_writes_its_curve_as_events(tmp_path, smoke_data_root) -> None:
    """A real (tiny) job: loss, learning rate, clips/s, data-wait share and the own-task
    accuracy, one value per optimiser step, as in curve.csv."""
    import dataclasses

    import torch

    from vssl_bench.data.datasets import build_dataset
    from vssl_bench.methods import METHODS, resolve_params
    from vssl_bench.models import build_backbone
    from vssl_bench.rundir import RunDir
    from vssl_bench.suite import load_suite
    from vssl_bench.train import pretrain

    cfg = dataclasses.replace(
        load_suite("smoke").base,
        method="sort",
        data_root=str(smoke_data_root),
        threads=1,
        tensorboard="on",
        params=resolve_params("sort", {}),
    )
    train, _ = build_dataset(cfg)
    torch.manual_seed(0)
    method = METHODS["sort"](build_backbone(cfg.backbone), METHODS["sort"].Params(), cfg, len(train.classes))
    run_dir = RunDir(tmp_path / "job").make()
    pretrain(method, train, cfg, run_dir, torch.device("cpu"))
    got = _read(run_dir.tensorboard)
    for tag in ("train/loss", "train/lr", "train/clips_per_s", "train/data_wait_share", "train/own_task_acc"):
        assert [s for s, _ in got[tag]] == list(range(1, cfg.steps + 1)), tag
    curve = run_dir.curve.read_text().splitlines()[1:]
    assert [float(r.split(",")[2]) for r in curve] == pytest.approx([v for _, v in got["train/loss"]], rel=1e-5)


def test_a_restart_before_any_checkpoint_starts_the_events_over(tmp_path) -> None:
    cfg = Config(tensorboard="on")
    log = EventLog(tmp_path, cfg)
    for step in (1, 2, 3):  # killed before its first checkpoint
        log.add(step, {"train/loss": float(step)})
    log.close()
    time.sleep(1.1)  # a later process (see above)
    log = EventLog(tmp_path, cfg, resume_step=0)
    for step in (1, 2):
        log.add(step, {"train/loss": 10.0 + step})
    log.close()
    assert _read(tmp_path)["train/loss"] == [(1, 11.0), (2, 12.0)]
