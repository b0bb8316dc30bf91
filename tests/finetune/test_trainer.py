"""The simulated trainer: steps timed by the table, the duty cycle, pause and resume, and
checkpoints that a new trainer resumes from without losing steps. Time is injected."""

from __future__ import annotations

from pathlib import Path

import pytest

from sloserve.finetune import step_costs, trainer

TABLE = step_costs.load_table()
STEP_S = TABLE.step(micro_batch=4, seq_len=512).step_s  # 90.59 ms, measured


def _settings(**overrides: object) -> trainer.TrainerSettings:
    values: dict[str, object] = {"total_steps": 1000, "micro_batch": 4, "seq_len": 512}
    values.update(overrides)
    return trainer.TrainerSettings(**values)  # type: ignore[arg-type]


def test_steps_run_back_to_back_at_the_measured_cost() -> None:
    loop = trainer.SimulatedTrainer(_settings(), TABLE, now_s=0.0)
    assert loop.advance(10 * STEP_S + 1e-9) == 10
    status = loop.status()
    assert status.completed_steps == 10
    assert status.tokens == 10 * 2048
    assert status.tokens_per_s == pytest.approx(10 * 2048 / trainer.RATE_WINDOW_S)


def test_a_quarter_share_runs_a_quarter_of_the_steps() -> None:
    loop = trainer.SimulatedTrainer(_settings(share=0.25), TABLE, now_s=0.0)
    loop.advance(400 * STEP_S)
    assert loop.status().completed_steps == 100


def test_a_lower_share_applies_from_the_next_step() -> None:
    loop = trainer.SimulatedTrainer(_settings(), TABLE, now_s=0.0)
    loop.advance(100 * STEP_S + 1e-9)
    loop.set_share(0.5)
    loop.advance(200 * STEP_S + 1e-9)
    assert loop.status().completed_steps == pytest.approx(150, abs=1)


def test_a_paused_trainer_makes_no_progress_and_resumes() -> None:
    loop = trainer.SimulatedTrainer(_settings(), TABLE, now_s=0.0)
    loop.advance(5 * STEP_S + 1e-9)
    loop.pause(5 * STEP_S + 1e-9)
    loop.advance(1000.0)
    assert loop.status().state is trainer.TrainerState.PAUSED
    assert loop.status().completed_steps == 5
    loop.resume(1000.0)
    loop.advance(1000.0 + 3 * STEP_S + 1e-9)
    assert loop.status().completed_steps == 8


def test_a_new_trainer_resumes_from_the_checkpoint(tmp_path: Path) -> None:
    store = trainer.CheckpointStore(tmp_path)
    first = trainer.SimulatedTrainer(_settings(checkpoint_every=10), TABLE, now_s=0.0, store=store)
    first.advance(37 * STEP_S + 1e-9)
    first.pause(37 * STEP_S + 1e-9)  # a pause checkpoints every completed step
    assert store.load() == trainer.Checkpoint(step=37, tokens=37 * 2048, loss=first.status().loss)
    second = trainer.SimulatedTrainer(_settings(), TABLE, now_s=500.0, store=store)
    assert second.status().completed_steps == 37
    second.advance(500.0 + 3 * STEP_S + 1e-9)
    assert second.status().completed_steps == 40


def test_a_crash_loses_only_the_steps_since_the_last_periodic_checkpoint(tmp_path: Path) -> None:
    store = trainer.CheckpointStore(tmp_path)
    first = trainer.SimulatedTrainer(_settings(checkpoint_every=10), TABLE, now_s=0.0, store=store)
    first.advance(37 * STEP_S + 1e-9)
    resumed = trainer.SimulatedTrainer(_settings(), TABLE, now_s=0.0, store=store)
    assert resumed.status().completed_steps == 30


def test_the_job_ends_at_its_total_steps_checkpointed(tmp_path: Path) -> None:
    store = trainer.CheckpointStore(tmp_path)
    loop = trainer.SimulatedTrainer(_settings(total_steps=7), TABLE, now_s=0.0, store=store)
    loop.advance(100.0)
    assert loop.status().state is trainer.TrainerState.DONE
    checkpoint = store.load()
    assert checkpoint is not None
    assert checkpoint.step == 7


def test_a_bigger_micro_batch_trains_more_tokens_per_second() -> None:
    small = trainer.SimulatedTrainer(_settings(micro_batch=1), TABLE, now_s=0.0)
    large = trainer.SimulatedTrainer(_settings(micro_batch=8), TABLE, now_s=0.0)
    small.advance(5.0)
    large.advance(5.0)
    assert large.status().tokens_per_s > 4 * small.status().tokens_per_s


def test_bad_values_are_refused_with_their_name() -> None:
    with pytest.raises(ValueError, match="share"):
        _settings(share=0.0)
    loop = trainer.SimulatedTrainer(_settings(), TABLE, now_s=0.0)
    with pytest.raises(ValueError, match="micro_batch"):
        loop.set_micro_batch(0)
    with pytest.raises(ValueError, match="backwards"):
        loop.advance(-1.0)
