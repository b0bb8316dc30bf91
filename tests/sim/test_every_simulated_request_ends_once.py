"""Every request ends exactly once, and the tokens the engines generate are the requests' own."""

import pytest
from sim_helpers import OVERLOAD_QPS, run, scorpio_workload

from sloserve.scheduling import outcomes
from sloserve.sim import policies, records


@pytest.mark.parametrize("policy", policies.POLICY_NAMES)
def test_every_request_ends_in_exactly_one_outcome(policy: str) -> None:
    requests = scorpio_workload(count=300, qps=OVERLOAD_QPS, seed=3)
    result = run(requests, policy)
    assert [record.request_id for record in result.records] == [r.request_id for r in requests]
    for record in result.records:
        if record.outcome is records.Outcome.SERVED:
            assert record.reject_reason is None
            assert record.first_token_s is not None
            assert record.finished_s is not None
            assert record.dispatched_s is not None
            assert record.arrival_s <= record.dispatched_s <= record.first_token_s
            assert record.first_token_s <= record.finished_s == record.ended_s
        else:
            assert record.reject_reason in {reason.value for reason in outcomes.RejectReason}
            assert record.first_token_s is None
            assert record.engine_id is None
            assert record.ended_s >= record.arrival_s
    overall = result.summary.overall
    assert overall.served + overall.rejected == len(requests)


@pytest.mark.parametrize("policy", ["fcfs", "scorpio-full"])
def test_generated_tokens_are_the_served_requests_outputs(policy: str) -> None:
    requests = scorpio_workload(count=300, qps=OVERLOAD_QPS, seed=4)
    wanted = {request.request_id: request.output_tokens for request in requests}
    result = run(requests, policy)
    served = [r for r in result.records if r.outcome is records.Outcome.SERVED]
    assert served
    assert all(record.output_tokens == wanted[record.request_id] for record in served)
    assert result.summary.overall.output_tokens == sum(wanted[r.request_id] for r in served)
