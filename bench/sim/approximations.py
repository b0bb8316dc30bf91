"""How much the simulator's two shortcuts move its results: contexts re-read every
`context_refresh_s` instead of at every decision, and dispatches on events only instead of also on
the gateway's 20 ms re-check timer.

    python bench/sim/approximations.py --profile h100-llama3-8b

One engine, 1536 requests at QPS 45 (seed 0), under both engine configurations of sweep.py; prints
adherence, goodput, rejections and CPU time of the SCORPIO policies under each setting.
"""

from __future__ import annotations

import argparse
import time

import sweep

from sloserve.sim import settings, simulator

VARIANTS = (
    ("contexts at every decision", 0.0, None),
    ("default: contexts every 0.5 s, events only", 0.5, None),
    ("plus a 20 ms re-check timer", 0.5, 0.02),
)


def main() -> None:
    parser = argparse.ArgumentParser(description="the effect of the simulator's shortcuts")
    parser.add_argument("--profile", default="h100-llama3-8b")
    args = parser.parse_args()
    profile = sweep.load_profile(args.profile)
    point = sweep.SweepPoint("overload", "vllm-defaults", 1, 45.0, 1536)
    requests = sweep.build_workload(point, seed=0)
    for engine_config, engine_settings in sweep.ENGINE_CONFIGS.items():
        for policy in ("scorpio-gateway", "scorpio-full"):
            for label, refresh_s, recheck_s in VARIANTS:
                config = settings.SimulationConfig(
                    policy=policy,
                    profile=profile,
                    engine_settings=engine_settings,
                    context_refresh_s=refresh_s,
                    recheck_interval_s=recheck_s,
                )
                started = time.process_time()
                overall = simulator.simulate(requests, config).summary.overall
                cpu_s = time.process_time() - started
                print(
                    f"{engine_config:<15} {policy:<16} {label:<42} adherence "
                    f"{overall.adherence:.4f} goodput {overall.goodput_rps:6.3f} rejected "
                    f"{overall.rejected:4} cpu {cpu_s:5.2f} s",
                    flush=True,
                )


if __name__ == "__main__":
    main()
