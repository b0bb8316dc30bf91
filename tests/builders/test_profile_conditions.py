"""ProfileResolved and SLOAttainable: an unknown profile names the ones that exist, and a TTFT
objective below the best-case prefill of its class's longest prompt is a warning, not a
refusal."""

from __future__ import annotations

from builder_specs import make_spec
from status_fixtures import NOW, observation

from sloserve.api.status import ConditionStatus, ModelServiceStatus
from sloserve.builders.profile_check import ProfileCheck, check_profile
from sloserve.builders.status import Targets, build_status
from sloserve.builders.transitions import condition_events
from sloserve.controllers.profiles import ProfileBook

KNOWN = ("h100-llama3-8b", "synthetic")


def _prefill_s(tokens: int) -> float:
    # 25 microseconds a token: 4096 tokens take about 102 ms.
    return 25e-6 * tokens


def _spec(profile: str = "h100-llama3-8b", **interactive: object) -> object:
    return make_spec(
        engine={"profile": profile},
        sloClasses=[
            {"name": "interactive", "ttft": "100ms", "tpot": "50ms", **interactive},
            {"name": "batch", "ttft": "15s", "tpot": "50ms", "maxPromptTokens": 32768},
        ],
        defaultClass="batch",
    )


def _status(check: ProfileCheck) -> ModelServiceStatus:
    return build_status(
        name="llama",
        targets=Targets(replicas=2, gpu_product=None, profile=check),
        observation=observation(),
        now=NOW,
    )


def _condition(status: ModelServiceStatus, kind: str) -> tuple[ConditionStatus, str, str]:
    condition = status.condition(kind)
    assert condition is not None
    return condition.status, condition.reason, condition.message


def test_an_unknown_profile_is_a_condition_naming_the_profiles_that_exist() -> None:
    check = check_profile(_spec("a100-llama3-70b"), known=KNOWN, prefill_time_s=None)
    status = _status(check)
    resolved, reason, message = _condition(status, "ProfileResolved")
    assert (resolved, reason) == (ConditionStatus.FALSE, "ProfileUnknown")
    assert "'a100-llama3-70b'" in message
    assert "h100-llama3-8b, synthetic" in message
    # The gateway cannot serve the model without a profile: the ModelService is degraded.
    assert _condition(status, "Degraded")[:2] == (ConditionStatus.TRUE, "ProfileUnknown")
    assert _condition(status, "SLOAttainable")[0] is ConditionStatus.UNKNOWN


def test_a_ttft_below_the_best_case_prefill_is_a_warning_condition() -> None:
    check = check_profile(_spec(maxPromptTokens=8192), known=KNOWN, prefill_time_s=_prefill_s)
    status = _status(check)
    attainable, reason, message = _condition(status, "SLOAttainable")
    assert (attainable, reason) == (ConditionStatus.FALSE, "TTFTBelowBestCasePrefill")
    assert "class interactive: ttft 100 ms" in message
    assert "8192-token prompt, 205 ms" in message
    assert "batch" not in message.split("on profile")[0]
    # A warning only: nothing is wrong with the engines.
    assert _condition(status, "Degraded")[:2] == (ConditionStatus.FALSE, "AsExpected")
    assert _condition(status, "ProfileResolved")[:2] == (ConditionStatus.TRUE, "ProfileFound")


def test_objectives_above_the_best_case_prefill_are_attainable() -> None:
    check = check_profile(_spec(maxPromptTokens=2048), known=KNOWN, prefill_time_s=_prefill_s)
    attainable, reason, message = _condition(_status(check), "SLOAttainable")
    assert (attainable, reason) == (ConditionStatus.TRUE, "ObjectivesAttainable")
    assert "interactive, batch" in message


def test_classes_without_a_prompt_bound_cannot_be_checked() -> None:
    spec = make_spec(engine={"profile": "h100-llama3-8b"})
    check = check_profile(spec, known=KNOWN, prefill_time_s=_prefill_s)
    assert check.checked_classes == ()
    assert _condition(_status(check), "SLOAttainable")[:2] == (
        ConditionStatus.UNKNOWN,
        "NoPromptBound",
    )


def test_becoming_unattainable_posts_one_warning() -> None:
    fine = _status(
        check_profile(_spec(maxPromptTokens=2048), known=KNOWN, prefill_time_s=_prefill_s)
    )
    tight = _status(
        check_profile(_spec(maxPromptTokens=8192), known=KNOWN, prefill_time_s=_prefill_s)
    )
    assert [(e.type, e.reason) for e in condition_events(fine, tight)] == [
        ("Warning", "TTFTBelowBestCasePrefill")
    ]
    assert condition_events(tight, tight) == []


def test_the_operator_checks_against_the_shipped_profiles() -> None:
    book = ProfileBook()
    assert "h100-llama3-8b" in book.known
    assert "synthetic" in book.known
    tight = book.check(_spec(maxPromptTokens=32768))
    assert tight.resolved
    assert [entry.name for entry in tight.infeasible] == ["interactive"]
    # 32k tokens on an H100 take several chunks; far above 100 ms.
    assert tight.infeasible[0].best_prefill_s > 0.5
    unknown = book.check(_spec("no-such-profile"))
    assert not unknown.resolved
    assert unknown.known == book.known


def test_the_prefill_chunk_follows_max_num_batched_tokens() -> None:
    book = ProfileBook()

    def best_prefill_s(args: list[str]) -> float:
        spec = make_spec(
            engine={"profile": "h100-llama3-8b", "args": args},
            sloClasses=[{"name": "c", "ttft": "1ms", "tpot": "50ms", "maxPromptTokens": 16384}],
            defaultClass="c",
        )
        (entry,) = book.check(spec).infeasible
        return entry.best_prefill_s

    # Smaller chunks pay the per-step overhead more often.
    assert best_prefill_s(["--max-num-batched-tokens", "512"]) > best_prefill_s([])


def _auto_spec(model: str, **engine: object) -> object:
    return make_spec(
        model=model,
        engine={"kind": "vllm", "image": "vllm/vllm-openai:v0.32.0", "gpus": 1, **engine},
        sloClasses=[{"name": "c", "ttft": "2s", "tpot": "50ms", "maxPromptTokens": 4096}],
        defaultClass="c",
    )


def test_auto_chooses_the_exact_profile_and_says_how() -> None:
    check = ProfileBook().check(
        _auto_spec("meta-llama/Llama-3.1-8B-Instruct", gpuProduct="NVIDIA-H200")
    )

    resolved, reason, message = _condition(_status(check), "ProfileResolved")
    assert (resolved, reason) == (ConditionStatus.TRUE, "ProfileChosen")
    assert check.chosen == "h200-llama3-8b"
    assert message == "exact: profile h200-llama3-8b (exact)"
    assert _condition(_status(check), "SLOAttainable")[0] is ConditionStatus.TRUE


def test_auto_scales_the_same_shape_from_another_gpu_and_names_the_ratios() -> None:
    check = ProfileBook().check(
        _auto_spec("meta-llama/Llama-3.1-8B-Instruct", gpuProduct="NVIDIA-A100-SXM4-80GB")
    )

    assert (check.resolved, check.rule, check.chosen) == (True, "nearest-gpu", "h100-llama3-8b")
    assert "prefill ×3.17" in check.detail
    assert "decode ×1.64" in check.detail


def test_auto_with_nothing_that_fits_is_a_condition_with_the_reason_not_a_fault() -> None:
    check = ProfileBook().check(_auto_spec("meta-llama/Llama-3.1-70B", gpuProduct="NVIDIA-H200"))
    status = _status(check)

    resolved, reason, message = _condition(status, "ProfileResolved")
    assert (resolved, reason) == (ConditionStatus.FALSE, "NoProfileFits")
    assert "no profile fits meta-llama/Llama-3.1-70B" in message
    assert "conservative prior h200-qwen2.5-32b" in message
    # Served from the calibrated prior, so not degraded for it.
    assert _condition(status, "Degraded")[0] is ConditionStatus.FALSE
    assert _condition(status, "SLOAttainable")[:2] == (ConditionStatus.UNKNOWN, "NoProfileFits")


def test_auto_never_borrows_another_models_profile_for_an_unknown_model() -> None:
    check = ProfileBook().check(_auto_spec("acme/house-model-9b", gpuProduct="NVIDIA-H200"))

    assert (check.resolved, check.chosen) == (False, None)
    assert "not in the catalogue of known model shapes" in check.detail
