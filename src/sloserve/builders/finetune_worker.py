"""Pure builders of the FineTuneJob controller: the worker pod, the throttle's inputs from the
co-served ModelService's status, and the FineTuneJob status patch.

- `worker_pod`: one pod running `sloserve finetune-worker`, owned by the job. A job co-served
  with a ModelService is placed beside that ModelService's engine pods (required pod affinity on
  their labels, per node) and asks for no GPU of its own: it shares the engines' GPUs through
  the node's GPU sharing (time-slicing or MPS), which is what its share throttles. A job on a
  base model of its own asks for `gpuBudget.gpus` GPUs. Checkpoints go to the claim when one
  is named, else to an `emptyDir` (a pause survives, a move does not).
- `class_signals`: the per-class attainment the operator already writes into the ModelService's
  `status.slo`, as the throttle reads it.
- `status_patch`: progress from the worker's `/status`, the throttle's decision, phase and the
  one-word `steps` column.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sloserve.api import finetunejob, modelservice
from sloserve.api.finetune_spec import FineTuneJobSpec
from sloserve.api.finetune_status import FineTunePhase
from sloserve.builders import labels
from sloserve.finetune import coserve

__all__ = [
    "CHECKPOINT_DIR",
    "CONTROL_PORT",
    "JOB_LABEL",
    "class_signals",
    "phase_of",
    "status_patch",
    "worker_pod",
    "worker_pod_name",
]

CONTROL_PORT = 8010
CHECKPOINT_DIR = "/var/lib/sloserve/checkpoints"
JOB_LABEL = "sloserve.io/finetunejob"
_DEFAULT_EPOCH_STEPS = 1000


def worker_pod_name(job_name: str) -> str:
    """The worker pod's name: the job's, with a suffix that keeps it a valid name."""
    return f"{job_name[:52]}-ft-worker"


def _total_steps(spec: FineTuneJobSpec) -> int:
    training = spec.training
    if training.steps is not None:
        return training.steps
    # Epochs need the dataset's size, which only the worker sees; until it reports it, an
    # epoch counts as a fixed number of steps.
    return (training.epochs or 1) * _DEFAULT_EPOCH_STEPS


def worker_pod(
    *,
    name: str,
    namespace: str,
    uid: str,
    spec: FineTuneJobSpec,
    image: str,
    engine_labels: Mapping[str, str] | None,
    share: float,
) -> dict[str, Any]:
    """The worker pod of job `namespace`/`name` (uid `uid`), starting at `share`."""
    training = spec.training
    adapter = spec.adapter
    args = [
        "finetune-worker",
        f"--job={name}",
        f"--mode={spec.worker.kind.value}",
        f"--steps={_total_steps(spec)}",
        f"--micro-batch={training.micro_batch_size}",
        f"--seq-len={training.sequence_length}",
        f"--rank={adapter.rank}",
        f"--alpha={adapter.effective_alpha:g}",
        *(f"--target={module}" for module in adapter.target_modules),
        f"--share={max(share, 0.01):g}",
        f"--learning-rate={training.learning_rate:g}",
        f"--checkpoint-dir={CHECKPOINT_DIR}",
        f"--checkpoint-every={spec.checkpoints.every_steps}",
        f"--port={CONTROL_PORT}",
    ]
    if spec.base_model is not None:
        args.append(f"--model={spec.base_model.id}")
    if spec.paused or share <= 0:
        args.append("--paused")
    volume: dict[str, Any] = (
        {"name": "checkpoints", "emptyDir": {}}
        if spec.checkpoints.claim_name is None
        else {
            "name": "checkpoints",
            "persistentVolumeClaim": {"claimName": spec.checkpoints.claim_name},
        }
    )
    resources: dict[str, Any] = {"requests": {"cpu": "250m", "memory": "512Mi"}}
    pod_spec: dict[str, Any] = {
        "restartPolicy": "OnFailure",
        "containers": [
            {
                "name": "worker",
                "image": image,
                "args": args,
                "ports": [{"name": "control", "containerPort": CONTROL_PORT}],
                "readinessProbe": {"httpGet": {"path": "/health", "port": CONTROL_PORT}},
                "volumeMounts": [{"name": "checkpoints", "mountPath": CHECKPOINT_DIR}],
                "resources": resources,
            }
        ],
        "volumes": [volume],
    }
    if engine_labels:
        pod_spec["affinity"] = {
            "podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {"matchLabels": dict(engine_labels)},
                        "topologyKey": "kubernetes.io/hostname",
                    }
                ]
            }
        }
    elif spec.worker.kind.value == "peft":
        gpus = str(spec.gpu_budget.gpus)
        resources["limits"] = {"nvidia.com/gpu": gpus}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": worker_pod_name(name),
            "namespace": namespace,
            "labels": {labels.MANAGED_BY: labels.MANAGER, JOB_LABEL: name},
            "ownerReferences": [
                {
                    "apiVersion": modelservice.API_VERSION,
                    "kind": finetunejob.KIND,
                    "name": name,
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": pod_spec,
    }


def class_signals(
    modelservice_status: Mapping[str, Any] | None, *, target_attainment: float
) -> list[coserve.ClassSignals]:
    """The throttle's inputs from a ModelService's status: each class's attainment over the
    operator's SLO window (a class without requests in it has no signal)."""
    slo = (modelservice_status or {}).get("slo") or {}
    signals = []
    for entry in slo.get("classes") or ():
        attainment = entry.get("attainment")
        signals.append(
            coserve.ClassSignals(
                name=str(entry.get("name", "")),
                attainment=None if attainment is None else float(attainment),
                target_attainment=target_attainment,
            )
        )
    return signals


def phase_of(
    worker_state: str | None, decision: coserve.ThrottleDecision | None, *, max_share: float
) -> FineTunePhase:
    """The job's phase from the worker's state and the throttle's decision."""
    if worker_state == "done":
        return FineTunePhase.SUCCEEDED
    if worker_state is None:
        return FineTunePhase.PENDING
    if worker_state == "paused":
        return FineTunePhase.PAUSED
    if decision is not None and decision.share < max_share:
        return FineTunePhase.THROTTLED
    return FineTunePhase.RUNNING


def status_patch(
    *,
    worker: Mapping[str, Any] | None,
    decision: coserve.ThrottleDecision | None,
    micro_batch: int,
    max_share: float,
    node: str | None,
    pod: str | None,
    updated_at: str,
    generation: int,
) -> dict[str, Any]:
    """The FineTuneJob's status merge patch from the worker's `/status` document (None: not
    reachable yet) and the throttle's decision."""
    state = None if worker is None else str(worker.get("state"))
    patch: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": phase_of(state, decision, max_share=max_share).value,
        "pod": pod,
        "node": node,
    }
    if worker is not None:
        completed = int(worker.get("completedSteps", 0))
        total = int(worker.get("totalSteps", 0))
        patch["progress"] = {
            "completedSteps": completed,
            "totalSteps": total,
            "checkpointStep": int(worker.get("checkpointStep", 0)),
            "tokensPerSecond": float(worker.get("tokensPerSecond", 0.0)),
            "loss": worker.get("loss"),
            "updatedAt": updated_at,
        }
        patch["steps"] = f"{completed}/{total}"
    if decision is not None:
        patch["throttle"] = {
            "share": round(decision.share, 4),
            "microBatchSize": micro_batch,
            "reason": decision.reason,
            "headroom": None if decision.headroom is None else round(decision.headroom, 4),
        }
    return patch
