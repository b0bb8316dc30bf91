"""Pure builders of the FineTuneJob controller: the worker pod, the throttle's inputs from the
co-served ModelService's status, and the FineTuneJob status patch.

- `worker_pod`: one pod running `sloserve finetune-worker`, owned by the job. A job co-served
  with a ModelService is placed beside that ModelService's engine pods (required pod affinity on
  their labels, per node), and, when the operator's interference predictor chose them, only on
  the nodes where every resident keeps its slowdown limit (required node affinity on their
  names, see `finetune_placement`). A real (`peft`) worker asks for `gpuBudget.gpus` GPUs (on a
  node whose GPUs are shared by time-slicing or MPS, replicas of the engines' GPUs: the device
  plugin exposes a GPU only to a pod that requests one); a simulated worker asks for none.
  Checkpoints go to the claim when one is named, else to an `emptyDir` (a pause survives, a
  move does not). A ConfigMap or PVC dataset is mounted read-only and handed to a real worker
  as `--data-file`.
- `class_signals`: the per-class attainment the operator already writes into the ModelService's
  `status.slo`, as the throttle reads it.
- `status_patch`: progress from the worker's `/status`, the throttle's decision, phase and the
  one-word `steps` column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sloserve.api import finetunejob, modelservice
from sloserve.api.finetune_spec import FineTuneJobSpec, WorkerKind
from sloserve.api.finetune_status import FineTunePhase
from sloserve.api.pod_overlay import GPU_RESOURCE
from sloserve.builders import labels
from sloserve.finetune import coserve
from sloserve.placement.workloads import KIND_ANNOTATION

__all__ = [
    "CHECKPOINT_DIR",
    "CONTROL_PORT",
    "DATASET_DIR",
    "JOB_LABEL",
    "class_signals",
    "phase_of",
    "status_patch",
    "worker_pod",
    "worker_pod_name",
]

CONTROL_PORT = 8010
CHECKPOINT_DIR = "/var/lib/sloserve/checkpoints"
DATASET_DIR = "/var/lib/sloserve/dataset"
DATA_FILE_NAME = "train.jsonl"
_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
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
    nodes: Sequence[str] | None = None,
    workload_kind: str | None = None,
    resources: Mapping[str, Any] | None = None,
    image_pull_policy: str | None = None,
) -> dict[str, Any]:
    """The worker pod of job `namespace`/`name` (uid `uid`), starting at `share`; `nodes`
    limits it to those nodes (None: anywhere its affinity allows), `workload_kind` is the
    placement annotation of its measured stand-in, `resources` replaces its CPU and memory."""
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
    volumes: list[dict[str, Any]] = [
        {"name": "checkpoints", "emptyDir": {}}
        if spec.checkpoints.claim_name is None
        else {
            "name": "checkpoints",
            "persistentVolumeClaim": {"claimName": spec.checkpoints.claim_name},
        }
    ]
    mounts: list[dict[str, Any]] = [{"name": "checkpoints", "mountPath": CHECKPOINT_DIR}]
    data_file = _mount_dataset(spec, volumes, mounts)
    real = spec.worker.kind is WorkerKind.PEFT
    if real and data_file is not None:
        args.append(f"--data-file={data_file}")
    limits = dict((resources or {}).get("limits") or {})
    requests = dict((resources or {}).get("requests") or {"cpu": "250m", "memory": "512Mi"})
    if real:
        limits[GPU_RESOURCE] = str(spec.gpu_budget.gpus)
    container_resources: dict[str, Any] = {"requests": requests}
    if limits:
        container_resources["limits"] = limits
    container: dict[str, Any] = {
        "name": "worker",
        "image": image,
        "command": ["sloserve"],
        "args": args,
        "ports": [{"name": "control", "containerPort": CONTROL_PORT}],
        "readinessProbe": {"httpGet": {"path": "/health", "port": CONTROL_PORT}},
        "volumeMounts": mounts,
        "resources": container_resources,
    }
    if image_pull_policy:
        container["imagePullPolicy"] = image_pull_policy
    pod_spec: dict[str, Any] = {
        "restartPolicy": "OnFailure",
        # the worker never calls the API server: it gets no token to lose
        "automountServiceAccountToken": False,
        "containers": [container],
        "volumes": volumes,
    }
    affinity: dict[str, Any] = {}
    if engine_labels:
        affinity["podAffinity"] = {
            _REQUIRED: [
                {
                    "labelSelector": {"matchLabels": dict(engine_labels)},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    if nodes is not None:
        affinity["nodeAffinity"] = {
            _REQUIRED: {
                "nodeSelectorTerms": [
                    {
                        "matchFields": [
                            {"key": "metadata.name", "operator": "In", "values": sorted(nodes)}
                        ]
                    }
                ]
            }
        }
    if affinity:
        pod_spec["affinity"] = affinity
    annotations = {} if workload_kind is None else {KIND_ANNOTATION: workload_kind}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": worker_pod_name(name),
            "namespace": namespace,
            "labels": {labels.MANAGED_BY: labels.MANAGER, JOB_LABEL: name},
            "annotations": annotations,
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


def _mount_dataset(
    spec: FineTuneJobSpec, volumes: list[dict[str, Any]], mounts: list[dict[str, Any]]
) -> str | None:
    """Adds the dataset's volume and mount (ConfigMap or PVC, read-only); returns the data's
    path in the container, or None for a hub dataset (fetched by the worker, not mounted)."""
    dataset = spec.dataset
    if dataset.config_map is not None:
        volumes.append(
            {
                "name": "dataset",
                "configMap": {
                    "name": dataset.config_map.name,
                    "items": [{"key": dataset.config_map.key, "path": DATA_FILE_NAME}],
                },
            }
        )
        mounts.append({"name": "dataset", "mountPath": DATASET_DIR, "readOnly": True})
        return f"{DATASET_DIR}/{DATA_FILE_NAME}"
    if dataset.pvc is not None:
        volumes.append(
            {
                "name": "dataset",
                "persistentVolumeClaim": {"claimName": dataset.pvc.claim_name, "readOnly": True},
            }
        )
        mounts.append({"name": "dataset", "mountPath": DATASET_DIR, "readOnly": True})
        return f"{DATASET_DIR}/{dataset.pvc.path.lstrip('/')}"
    return None


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
