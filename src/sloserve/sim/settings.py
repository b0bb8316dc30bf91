"""What one simulation runs: the policy, the cluster and how closely the loop watches it."""

from dataclasses import dataclass, field

from sloserve.scheduling import calibration, latency_profile
from sloserve.sim import cluster, fleet, policies

# The simulator's calibrator sees every engine step's exact duration, hundreds a second, so it can
# follow a speed change at a higher gain than the gateway's default (set for scraped intervals):
# in bench/sim/calibration.py's drift scenario (±30 % every 15 s) 0.05 lagged each change by about
# 7 s and lost 7 % goodput against the oracle; 0.3 comes within 1 %.
STEP_TIMING_GAIN = 0.3


@dataclass(frozen=True, kw_only=True)
class SimulationConfig:
    """One simulation's cluster and policy.

    `policy`: one of `policies.POLICY_NAMES`. `engines`: how many identical engines.
    `slowdowns`: the co-location slowdown of each engine (≥ 1 slows; it scales the engine's GPU
    time and the scheduler's predictions for it); empty means 1.0 for all, one value applies to
    all. `context_refresh_s`: how often (simulated seconds) running requests' contexts are
    re-read from the engines for the scheduler (see `engines`). `recheck_interval_s`: when set,
    also dispatch on this period while requests wait at the gateway, as a gateway's re-check timer
    does (None: only when an arrival or an engine event changed something). `model`: the model id
    requests name. `scaling`: when set, the engines follow its policy (starting from its
    `initial_replicas`; `engines` is then ignored); see `fleet`.
    """

    policy: str
    profile: latency_profile.LatencyProfile
    engines: int = 1
    slowdowns: tuple[float, ...] = ()
    engine_settings: cluster.EngineSettings = field(default_factory=cluster.EngineSettings)
    context_refresh_s: float = 0.5
    recheck_interval_s: float | None = None
    model: str = "llama-3-8b"
    predictor_profile: latency_profile.LatencyProfile | None = None
    calibrate: bool = False
    calibration_settings: calibration.CalibrationSettings = field(
        default_factory=lambda: calibration.CalibrationSettings(gain=STEP_TIMING_GAIN)
    )
    speed_changes: tuple[tuple[float, float], ...] = ()
    speed_changes_known: bool = False
    scaling: fleet.ScalingConfig | None = None

    def __post_init__(self) -> None:
        policies.sim_policy(self.policy)
        if self.engines < 1:
            raise ValueError(f"engines must be at least 1, got {self.engines!r}")
        if len(self.slowdowns) not in (0, 1, self.engines):
            raise ValueError(
                f"slowdowns has {len(self.slowdowns)} values for {self.engines} engines: give one "
                "per engine, one for all, or none"
            )
        for at_s, factor in self.speed_changes:
            if not (factor > 0 and at_s >= 0):
                raise ValueError(
                    f"speed_changes: ({at_s!r}, {factor!r}) needs a time at or after 0 and a "
                    "factor above zero"
                )
        if self.recheck_interval_s is not None and not self.recheck_interval_s > 0:
            raise ValueError(
                f"recheck_interval_s must be above zero or None, got {self.recheck_interval_s!r}"
            )

    def engine_slowdowns(self) -> tuple[float, ...]:
        """One slowdown per engine."""
        if not self.slowdowns:
            return (1.0,) * self.engines
        if len(self.slowdowns) == 1:
            return self.slowdowns * self.engines
        return self.slowdowns
