"""Ready, Progressing and Degraded, with reasons, from what the operator observes."""

from __future__ import annotations

import datetime

from status_fixtures import H100, NOW, deployment, observation, pod

from sloserve.api.status import ConditionStatus, ModelServiceStatus
from sloserve.builders.observed import PodState
from sloserve.builders.status import (
    Observation,
    Reason,
    ReconcileFailure,
    Targets,
    build_status,
    status_patch,
)

TWO_H100 = Targets(replicas=2, gpu_product=H100)


def _status(seen: Observation, targets: Targets = TWO_H100) -> ModelServiceStatus:
    return build_status(name="llama", targets=targets, observation=seen, now=NOW)


def _verdict(status: ModelServiceStatus, kind: str) -> tuple[ConditionStatus, str]:
    condition = status.condition(kind)
    assert condition is not None
    return condition.status, condition.reason


def test_all_engines_ready_and_rolled_out_is_ready_settled_and_healthy() -> None:
    status = _status(observation())
    assert _verdict(status, "Ready") == (ConditionStatus.TRUE, Reason.ENGINES_READY)
    assert _verdict(status, "Progressing") == (ConditionStatus.FALSE, Reason.ROLLOUT_COMPLETE)
    assert _verdict(status, "Degraded") == (ConditionStatus.FALSE, Reason.AS_EXPECTED)
    assert (status.observed_generation, status.replicas, status.ready_replicas) == (1, 2, 2)


def test_selector_selects_the_engine_pods_for_the_scale_subresource() -> None:
    assert _status(observation()).selector == (
        "app.kubernetes.io/component=engine,app.kubernetes.io/instance=llama,"
        "app.kubernetes.io/name=sloserve-engine,sloserve.io/modelservice=llama"
    )


def test_missing_gpu_product_is_not_ready_with_a_reason_saying_so() -> None:
    pending = pod(node=None, ready=False, unschedulable_message="0/2 nodes are available")
    seen = observation(
        deployment=deployment(ready=0), pods=(pending,), gpu_products=frozenset({"NVIDIA-A100"})
    )
    status = _status(seen)
    ready = status.condition("Ready")
    assert ready is not None
    assert (ready.status, ready.reason) == (ConditionStatus.FALSE, "NoNodeWithGPUProduct")
    assert "nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3" in ready.message
    assert "NVIDIA-A100" in ready.message
    assert _verdict(status, "Degraded") == (ConditionStatus.TRUE, "NoNodeWithGPUProduct")


def test_image_pull_failure_names_the_pod_and_the_image_problem() -> None:
    failing = pod(ready=False, waiting_reason="ImagePullBackOff", waiting_message="no such image")
    status = _status(observation(deployment=deployment(ready=1), pods=(pod("ok"), failing)))
    ready = status.condition("Ready")
    assert ready is not None
    assert ready.reason == "ImagePullFailing"
    assert "llama-abc" in ready.message
    assert "no such image" in ready.message
    assert _verdict(status, "Degraded") == (ConditionStatus.TRUE, "ImagePullFailing")


def test_crash_looping_engine_reports_restarts_and_last_exit() -> None:
    crashing = pod(
        ready=False, waiting_reason="CrashLoopBackOff", restarts=4, last_exit="Error (exit code 2)"
    )
    status = _status(observation(deployment=deployment(ready=1), pods=(pod("ok"), crashing)))
    degraded = status.condition("Degraded")
    assert degraded is not None
    assert degraded.reason == "CrashLooping"
    assert "4 restarts" in degraded.message
    assert "exit code 2" in degraded.message


def test_crash_looping_engine_reports_its_own_error_line() -> None:
    crashing = pod(
        ready=False,
        waiting_reason="CrashLoopBackOff",
        restarts=3,
        last_exit="Error (exit code 2)",
        last_error="RuntimeError: Engine core initialization failed.",
    )
    status = _status(observation(deployment=deployment(ready=0), pods=(crashing,)))
    degraded = status.condition("Degraded")
    assert degraded is not None
    assert degraded.reason == "CrashLooping"
    assert "the engine said: RuntimeError: Engine core initialization failed." in (degraded.message)


def test_crash_loop_while_enough_engines_serve_is_ready_but_degraded() -> None:
    crashing = pod("extra", ready=False, waiting_reason="CrashLoopBackOff", restarts=1)
    status = _status(observation(pods=(pod("a"), pod("b"), crashing)))
    assert _verdict(status, "Ready") == (ConditionStatus.TRUE, Reason.ENGINES_READY)
    assert _verdict(status, "Degraded") == (ConditionStatus.TRUE, Reason.CRASH_LOOPING)


def test_terminating_pods_are_neither_problems_nor_placements() -> None:
    leaving = pod("old", terminating=True, waiting_reason="CrashLoopBackOff")
    status = _status(observation(pods=(pod("new"), leaving)))
    assert _verdict(status, "Degraded") == (ConditionStatus.FALSE, Reason.AS_EXPECTED)
    assert [placed.pod for placed in status.placement] == ["new"]


def test_unschedulable_engines_report_the_scheduler_message() -> None:
    pending = pod(node=None, ready=False, unschedulable_message="0/2 nodes: Insufficient gpu")
    status = _status(observation(deployment=deployment(ready=1), pods=(pod("ok"), pending)))
    degraded = status.condition("Degraded")
    assert degraded is not None
    assert degraded.reason == "Unschedulable"
    assert "Insufficient gpu" in degraded.message


def test_starting_engines_are_not_ready_without_being_degraded() -> None:
    status = _status(observation(deployment=deployment(ready=0), pods=(pod(ready=False),)))
    assert _verdict(status, "Ready") == (ConditionStatus.FALSE, Reason.ENGINES_STARTING)
    assert _verdict(status, "Degraded") == (ConditionStatus.FALSE, Reason.AS_EXPECTED)


def test_zero_replicas_is_not_ready_because_scaled_to_zero() -> None:
    status = _status(
        observation(deployment=deployment(desired=0, ready=0), pods=()),
        Targets(replicas=0, gpu_product=None),
    )
    assert _verdict(status, "Ready") == (ConditionStatus.FALSE, Reason.SCALED_TO_ZERO)


def test_unapplied_generation_is_progressing_and_not_yet_observed() -> None:
    status = _status(observation(generation=2))
    assert _verdict(status, "Progressing") == (ConditionStatus.TRUE, Reason.RECONCILING)
    assert status.observed_generation == 1


def test_rollout_in_progress_is_progressing_while_old_engines_serve() -> None:
    rolling = deployment(updated=1, replicas=3)
    status = _status(observation(deployment=rolling))
    assert _verdict(status, "Progressing") == (ConditionStatus.TRUE, Reason.ROLLING_OUT)
    assert _verdict(status, "Ready") == (ConditionStatus.TRUE, Reason.ENGINES_READY)


def test_stalled_rollout_stops_progressing_and_degrades() -> None:
    stalled = deployment(updated=1, stalled_message='ReplicaSet "x" has timed out progressing.')
    status = _status(observation(deployment=stalled))
    assert _verdict(status, "Progressing") == (
        ConditionStatus.FALSE,
        Reason.PROGRESS_DEADLINE_EXCEEDED,
    )
    assert _verdict(status, "Degraded") == (ConditionStatus.TRUE, Reason.PROGRESS_DEADLINE_EXCEEDED)


def test_replica_failure_says_pods_cannot_be_created() -> None:
    failing = deployment(ready=0, replica_failure_message="exceeded quota: gpu")
    status = _status(observation(deployment=failing, pods=()))
    degraded = status.condition("Degraded")
    assert degraded is not None
    assert degraded.reason == Reason.PODS_NOT_CREATED
    assert "exceeded quota" in degraded.message


def test_invalid_spec_stops_progressing_while_old_engines_keep_serving() -> None:
    failure = ReconcileFailure(reason=Reason.INVALID_SPEC, message="spec.engine.args: --port ...")
    status = _status(observation(generation=2, failure=failure))
    assert _verdict(status, "Ready") == (ConditionStatus.TRUE, Reason.ENGINES_READY)
    assert _verdict(status, "Progressing") == (ConditionStatus.FALSE, Reason.INVALID_SPEC)
    assert _verdict(status, "Degraded") == (ConditionStatus.TRUE, Reason.INVALID_SPEC)


def test_apply_failure_degrades_and_keeps_progressing() -> None:
    failure = ReconcileFailure(reason=Reason.APPLY_FAILED, message="HTTP 503")
    status = _status(observation(generation=2, failure=failure))
    assert _verdict(status, "Degraded") == (ConditionStatus.TRUE, Reason.APPLY_FAILED)
    assert _verdict(status, "Progressing") == (ConditionStatus.TRUE, Reason.RECONCILING)


def test_missing_deployment_is_reconciling() -> None:
    status = _status(observation(deployment=None, pods=()))
    assert _verdict(status, "Ready") == (ConditionStatus.FALSE, Reason.RECONCILING)
    assert (status.replicas, status.ready_replicas) == (0, 0)


def test_transition_time_is_kept_while_the_status_stays() -> None:
    earlier = _status(observation())
    later = build_status(
        name="llama",
        targets=TWO_H100,
        observation=observation(previous=earlier),
        now=NOW + datetime.timedelta(minutes=5),
    )
    assert later.conditions == earlier.conditions
    broken = build_status(
        name="llama",
        targets=TWO_H100,
        observation=observation(deployment=deployment(ready=0), previous=earlier),
        now=NOW + datetime.timedelta(minutes=5),
    )
    ready = broken.condition("Ready")
    assert ready is not None
    assert ready.last_transition_time == NOW + datetime.timedelta(minutes=5)


def test_placement_lists_scheduled_pods_and_keeps_known_predictions() -> None:
    previous = _status(observation())
    predicted = previous.model_copy(
        update={
            "placement": tuple(
                p.model_copy(update={"predicted_slowdown": 1.1}) for p in previous.placement
            )
        }
    )
    moved = pod("llama-b", node="node-1")
    status = _status(
        observation(pods=(pod("llama-a"), moved, pod("p", node=None)), previous=predicted)
    )
    assert [(p.pod, p.node, p.predicted_slowdown) for p in status.placement] == [
        ("llama-a", "node-0", 1.1),
        ("llama-b", "node-1", None),
    ]


def test_unchanged_status_needs_no_patch() -> None:
    status = _status(observation())
    assert status_patch(status, status) == {}


def test_patch_writes_only_the_operators_fields_in_camel_case() -> None:
    patch = status_patch(_status(observation()), None)
    assert set(patch) == {
        "observedGeneration",
        "replicas",
        "readyReplicas",
        "selector",
        "placement",
        "conditions",
    }
    assert patch["conditions"][0]["lastTransitionTime"] == "2026-01-02T03:04:05Z"


def test_patch_leaves_out_an_unapplied_generation() -> None:
    patch = status_patch(_status(observation(applied_generation=None)), None)
    assert "observedGeneration" not in patch


def test_lenient_targets_survive_a_malformed_spec() -> None:
    assert Targets.lenient({"replicas": "two", "engine": {"gpuProduct": H100}}) == Targets(
        replicas=0, gpu_product=H100
    )
    assert Targets.lenient({}) == Targets(replicas=1, gpu_product=None)


def test_a_crash_loop_carries_the_engines_own_last_error_line() -> None:
    crashing = pod(
        "llama-a",
        ready=False,
        waiting_reason="CrashLoopBackOff",
        restarts=4,
        last_exit="Error (exit code 2)",
        last_exit_failed=True,
        last_error="ValueError: max_num_batched_tokens (16) is smaller than max_model_len",
    )
    status = _status(observation(deployment=deployment(ready=1), pods=(crashing, pod("llama-b"))))
    degraded = status.condition("Degraded")
    assert degraded is not None
    assert degraded.reason == "CrashLooping"
    assert "the engine said: ValueError: max_num_batched_tokens (16)" in degraded.message
    assert "kubectl logs llama-a --previous" in degraded.message


REFUSED_LINE = "api_server.py: error: unrecognized arguments: --no-such-flag"
ARGS = ("--max-num-seqs=4", "--no-such-flag")


def _refusing(name: str = "llama-a", line: str = REFUSED_LINE, **more: object) -> PodState:
    fields: dict[str, object] = {
        "ready": False,
        "restarts": 0,
        "last_exit": "Error (exit code 2)",
        "last_exit_failed": True,
        "last_error": line,
    }
    fields.update(more)
    return pod(name, **fields)


def test_an_engine_refusing_its_flags_is_reported_at_its_first_exit_naming_the_flag() -> None:
    refusing = _refusing()
    status = _status(
        observation(deployment=deployment(desired=1, ready=0), pods=(refusing,)),
        Targets(replicas=1, gpu_product=H100, engine_args=ARGS),
    )
    degraded = status.condition("Degraded")
    assert degraded is not None
    assert (degraded.status, degraded.reason) == (ConditionStatus.TRUE, "EngineArgsRejected")
    assert "unknown flag spec.engine.args[1] --no-such-flag" in degraded.message
    assert f"the engine said: {REFUSED_LINE}" in degraded.message
    assert "remove or correct it in spec.engine.args" in degraded.message
    assert _verdict(status, "Ready") == (ConditionStatus.FALSE, "EngineArgsRejected")


def test_a_refused_flag_is_reported_as_that_and_not_as_a_crash_loop() -> None:
    refusing = _refusing(waiting_reason="CrashLoopBackOff", restarts=5)
    status = _status(
        observation(deployment=deployment(desired=1, ready=0), pods=(refusing,)),
        Targets(replicas=1, gpu_product=H100, engine_args=ARGS),
    )
    reasons = [c.reason for c in status.conditions if c.type == "Degraded"]
    assert reasons == ["EngineArgsRejected"]
    degraded = status.condition("Degraded")
    assert degraded is not None
    assert "5 restarts" in degraded.message
    assert "CrashLooping" not in degraded.message
    once = _status(
        observation(deployment=deployment(desired=1, ready=0), pods=(_refusing(restarts=1),)),
        Targets(replicas=1, gpu_product=H100, engine_args=ARGS),
    ).condition("Degraded")
    assert once is not None
    assert "--no-such-flag, 1 restart)" in once.message


def test_a_bad_flag_value_names_the_flag_and_vllms_reason() -> None:
    line = "api_server.py: error: argument --max-num-seqs: invalid int value: 'many'"
    status = _status(
        observation(deployment=deployment(desired=1, ready=0), pods=(_refusing(line=line),)),
        Targets(replicas=1, gpu_product=H100, engine_args=("--max-num-seqs=many",)),
    )
    degraded = status.condition("Degraded")
    assert degraded is not None
    assert degraded.reason == "EngineArgsRejected"
    assert "bad value of spec.engine.args[0] --max-num-seqs" in degraded.message
    assert "invalid int value: 'many'" in degraded.message


def test_a_refused_flag_the_spec_does_not_set_points_at_the_image() -> None:
    status = _status(
        observation(deployment=deployment(desired=1, ready=0), pods=(_refusing(),)),
        Targets(replicas=1, gpu_product=H100, engine_args=()),
    )
    degraded = status.condition("Degraded")
    assert degraded is not None
    assert degraded.reason == "EngineArgsRejected"
    assert "it is not in spec.engine.args" in degraded.message


def test_an_engine_that_exited_cleanly_is_no_refusal_whatever_its_log_says() -> None:
    clean = _refusing(last_exit="Completed (exit code 0)", last_exit_failed=False)
    status = _status(
        observation(deployment=deployment(desired=1, ready=0), pods=(clean,)),
        Targets(replicas=1, gpu_product=H100, engine_args=ARGS),
    )
    degraded = status.condition("Degraded")
    assert degraded is None or degraded.reason != "EngineArgsRejected"


def test_lenient_targets_keep_the_engine_args_for_naming_a_refused_flag() -> None:
    targets = Targets.lenient({"engine": {"args": ["--a", 3, "--b"]}})
    assert targets.engine_args == ("--a", "--b")
