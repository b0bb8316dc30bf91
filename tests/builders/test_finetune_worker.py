"""The FineTuneJob controller's pure builders: the worker pod, the throttle's inputs from a
ModelService's status, and the status patch."""

from __future__ import annotations

from pathlib import Path

import yaml

from sloserve.api import finetunejob
from sloserve.builders import finetune_worker, labels
from sloserve.finetune import coserve

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "samples" / "finetunejob-sim.yaml"


def _spec(**changes: object) -> finetunejob.FineTuneJobSpec:
    document = yaml.safe_load(SAMPLE.read_text())
    document["spec"].update(changes)
    return finetunejob.FineTuneJob.model_validate(document).spec


def _pod(spec: finetunejob.FineTuneJobSpec, *, share: float = 0.0) -> dict[str, object]:
    engine = labels.selector_labels("llama-8b-sim") if spec.model_service else None
    return finetune_worker.worker_pod(
        name="support-adapter", namespace="team-a", uid="u-1", spec=spec,
        image="sloserve:dev", engine_labels=engine, share=share,
    )  # fmt: skip


def test_a_co_served_worker_sits_beside_the_engines_and_asks_for_no_gpu() -> None:
    pod = _pod(_spec())
    pod_spec = pod["spec"]
    assert isinstance(pod_spec, dict)
    term = pod_spec["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["labelSelector"]["matchLabels"] == labels.selector_labels("llama-8b-sim")
    assert term["topologyKey"] == "kubernetes.io/hostname"
    container = pod_spec["containers"][0]
    assert "limits" not in container["resources"]
    assert "--paused" in container["args"]  # the throttle starts it, from share 0
    assert "--steps=2000" in container["args"]
    assert "--rank=16" in container["args"]


def test_the_worker_checkpoints_to_the_named_claim() -> None:
    pod = _pod(_spec(checkpoints={"claimName": "ft-checkpoints", "everySteps": 20}), share=0.5)
    pod_spec = pod["spec"]
    assert isinstance(pod_spec, dict)
    assert pod_spec["volumes"][0] == {
        "name": "checkpoints",
        "persistentVolumeClaim": {"claimName": "ft-checkpoints"},
    }
    assert "--checkpoint-every=20" in pod_spec["containers"][0]["args"]
    assert "--paused" not in pod_spec["containers"][0]["args"]


def test_a_real_job_on_its_own_base_model_asks_for_its_gpus() -> None:
    spec = _spec(
        modelService=None,
        baseModel={"id": "meta-llama/Llama-3.2-1B"},
        worker={"kind": "peft"},
        gpuBudget={"gpus": 2},
    )
    pod = _pod(spec, share=1.0)
    pod_spec = pod["spec"]
    assert isinstance(pod_spec, dict)
    container = pod_spec["containers"][0]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "2"}
    assert "--model=meta-llama/Llama-3.2-1B" in container["args"]
    assert "affinity" not in pod_spec


def test_the_throttle_reads_each_classes_attainment_from_the_modelservice_status() -> None:
    status = {
        "slo": {
            "classes": [
                {"name": "interactive", "attainment": 0.95},
                {"name": "batch"},
            ]
        }
    }
    signals = finetune_worker.class_signals(status, target_attainment=0.98)
    assert [(s.name, s.attainment) for s in signals] == [("interactive", 0.95), ("batch", None)]
    assert finetune_worker.class_signals(None, target_attainment=0.98) == []


def test_the_status_shows_progress_and_the_throttle() -> None:
    decision = coserve.ThrottleDecision(
        share=0.25, action=coserve.ThrottleAction.RUN, reason="interactive headroom", headroom=0.1
    )
    worker = {"state": "running", "completedSteps": 120, "totalSteps": 2000,
              "checkpointStep": 100, "tokensPerSecond": 5400.0, "loss": 9.1}  # fmt: skip
    patch = finetune_worker.status_patch(
        worker=worker, decision=decision, micro_batch=4, max_share=0.5, node="gpu-1",
        pod="support-adapter-ft-worker", updated_at="2026-12-04T00:00:00+00:00", generation=2,
    )  # fmt: skip
    assert patch["phase"] == "Throttled"
    assert patch["steps"] == "120/2000"
    assert patch["progress"]["checkpointStep"] == 100
    assert patch["throttle"]["share"] == 0.25
    status = finetunejob.FineTuneJobStatus.model_validate(patch)
    assert status.node == "gpu-1"


def test_a_paused_or_finished_worker_has_its_phase() -> None:
    assert finetune_worker.phase_of("paused", None, max_share=1.0).value == "Paused"
    assert finetune_worker.phase_of("done", None, max_share=1.0).value == "Succeeded"
    assert finetune_worker.phase_of(None, None, max_share=1.0).value == "Pending"


def test_the_worker_runs_the_sloserve_command_with_the_dataset_mounted_read_only() -> None:
    pod = _pod(_spec())
    pod_spec = pod["spec"]
    assert isinstance(pod_spec, dict)
    container = pod_spec["containers"][0]
    assert container["command"] == ["sloserve"]
    assert container["args"][0] == "finetune-worker"
    volumes = {volume["name"]: volume for volume in pod_spec["volumes"]}
    assert volumes["dataset"]["configMap"] == {
        "name": "support-tickets",
        "items": [{"key": "train.jsonl", "path": "train.jsonl"}],
    }
    mounts = {mount["name"]: mount for mount in container["volumeMounts"]}
    assert mounts["dataset"] == {
        "name": "dataset",
        "mountPath": finetune_worker.DATASET_DIR,
        "readOnly": True,
    }
    assert pod_spec["automountServiceAccountToken"] is False
    # the simulated worker reads no data
    assert not any(arg.startswith("--data-file") for arg in container["args"])


def test_a_real_co_served_worker_asks_for_gpus_and_reads_the_mounted_data() -> None:
    spec = _spec(
        worker={"kind": "peft"},
        gpuBudget={"gpus": 1},
        dataset={"pvc": {"claimName": "corpus", "path": "/tickets/train.jsonl"}},
    )
    pod = _pod(spec)
    pod_spec = pod["spec"]
    assert isinstance(pod_spec, dict)
    container = pod_spec["containers"][0]
    # the device plugin exposes a (shared) GPU only to a pod that requests one
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert f"--data-file={finetune_worker.DATASET_DIR}/tickets/train.jsonl" in container["args"]
    volumes = {volume["name"]: volume for volume in pod_spec["volumes"]}
    assert volumes["dataset"]["persistentVolumeClaim"] == {"claimName": "corpus", "readOnly": True}


def test_the_nodes_placement_chose_are_required_and_the_kind_annotated() -> None:
    pod = finetune_worker.worker_pod(
        name="support-adapter", namespace="team-a", uid="u-1", spec=_spec(),
        image="sloserve:dev", engine_labels=labels.selector_labels("llama-8b-sim"), share=0.0,
        nodes=["node-b", "node-a"], workload_kind="peft_1b_b4_s512_r16",
        resources={"requests": {"cpu": "1", "memory": "1Gi"}}, image_pull_policy="Never",
    )  # fmt: skip
    pod_spec = pod["spec"]
    assert isinstance(pod_spec, dict)
    required = pod_spec["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert required["nodeSelectorTerms"] == [
        {
            "matchFields": [
                {"key": "metadata.name", "operator": "In", "values": ["node-a", "node-b"]}
            ]
        }
    ]
    assert "podAffinity" in pod_spec["affinity"]
    metadata = pod["metadata"]
    assert isinstance(metadata, dict)
    assert metadata["annotations"] == {"placement.sloserve.io/workload-kind": "peft_1b_b4_s512_r16"}
    container = pod_spec["containers"][0]
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "1Gi"}}
    assert container["imagePullPolicy"] == "Never"
