"""Which class a request runs in: class headers, GIE objective headers, tenant rights."""

from __future__ import annotations

import pytest

from sloserve.gateway import classify, errors, tenants
from sloserve.scheduling import slo

CLASSES = {
    "interactive": slo.SLOClass(name="interactive", ttft_s=0.5, tpot_s=0.05),
    "standard": slo.SLOClass(name="standard", ttft_s=3.0, tpot_s=0.03),
    "batch": slo.SLOClass(name="batch", ttft_s=15.0, tpot_s=0.05),
}
MODEL = classify.ModelClasses(model="m", classes=CLASSES, default_class="standard")
EVERYTHING = tenants.Tenant(name="all", allowed_classes=None, default_class=None)
BATCH_ONLY = tenants.Tenant(
    name="cheap", allowed_classes=frozenset({"batch"}), default_class="batch"
)


def choose(headers: dict[str, str], tenant: tenants.Tenant = EVERYTHING) -> classify.ClassChoice:
    return classify.choose_class(headers=headers, tenant=tenant, model=MODEL)


def refusal(headers: dict[str, str], tenant: tenants.Tenant = EVERYTHING) -> errors.GatewayError:
    with pytest.raises(errors.GatewayError) as refused:
        choose(headers, tenant)
    return refused.value


def test_no_header_runs_in_the_models_default_class() -> None:
    assert choose({}).slo_class.name == "standard"


def test_no_header_runs_in_the_tenants_default_class_when_the_model_has_it() -> None:
    assert choose({}, BATCH_ONLY).slo_class.name == "batch"


@pytest.mark.parametrize("header", [classify.CLASS_HEADER, classify.OBJECTIVE_HEADER])
def test_a_class_header_names_the_class(header: str) -> None:
    choice = choose({header: "interactive"})
    assert choice.slo_class is CLASSES["interactive"]
    assert choice.ttft_target_s is None


def test_a_class_the_tenant_may_not_use_is_403_and_never_replaced() -> None:
    error = refusal({classify.CLASS_HEADER: "interactive"}, BATCH_ONLY)
    assert error.status == 403
    assert error.code == "forbidden_class"
    assert error.extra["slo_class"] == "interactive"
    assert "allowed: batch" in error.message


def test_an_unknown_class_is_400_listing_the_models_classes() -> None:
    error = refusal({classify.CLASS_HEADER: "gold"})
    assert (error.status, error.param) == (400, classify.CLASS_HEADER)
    assert "interactive, standard, batch" in error.message


def test_disagreeing_class_headers_are_400() -> None:
    error = refusal({classify.CLASS_HEADER: "batch", classify.OBJECTIVE_HEADER: "standard"})
    assert error.status == 400


def test_objective_headers_pick_the_loosest_allowed_class_that_meets_them() -> None:
    choice = choose({classify.TTFT_HEADER: "4000", classify.TPOT_HEADER: "40"})
    assert choice.slo_class.name == "standard"
    assert choice.ttft_target_s == pytest.approx(4.0)
    assert choice.tpot_target_s == pytest.approx(0.04)


def test_objective_headers_met_only_by_a_forbidden_class_are_403() -> None:
    error = refusal({classify.TTFT_HEADER: "600"}, BATCH_ONLY)
    assert error.status == 403
    assert error.extra["slo_class"] == "interactive"


def test_objective_headers_no_class_meets_are_400() -> None:
    error = refusal({classify.TTFT_HEADER: "100"})
    assert (error.status, error.param) == (400, classify.TTFT_HEADER)


def test_an_objective_tighter_than_the_named_class_is_403() -> None:
    error = refusal({classify.CLASS_HEADER: "batch", classify.TTFT_HEADER: "1000"})
    assert error.status == 403
    assert "tighter than SLO class 'batch'" in error.message


def test_an_objective_looser_than_the_named_class_loosens_the_request() -> None:
    choice = choose({classify.CLASS_HEADER: "interactive", classify.TTFT_HEADER: "800"})
    assert choice.slo_class.name == "interactive"
    assert choice.ttft_target_s == pytest.approx(0.8)


@pytest.mark.parametrize("value", ["fast", "-5", "0", "nan", "inf"])
def test_a_malformed_objective_header_is_400_naming_it(value: str) -> None:
    error = refusal({classify.TPOT_HEADER: value})
    assert (error.status, error.param) == (400, classify.TPOT_HEADER)
