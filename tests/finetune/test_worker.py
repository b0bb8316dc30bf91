"""The worker's control endpoint and metrics around the simulated trainer, on a manual clock
(the driver thread is not started: the test advances time and the trainer itself)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sloserve.finetune import step_costs, trainer, worker

TABLE = step_costs.load_table()
STEP_S = TABLE.step(micro_batch=4, seq_len=512).step_s


class _Clock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


@pytest.fixture
def client(clock: _Clock, tmp_path: Path) -> TestClient:
    settings = trainer.TrainerSettings(
        total_steps=1000, micro_batch=4, seq_len=512, checkpoint_every=10
    )
    loop = trainer.SimulatedTrainer(
        settings, TABLE, now_s=0.0, store=trainer.CheckpointStore(tmp_path)
    )
    return TestClient(worker.build_app(worker.Driver(loop, clock=clock), job="adapter-a"))


def test_status_reports_the_steps_done_by_now(client: TestClient, clock: _Clock) -> None:
    clock.now_s = 20 * STEP_S + 1e-9
    status = client.get("/status").json()
    assert status["completedSteps"] == 20
    assert status["checkpointStep"] == 20
    assert status["state"] == "running"


def test_pause_checkpoints_and_stops_then_resume_continues(
    client: TestClient, clock: _Clock
) -> None:
    clock.now_s = 13 * STEP_S + 1e-9
    paused = client.post("/control", json={"paused": True}).json()
    assert (paused["state"], paused["checkpointStep"]) == ("paused", 13)
    clock.now_s += 100.0
    assert client.get("/status").json()["completedSteps"] == 13
    client.post("/control", json={"paused": False})
    clock.now_s += 2 * STEP_S + 1e-9
    assert client.get("/status").json()["completedSteps"] == 15


def test_a_zero_share_pauses_and_a_later_share_resumes(client: TestClient, clock: _Clock) -> None:
    assert client.post("/control", json={"share": 0}).json()["state"] == "paused"
    resumed = client.post("/control", json={"share": 0.25}).json()
    assert (resumed["state"], resumed["share"]) == ("running", 0.25)
    clock.now_s = 40 * STEP_S
    assert client.get("/status").json()["completedSteps"] == 10


def test_micro_batch_changes_from_the_next_step(client: TestClient, clock: _Clock) -> None:
    assert client.post("/control", json={"microBatch": 8}).json()["microBatch"] == 8
    clock.now_s = 10.0
    status = client.get("/status").json()
    assert status["tokens"] == status["completedSteps"] * 8 * 512


def test_a_bad_value_is_refused_naming_the_field(client: TestClient) -> None:
    response = client.post("/control", json={"share": 1.5})
    assert response.status_code == 422
    assert "share" in response.text
    assert client.post("/control", json={"microBatch": 0}).status_code == 422


def test_metrics_expose_progress_and_throttle(client: TestClient, clock: _Clock) -> None:
    client.post("/control", json={"share": 0.5})
    clock.now_s = 5.0
    text = client.get("/metrics").text
    assert 'sloserve_finetune_share{job="adapter-a"} 0.5' in text
    assert 'sloserve_finetune_paused{job="adapter-a"} 0.0' in text
    assert "sloserve_finetune_tokens_per_second" in text
    assert "sloserve_finetune_loss" in text


def test_a_worker_started_paused_runs_once_the_throttle_gives_it_a_share(
    clock: _Clock, tmp_path: Path
) -> None:
    settings = trainer.TrainerSettings(total_steps=1000, micro_batch=4, seq_len=512)
    loop = trainer.SimulatedTrainer(settings, TABLE, now_s=0.0)
    loop.pause(0.0)
    client = TestClient(worker.build_app(worker.Driver(loop, clock=clock), job="a"))
    assert client.post("/control", json={"share": 0.5}).json()["state"] == "running"
    assert client.post("/control", json={"share": 0.5, "paused": True}).json()["state"] == "paused"
