"""Reading Deployments, pods and nodes as the API server returns them."""

from __future__ import annotations

from sloserve.builders.observed import (
    ERROR_LINE_MAX_CHARS,
    ChildVersion,
    DeploymentState,
    PodState,
    engine_error_line,
    gpu_product_of,
)


def test_deployment_state_reads_counts_and_a_stalled_rollout() -> None:
    body = {
        "metadata": {"generation": 3, "resourceVersion": "77"},
        "spec": {"replicas": 3},
        "status": {
            "observedGeneration": 3,
            "replicas": 4,
            "readyReplicas": 2,
            "updatedReplicas": 1,
            "availableReplicas": 2,
            "conditions": [
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "ProgressDeadlineExceeded",
                    "message": "timed out",
                },
                {"type": "ReplicaFailure", "status": "True", "message": "quota"},
            ],
        },
    }
    state = DeploymentState.from_body(body)
    assert state.version == ChildVersion(resource_version="77", generation=3)
    assert (state.desired, state.replicas, state.ready_replicas) == (3, 4, 2)
    assert (state.updated_replicas, state.available_replicas) == (1, 2)
    assert state.stalled_message == "timed out"
    assert state.replica_failure_message == "quota"
    assert not state.rollout_settled


def test_fresh_deployment_without_status_reads_as_zeros() -> None:
    state = DeploymentState.from_body({"metadata": {"generation": 1}, "spec": {}})
    assert (state.desired, state.replicas, state.ready_replicas, state.observed_generation) == (
        1,
        0,
        0,
        0,
    )
    assert state.stalled_message is None
    assert not state.rollout_settled


def test_settled_deployment_has_every_pod_updated_and_available() -> None:
    body = {
        "metadata": {"generation": 2},
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": 2,
            "replicas": 2,
            "updatedReplicas": 2,
            "availableReplicas": 2,
            "readyReplicas": 2,
        },
    }
    assert DeploymentState.from_body(body).rollout_settled


def test_pod_state_reads_crash_loop_of_the_engine_container() -> None:
    body = {
        "metadata": {"name": "llama-1"},
        "spec": {"nodeName": "node-0"},
        "status": {
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                {
                    "name": "engine",
                    "restartCount": 5,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                    "lastState": {"terminated": {"reason": "Error", "exitCode": 1}},
                }
            ],
        },
    }
    state = PodState.from_body(body)
    assert state.crash_looping
    assert not state.image_pull_failing
    assert (state.name, state.node, state.ready, state.restarts) == ("llama-1", "node-0", False, 5)
    assert state.last_exit == "Error (exit code 1)"


def _crashed_pod(termination_message: str) -> dict[str, object]:
    return {
        "metadata": {"name": "llama-1"},
        "status": {
            "containerStatuses": [
                {
                    "name": "engine",
                    "restartCount": 3,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {
                        "terminated": {
                            "reason": "Error",
                            "exitCode": 2,
                            "message": termination_message,
                        }
                    },
                }
            ]
        },
    }


def test_pod_state_keeps_the_engine_error_line_of_its_termination_message() -> None:
    message = (
        "usage: api_server.py [-h] [--model MODEL]\n"
        "                     [--port PORT]\n"
        "api_server.py: error: unrecognized arguments: --no-such-flag\n"
    )
    state = PodState.from_body(_crashed_pod(message))
    assert state.last_error == "api_server.py: error: unrecognized arguments: --no-such-flag"


def test_engine_error_line_is_the_last_line_naming_an_error_without_colours() -> None:
    log = (
        "\x1b[1;31mERROR\x1b[0m 12-03 [core.py:1] EngineCore failed to start.\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\n'
        "ValueError: max_model_len (9000) is greater than the model's context (2048)\n"
        "\n"
    )
    assert engine_error_line(log) == (
        "ValueError: max_model_len (9000) is greater than the model's context (2048)"
    )


def test_engine_error_line_without_an_error_word_is_the_last_line_and_is_bounded() -> None:
    assert engine_error_line("starting\nKilled\n") == "Killed"
    assert engine_error_line("") is None
    long_line = engine_error_line("error: " + "x" * 1000)
    assert long_line is not None
    assert len(long_line) == ERROR_LINE_MAX_CHARS
    assert long_line.endswith("…")


def test_pod_state_without_a_termination_message_has_no_error_line() -> None:
    state = PodState.from_body(_crashed_pod(""))
    assert state.last_error is None


def _restarting_pod(*, restarts: int, exit_code: int) -> dict[str, object]:
    """An engine container that is starting again (not waiting in back-off) after exits."""
    return {
        "metadata": {"name": "llama-1"},
        "spec": {"nodeName": "node-0"},
        "status": {
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                {
                    "name": "engine",
                    "restartCount": restarts,
                    "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                    "lastState": {"terminated": {"reason": "Error", "exitCode": exit_code}},
                }
            ],
        },
    }


def test_repeated_failed_exits_count_as_a_crash_loop_between_back_offs() -> None:
    assert PodState.from_body(_restarting_pod(restarts=3, exit_code=1)).crash_looping


def test_few_or_clean_restarts_are_not_a_crash_loop() -> None:
    assert not PodState.from_body(_restarting_pod(restarts=2, exit_code=1)).crash_looping
    assert not PodState.from_body(_restarting_pod(restarts=5, exit_code=0)).crash_looping


def test_pending_pod_reads_the_scheduler_message() -> None:
    body = {
        "metadata": {"name": "llama-2", "deletionTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {},
        "status": {
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/2 nodes are available",
                }
            ]
        },
    }
    state = PodState.from_body(body)
    assert state.node is None
    assert state.unschedulable_message == "0/2 nodes are available"
    assert state.terminating


def test_image_pull_errors_are_recognized() -> None:
    body = {
        "metadata": {"name": "p"},
        "status": {
            "containerStatuses": [
                {"name": "engine", "state": {"waiting": {"reason": "ErrImagePull"}}}
            ]
        },
    }
    assert PodState.from_body(body).image_pull_failing


def test_generation_decides_change_where_there_is_one() -> None:
    status_update = ChildVersion(resource_version="2", generation=1)
    assert not status_update.differs_from(ChildVersion(resource_version="1", generation=1))
    assert ChildVersion(resource_version="3", generation=2).differs_from(status_update)
    without = ChildVersion(resource_version="5", generation=None)
    assert without.differs_from(ChildVersion(resource_version="4", generation=None))


def test_gpu_product_comes_from_the_node_label() -> None:
    labelled = {"metadata": {"labels": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}}}
    assert gpu_product_of(labelled) == "NVIDIA-H100-80GB-HBM3"
    assert gpu_product_of({"metadata": {}}) is None


def _crashed_with(message: str, *, where: str = "lastState") -> dict[str, object]:
    body = _restarting_pod(restarts=4, exit_code=2)
    (container,) = body["status"]["containerStatuses"]  # type: ignore[index]
    container[where] = {"terminated": {"reason": "Error", "exitCode": 2, "message": message}}
    return body


def test_the_last_line_the_engine_wrote_is_kept() -> None:
    log_tail = (
        "usage: vllm serve [model_tag] [options]\n"
        "vllm serve: error: unrecognized arguments: --max-num-seq=64\n\n"
    )
    state = PodState.from_body(_crashed_with(log_tail))
    assert state.last_error == "vllm serve: error: unrecognized arguments: --max-num-seq=64"


def test_an_ended_container_not_yet_restarted_is_read_from_its_state() -> None:
    state = PodState.from_body(_crashed_with("RuntimeError: CUDA out of memory", where="state"))
    assert state.last_error == "RuntimeError: CUDA out of memory"
    assert state.last_exit == "Error (exit code 2)"


def test_a_very_long_last_line_is_cut() -> None:
    state = PodState.from_body(_crashed_with("x" * 5000))
    assert state.last_error is not None
    assert len(state.last_error) == ERROR_LINE_MAX_CHARS
    assert state.last_error.endswith("…")


def test_no_termination_message_means_no_last_error() -> None:
    assert PodState.from_body(_restarting_pod(restarts=3, exit_code=1)).last_error is None
