import pytest

from sloserve.scheduling import slo


def test_deadline_is_arrival_plus_class_ttft(make_request, classes):
    request = make_request("a", slo_class=classes.standard, arrival_s=10.0)

    assert request.deadline_s == pytest.approx(13.0)
    assert request.tpot_s == pytest.approx(0.03)


def test_slack_shrinks_as_time_passes_and_goes_negative_after_the_deadline(make_request):
    request = make_request("a", arrival_s=1.0)

    assert request.slack_s(1.0) == pytest.approx(0.5)
    assert request.slack_s(1.2) == pytest.approx(0.3)
    assert request.slack_s(2.0) == pytest.approx(-0.5)


def test_explicit_targets_override_the_class(make_request, classes):
    request = make_request(
        "a", slo_class=classes.batch, arrival_s=2.0, ttft_target_s=0.25, tpot_target_s=0.02
    )

    assert request.ttft_s == pytest.approx(0.25)
    assert request.tpot_s == pytest.approx(0.02)
    assert request.deadline_s == pytest.approx(2.25)


@pytest.mark.parametrize(
    ("field", "value"),
    [("ttft_s", 0.0), ("tpot_s", -1.0), ("ttft_s", float("nan")), ("tpot_s", float("inf"))],
)
def test_class_targets_must_be_positive_and_finite(field, value):
    targets = {"ttft_s": 1.0, "tpot_s": 0.05, field: value}

    with pytest.raises(ValueError, match=rf"'gold' {field}"):
        slo.SLOClass(name="gold", **targets)


@pytest.mark.parametrize(
    ("field", "value"),
    [("prompt_tokens", 0), ("max_tokens", 0), ("ttft_target_s", 0.0), ("tpot_target_s", -0.1)],
)
def test_request_errors_name_the_request_and_the_field(make_request, field, value):
    with pytest.raises(ValueError, match=rf"request 'r-7' {field}"):
        make_request("r-7", **{field: value})
