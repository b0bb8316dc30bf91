"""Goodput, adherence and TPOT are computed as SCORPIO defines them."""

import pytest

from sloserve.sim import records, summary


def _served(
    request_id: str,
    *,
    arrival_s: float,
    first_token_s: float,
    finished_s: float,
    output_tokens: int,
    slo_class: str = "interactive",
) -> records.RequestRecord:
    return records.RequestRecord(
        request_id=request_id,
        slo_class=slo_class,
        ttft_target_s=0.5,
        tpot_target_s=0.05,
        arrival_s=arrival_s,
        prompt_tokens=100,
        output_tokens=output_tokens,
        outcome=records.Outcome.SERVED,
        ended_s=finished_s,
        engine_id="engine-0",
        dispatched_s=arrival_s,
        first_token_s=first_token_s,
        finished_s=finished_s,
    )


def _rejected(request_id: str, *, arrival_s: float, slo_class: str) -> records.RequestRecord:
    return records.RequestRecord(
        request_id=request_id,
        slo_class=slo_class,
        ttft_target_s=0.5,
        tpot_target_s=0.05,
        arrival_s=arrival_s,
        prompt_tokens=100,
        output_tokens=0,
        outcome=records.Outcome.REJECTED,
        ended_s=arrival_s,
        reject_reason="ttft_unattainable",
    )


def test_tpot_is_decode_time_over_tokens_after_the_first() -> None:
    record = _served("a", arrival_s=0.0, first_token_s=0.2, finished_s=1.2, output_tokens=21)
    assert record.ttft_s == pytest.approx(0.2)
    assert record.tpot_s == pytest.approx(0.05)
    assert record.attained


def test_a_request_missing_either_target_is_not_attained() -> None:
    late = _served("a", arrival_s=0.0, first_token_s=0.6, finished_s=1.0, output_tokens=10)
    slow = _served("b", arrival_s=0.0, first_token_s=0.1, finished_s=2.1, output_tokens=11)
    assert not late.attained
    assert not slow.attained


def test_rejected_requests_count_as_misses_in_adherence_and_goodput() -> None:
    run = summary.summarize(
        [
            _served("a", arrival_s=0.0, first_token_s=0.1, finished_s=0.5, output_tokens=10),
            _served("b", arrival_s=1.0, first_token_s=1.1, finished_s=4.0, output_tokens=1),
            _rejected("c", arrival_s=2.0, slo_class="batch"),
            _rejected("d", arrival_s=3.0, slo_class="batch"),
        ]
    )
    assert run.duration_s == pytest.approx(4.0)
    assert run.overall.good == 2
    assert run.overall.adherence == pytest.approx(0.5)
    assert run.overall.goodput_rps == pytest.approx(0.5)
    assert run.overall.rejected_by_reason == {"ttft_unattainable": 2}
    assert run.by_class["batch"].adherence == 0.0
    assert run.by_class["interactive"].goodput_rps == pytest.approx(0.5)
    assert run.overall.output_tokens == 11


def test_an_empty_run_cannot_be_summarized() -> None:
    with pytest.raises(ValueError, match="no request records"):
        summary.summarize([])
