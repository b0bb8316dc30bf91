"""`sloserve finetune-worker`: a LoRA fine-tuning worker with a control endpoint and metrics.

`--mode sim` (the default) trains nothing: its steps are timed by the measured H200 step costs
(`sloserve.finetune.step_costs`), so the local cluster and the simulator run it without a GPU.
`--mode peft` runs the real PEFT loop and needs the `finetune` extra (torch, transformers, peft)
and a usable GPU: without one it refuses to start, unless `--allow-cpu` (for tests) is given.
Both checkpoint to `--checkpoint-dir` and resume from it.
"""

from __future__ import annotations

import time
from pathlib import Path

import click
import uvicorn

from sloserve.finetune import step_costs, trainer, worker


@click.command("finetune-worker")
@click.option("--job", default="finetune", show_default=True, help="Job name (labels the metrics).")
@click.option("--mode", type=click.Choice(["sim", "peft"]), default="sim", show_default=True)
@click.option("--steps", type=click.IntRange(min=1), required=True, help="Steps to run in all.")
@click.option("--micro-batch", type=click.IntRange(1, 1024), default=4, show_default=True)
@click.option("--seq-len", type=click.IntRange(16, 131072), default=512, show_default=True)
@click.option("--rank", type=click.IntRange(1, 1024), default=16, show_default=True)
@click.option("--alpha", type=float, default=None, help="LoRA alpha (default: twice the rank).")
@click.option(
    "--target",
    "targets",
    multiple=True,
    default=("q_proj", "k_proj", "v_proj", "o_proj"),
    show_default=True,
    help="Module the adapter wraps (repeatable).",
)
@click.option("--share", type=click.FloatRange(0, 1, min_open=True), default=1.0, show_default=True)
@click.option("--learning-rate", type=float, default=2e-4, show_default=True)
@click.option(
    "--checkpoint-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory of the checkpoints; a worker started on one resumes from it.",
)
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--model", default=None, help="Base model (hub id or path), for --mode peft.")
@click.option(
    "--data-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help='JSON lines with a "text" field (--mode peft; default random tokens).',
)
@click.option(
    "--allow-cpu",
    is_flag=True,
    help="--mode peft: train on the CPU when no GPU is usable (tests only); without it the "
    "worker refuses to start.",
)
@click.option("--paused", is_flag=True, help="Start paused.")
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", type=int, default=8010, show_default=True)
def finetune_worker(
    job: str,
    mode: str,
    steps: int,
    micro_batch: int,
    seq_len: int,
    rank: int,
    alpha: float | None,
    targets: tuple[str, ...],
    share: float,
    learning_rate: float,
    checkpoint_dir: Path,
    checkpoint_every: int,
    model: str | None,
    data_file: Path | None,
    allow_cpu: bool,
    paused: bool,
    host: str,
    port: int,
) -> None:
    """Run a LoRA fine-tuning worker (simulated or real) with a control endpoint and metrics."""
    settings = trainer.TrainerSettings(
        total_steps=steps,
        micro_batch=micro_batch,
        seq_len=seq_len,
        rank=rank,
        targets=targets,
        share=share,
        checkpoint_every=checkpoint_every,
    )
    store = trainer.CheckpointStore(checkpoint_dir)
    now_s = time.monotonic()
    loop: worker.Trainer
    if mode == "sim":
        loop = trainer.SimulatedTrainer(settings, step_costs.load_table(), now_s=now_s, store=store)
    else:
        if model is None:
            raise click.UsageError("--model is required with --mode peft")
        from sloserve.finetune import peft_loop

        try:
            loop = peft_loop.PeftTrainer(
                settings,
                model=model,
                now_s=now_s,
                store=store,
                alpha=alpha,
                learning_rate=learning_rate,
                data_file=data_file,
                allow_cpu=allow_cpu,
            )
        except (peft_loop.MissingExtraError, peft_loop.NoGpuError) as error:
            raise click.ClickException(str(error)) from error
    if paused:
        loop.pause(now_s)
    driver = worker.Driver(loop)
    driver.start()
    try:
        uvicorn.run(worker.build_app(driver, job=job), host=host, port=port, log_level="info")
    finally:
        driver.stop()
