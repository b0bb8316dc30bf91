"""`prefill-meter`: engines whose prefill meter is open (`scheduling.prefill_meter`): more prompt
work sent to a closed one now would slow its running requests past their TPOT."""

from sloserve.scheduling import prefill_meter
from sloserve.scheduling.routing import contract

NAME = "prefill-meter"


class PrefillMeterFilter:
    """Drops engines whose meter is closed. The scheduler charges the meter as it dispatches."""

    def __init__(self, *, meter: prefill_meter.PrefillMeter) -> None:
        self._meter = meter

    @property
    def name(self) -> str:
        return NAME

    @property
    def reason(self) -> str:
        return (
            "the prefill meter holds it back: more prompt work now would slow running requests "
            "past their TPOT"
        )

    def filter(
        self, route: contract.RouteRequest, candidates: list[contract.Candidate]
    ) -> list[contract.Candidate]:
        meter = self._meter
        now_s = route.now_s
        return [
            candidate for candidate in candidates if meter.is_open(candidate.engine, now_s=now_s)
        ]
