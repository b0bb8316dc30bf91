"""Events for condition changes: one per transition, none for a repeated observation."""

from __future__ import annotations

from status_fixtures import NOW, deployment, observation, pod

from sloserve.api.status import ModelServiceStatus
from sloserve.builders.status import Observation, Targets, build_status
from sloserve.builders.transitions import condition_events

TARGETS = Targets(replicas=2, gpu_product=None)


def _status(seen: Observation) -> ModelServiceStatus:
    return build_status(name="llama", targets=TARGETS, observation=seen, now=NOW)


def _reasons(previous: ModelServiceStatus | None, new: ModelServiceStatus) -> list[tuple[str, str]]:
    return [(event.type, event.reason) for event in condition_events(previous, new)]


STARTING = observation(deployment=deployment(ready=0), pods=(pod(ready=False),))
READY = observation()
CRASHING = observation(
    deployment=deployment(ready=1),
    pods=(pod("a"), pod("b", ready=False, waiting_reason="CrashLoopBackOff")),
)


def test_becoming_ready_is_a_normal_event() -> None:
    assert _reasons(_status(STARTING), _status(READY)) == [("Normal", "Ready")]


def test_first_status_that_is_starting_posts_nothing() -> None:
    assert _reasons(None, _status(STARTING)) == []


def test_losing_readiness_to_a_crash_loop_warns_twice() -> None:
    assert _reasons(_status(READY), _status(CRASHING)) == [
        ("Warning", "NotReady"),
        ("Warning", "CrashLooping"),
    ]


def test_repeating_the_same_observation_posts_nothing() -> None:
    crashing = _status(CRASHING)
    assert _reasons(crashing, crashing) == []


def test_recovering_is_a_normal_event() -> None:
    assert _reasons(_status(CRASHING), _status(READY)) == [
        ("Normal", "Ready"),
        ("Normal", "Recovered"),
    ]


def test_a_new_degraded_reason_warns_again() -> None:
    pulling = observation(
        deployment=deployment(ready=1),
        pods=(pod("a"), pod("b", ready=False, waiting_reason="ErrImagePull")),
    )
    assert _reasons(_status(CRASHING), _status(pulling)) == [("Warning", "ImagePullFailing")]
