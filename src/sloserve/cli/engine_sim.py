"""`sloserve engine-sim`: run the engine simulator as a vLLM-compatible server.

It takes `vllm serve`'s flags, so a pod spec written for vLLM runs it unchanged: the model may be
given positionally or with --model, and vLLM flags that mean nothing to a simulator (--dtype,
--enforce-eager, ...) are accepted with a logged warning. Flags of its own: --profile,
--slowdown, --time-scale, --cpu-overhead-ms and the `credit` scheduling policy.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import click
import prometheus_client
import uvicorn

from sloserve.engine import config, profiles
from sloserve.engine.server import app as server_app
from sloserve.engine.server import runtime

logger = logging.getLogger("sloserve.engine_sim")


@click.command(
    "engine-sim",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.option("--model", default=None, help="Model name (vLLM's --model); also positional.")
@click.option(
    "--served-model-name",
    "served_model_names",
    multiple=True,
    help="Name clients send as `model` (repeatable; default: the model).",
)
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--max-num-seqs", type=int, default=None, help="Most running requests (vLLM's default)."
)
@click.option(
    "--max-num-batched-tokens",
    type=int,
    default=None,
    help="Token budget per step (8192 on H100-class GPUs).",
)
@click.option(
    "--scheduling-policy",
    type=click.Choice([p.value for p in config.Policy]),
    default="fcfs",
    show_default=True,
    help="fcfs, priority (vLLM's) or credit (SCORPIO's credit-based batching).",
)
@click.option("--gpu-memory-utilization", type=float, default=0.9, show_default=True)
@click.option("--block-size", type=int, default=16, show_default=True)
@click.option("--max-model-len", type=int, default=8192, show_default=True)
@click.option("--tensor-parallel-size", type=int, default=1, show_default=True)
@click.option("--enable-chunked-prefill/--no-enable-chunked-prefill", default=True)
@click.option(
    "--enable-prefix-caching/--no-enable-prefix-caching",
    default=True,
    help="Automatic prefix caching of prompt blocks (on, as in vLLM V1).",
)
@click.option(
    "--num-gpu-blocks-override", type=int, default=None, help="KV blocks, instead of computing."
)
@click.option(
    "--profile",
    "profile_reference",
    default=profiles.DEFAULT_PROFILE,
    show_default=True,
    help="Latency profile: a shipped name, a path to a profile JSON file, or 'synthetic'.",
)
@click.option(
    "--slowdown", type=float, default=1.0, show_default=True, help="Co-location slowdown."
)
@click.option(
    "--time-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Multiplier on step times; 0 answers at once.",
)
@click.option(
    "--cpu-overhead-ms", type=float, default=None, help="Per-step CPU time (default: profile's)."
)
@click.option(
    "--uvicorn-log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug", "trace"]),
    default="info",
    show_default=True,
)
@click.pass_context
def engine_sim(
    ctx: click.Context,
    *,
    model: str | None,
    served_model_names: tuple[str, ...],
    host: str,
    port: int,
    max_num_seqs: int | None,
    max_num_batched_tokens: int | None,
    scheduling_policy: str,
    gpu_memory_utilization: float,
    block_size: int,
    max_model_len: int,
    tensor_parallel_size: int,
    enable_chunked_prefill: bool,
    enable_prefix_caching: bool,
    num_gpu_blocks_override: int | None,
    profile_reference: str,
    slowdown: float,
    time_scale: float,
    cpu_overhead_ms: float | None,
    uvicorn_log_level: str,
) -> None:
    """Serve a simulated vLLM engine timed by a measured latency profile."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # vLLM exposes no `_created` series; neither does this process
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    positional_model = warn_about_extra_arguments(ctx.args)
    try:
        settings = build_settings(
            model=model or positional_model,
            served_model_names=served_model_names,
            max_num_seqs=max_num_seqs,
            max_num_batched_tokens=max_num_batched_tokens,
            scheduling_policy=scheduling_policy,
            gpu_memory_utilization=gpu_memory_utilization,
            block_size=block_size,
            max_model_len=max_model_len,
            tensor_parallel_size=tensor_parallel_size,
            enable_chunked_prefill=enable_chunked_prefill,
            enable_prefix_caching=enable_prefix_caching,
            num_gpu_blocks_override=num_gpu_blocks_override,
            profile_reference=profile_reference,
            slowdown=slowdown,
            time_scale=time_scale,
            cpu_overhead_ms=cpu_overhead_ms,
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    engine = settings.engine
    logger.info(
        "serving %s as %s: profile %s, policy %s, max_num_seqs %d, max_num_batched_tokens %d, "
        "%d KV blocks of %d tokens, slowdown %g, time scale %g",
        settings.model, list(settings.served_model_names), settings.profile.name,
        engine.policy.value, engine.max_num_seqs, engine.max_num_batched_tokens,
        engine.num_gpu_blocks, engine.block_size, settings.slowdown, settings.time_scale,
    )  # fmt: skip
    uvicorn.run(
        server_app.create_app(settings),
        host=host,
        port=port,
        log_level=uvicorn_log_level,
        timeout_graceful_shutdown=5,
    )


def build_settings(
    *,
    model: str | None,
    served_model_names: Sequence[str],
    max_num_seqs: int | None,
    max_num_batched_tokens: int | None,
    scheduling_policy: str,
    gpu_memory_utilization: float,
    block_size: int,
    max_model_len: int,
    tensor_parallel_size: int,
    enable_chunked_prefill: bool,
    num_gpu_blocks_override: int | None,
    profile_reference: str,
    slowdown: float,
    time_scale: float,
    cpu_overhead_ms: float | None,
    enable_prefix_caching: bool = True,
) -> runtime.ServerSettings:
    """Server settings from the flags; raises ValueError naming the flag that is wrong."""
    profile = profiles.resolve(profile_reference)
    if tensor_parallel_size != 1:
        logger.warning(
            "--tensor-parallel-size %d: the KV cache gets the memory of %d GPUs, but step times "
            "still come from the single-GPU profile %s",
            tensor_parallel_size, tensor_parallel_size, profile.name,
        )  # fmt: skip
    if block_size < 1:
        raise ValueError(f"--block-size must be at least 1, got {block_size}")
    default_seqs, default_tokens = config.default_batching_limits(profile)
    # `is None`, not falsiness: an explicit 0 must reach validation and be refused by name.
    blocks = (
        num_gpu_blocks_override
        if num_gpu_blocks_override is not None
        else config.kv_blocks_for_profile(
            profile,
            block_size=block_size,
            gpu_memory_utilization=gpu_memory_utilization,
            tensor_parallel_size=tensor_parallel_size,
        )
    )
    engine = config.EngineConfig(
        max_num_seqs=max_num_seqs if max_num_seqs is not None else default_seqs,
        max_num_batched_tokens=(
            max_num_batched_tokens if max_num_batched_tokens is not None else default_tokens
        ),
        num_gpu_blocks=blocks,
        block_size=block_size,
        max_model_len=max_model_len,
        enable_chunked_prefill=enable_chunked_prefill,
        policy=config.Policy(scheduling_policy),
        enable_prefix_caching=enable_prefix_caching,
    )
    name = model or profile.model.shape
    if not slowdown > 0:
        raise ValueError(f"--slowdown must be above zero (1 = alone on the GPU), got {slowdown}")
    if not time_scale >= 0:
        raise ValueError(f"--time-scale must be at or above zero, got {time_scale}")
    if cpu_overhead_ms is not None and not cpu_overhead_ms >= 0:
        raise ValueError(f"--cpu-overhead-ms must be at or above zero, got {cpu_overhead_ms}")
    return runtime.ServerSettings(
        model=name,
        served_model_names=tuple(served_model_names) or (name,),
        profile=profile,
        engine=engine,
        slowdown=slowdown,
        time_scale=time_scale,
        cpu_overhead_ms=cpu_overhead_ms,
    )


def warn_about_extra_arguments(arguments: Sequence[str]) -> str | None:
    """Log each vLLM flag the simulator ignores; returns a positional model name if one leads.

    vLLM takes the model positionally (`vllm serve MODEL`); anything else that click did not
    recognise is a vLLM flag (with its value) that has no meaning for a simulator.
    """
    positional: str | None = None
    index = 0
    if arguments and not arguments[0].startswith("-"):
        positional = arguments[0]
        index = 1
    while index < len(arguments):
        flag = arguments[index]
        value = None
        has_value = index + 1 < len(arguments) and not arguments[index + 1].startswith("-")
        if flag.startswith("-") and "=" not in flag and has_value:
            value = arguments[index + 1]
            index += 1
        index += 1
        shown = f"{flag} {value}" if value is not None else flag
        if flag.startswith("-"):
            logger.warning("ignoring vLLM option %s: it has no effect on the simulator", shown)
        else:
            logger.warning("ignoring extra argument %r: only one positional model is taken", flag)
    return positional
