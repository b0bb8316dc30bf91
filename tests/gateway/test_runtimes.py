"""The per-model runtimes follow the sources, with one latency fit per profile in use."""

from __future__ import annotations

import httpx

from sloserve.gateway import classify, datastore, metrics, runtime, runtimes, settings
from sloserve.scheduling import latency_model, slo

STANDARD = slo.SLOClass(name="standard", ttft_s=3.0, tpot_s=0.03)


def record(model: str, profile: str) -> datastore.ModelRecord:
    definition = datastore.ModelDefinition(
        classes=classify.ModelClasses(
            model=model, classes={"standard": STANDARD}, default_class="standard"
        ),
        profile=profile,
    )
    key = datastore.SourceKey(namespace="", name=model, static=True)
    return datastore.ModelRecord(labels=key.labels(model), definition=definition, engines=())


class CountingFit:
    """Fits every profile as `synthetic`, counting the fits asked for per profile."""

    def __init__(self) -> None:
        self.fits: list[str] = []

    def __call__(self, profile: str) -> latency_model.LatencyModel:
        self.fits.append(profile)
        if profile == "missing":
            raise LookupError("no profile named 'missing'")
        return runtimes.fit_profile("synthetic")


def make_runtimes(fit: CountingFit) -> runtimes.Runtimes:
    return runtimes.Runtimes(
        config=settings.SchedulingSettings(policy="scorpio"),
        client=httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(404))),
        clock=runtime.MonotonicClock(),
        gateway_metrics=metrics.GatewayMetrics(),
        fit=fit,
    )


async def test_models_that_share_a_profile_share_one_fit() -> None:
    fit = CountingFit()
    models = make_runtimes(fit)
    models.on_record("a", record("a", "synthetic"))
    models.on_record("b", record("b", "synthetic"))
    assert fit.fits == ["synthetic"]
    runtime_a, runtime_b = models.get("a"), models.get("b")
    assert runtime_a is not None
    assert runtime_b is not None
    await models.stop_all()


async def test_a_fit_is_dropped_when_the_last_model_using_its_profile_goes() -> None:
    fit = CountingFit()
    models = make_runtimes(fit)
    models.on_record("a", record("a", "synthetic"))
    models.on_record("b", record("b", "synthetic"))
    models.on_record("a", None)
    models.on_record("c", record("c", "synthetic"))  # b still uses it: no new fit
    assert fit.fits == ["synthetic"]
    models.on_record("b", None)
    models.on_record("c", None)
    models.on_record("d", record("d", "synthetic"))  # nothing used it: read again
    assert fit.fits == ["synthetic", "synthetic"]
    await models.stop_all()


async def test_a_model_moved_to_another_profile_releases_the_old_fit() -> None:
    fit = CountingFit()
    models = make_runtimes(fit)
    models.on_record("a", record("a", "synthetic"))
    models.on_record("a", record("a", "h100"))
    models.on_record("a", record("a", "synthetic"))
    assert fit.fits == ["synthetic", "h100", "synthetic"]
    await models.stop_all()


async def test_a_profile_that_cannot_be_fitted_makes_the_model_unavailable_and_is_not_kept() -> (
    None
):
    fit = CountingFit()
    models = make_runtimes(fit)
    models.on_record("a", record("a", "missing"))
    models.on_record("a", record("a", "missing"))
    assert models.get("a") is None
    assert "no profile named 'missing'" in models.unavailable["a"]
    assert fit.fits == ["missing", "missing"]
    await models.stop_all()


async def test_a_model_no_profile_fits_is_calibrated_from_the_conservative_prior() -> None:
    import dataclasses

    from sloserve.builders import profile_choice

    fitted: dict[str, latency_model.LatencyModel] = {}

    def fit(profile: str) -> latency_model.LatencyModel:
        fitted[profile] = runtimes.fit_profile("synthetic").scaled(prefill=3.0, decode=2.0)
        return fitted[profile]

    models = runtimes.Runtimes(
        config=settings.SchedulingSettings(policy="scorpio"),
        client=httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(404))),
        clock=runtime.MonotonicClock(),
        gateway_metrics=metrics.GatewayMetrics(),
        fit=fit,
    )
    unresolved = record("house", profile_choice.CONSERVATIVE_PRIOR)
    unresolved = dataclasses.replace(
        unresolved, definition=dataclasses.replace(unresolved.definition, profile_rule="none")
    )
    models.on_record("house", unresolved)
    found = models.get("house")
    assert found is not None
    assert found.calibration is not None
    assert found.calibration.enabled
    assert found.calibration.prior is fitted[profile_choice.CONSERVATIVE_PRIOR]
    await models.stop_all()
