"""`sloserve dev vllm-env` and `sloserve dev vllm-serve`: real vLLM on this machine's CPU."""

from __future__ import annotations

import json
import os
import pathlib

import click

from sloserve_dev.real_vllm import environment, server, tiny_model


def _ensure_all(force: bool) -> tuple[environment.VllmEnvironment, pathlib.Path]:
    try:
        env = environment.ensure(force=force)
        model = tiny_model.ensure(env, force=force)
    except (environment.BuildError, tiny_model.ModelError) as error:
        raise click.ClickException(str(error)) from error
    return env, model


@click.command("vllm-env")
@click.option("--force", is_flag=True, help="Build the virtualenv and the model again.")
def vllm_env(force: bool) -> None:
    """Build the vLLM-on-CPU virtualenv and the tiny model into the cache (once); print where
    they are as JSON."""
    env, model = _ensure_all(force)
    click.echo(
        json.dumps(
            {
                "vllm_version": env.vllm_version,
                "python": str(env.python),
                "model": str(model),
                "venv_build": environment.build_record(env.vllm_version),
                "model_build": tiny_model.build_record(env),
            },
            indent=2,
        )
    )


@click.command(
    "vllm-serve", context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--kv-cache-gib", type=click.FloatRange(min=0.1), default=1.0, show_default=True)
@click.option("--max-model-len", type=click.IntRange(min=16), default=1024, show_default=True)
@click.option("--max-num-seqs", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--served-model-name", default=tiny_model.NAME, show_default=True)
@click.pass_context
def vllm_serve(
    ctx: click.Context,
    *,
    port: int,
    kv_cache_gib: float,
    max_model_len: int,
    max_num_seqs: int,
    served_model_name: str,
) -> None:
    """Run real vLLM's OpenAI server with the tiny model on 127.0.0.1, in the foreground; other
    arguments go to vLLM as they are."""
    env, model = _ensure_all(force=False)
    options = server.ServerOptions(
        served_model_name=served_model_name,
        max_model_len=max_model_len,
        max_num_seqs=max_num_seqs,
        kv_cache_gib=kv_cache_gib,
        extra_args=tuple(ctx.args),
    )
    temp_dir = env.runtime_cache / "serve-tmp"
    temp_dir.mkdir(parents=True, exist_ok=True)
    argv = server.command(env, options.arguments(model=model, port=port))
    # vLLM takes this process's place, so a signal sent to it (Ctrl-C, SIGTERM) reaches vLLM
    os.execve(argv[0], argv, env.process_env(temp_dir=temp_dir, kv_cache_gib=kv_cache_gib))
