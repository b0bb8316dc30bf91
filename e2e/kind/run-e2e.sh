#!/usr/bin/env bash
# Runs the e2e suite on a kind cluster (for machines with Docker):
#   1. creates the kind cluster of cluster.yaml (or reuses it),
#   2. fakes GPU nodes: labels each worker with a GPU product and patches the nvidia.com/gpu
#      extended resource into its status, as NVIDIA's device plugin would advertise real GPUs,
#   3. builds the sloserve image from the repository's Dockerfile and loads it into the nodes,
#      also under the tag the suite rolls engines to,
#   4. runs `pytest -m e2e e2e/` with SLOSERVE_E2E_KUBECONFIG pointing at the cluster.
# Extra arguments go to pytest. Needs docker, kind, kubectl and helm on PATH, and the repository's
# virtualenv (`make setup`).
#
# Environment:
#   SLOSERVE_KIND_CLUSTER    cluster name (default sloserve-e2e)
#   SLOSERVE_GPU_PRODUCT     the fake GPUs' product label (default NVIDIA-H100-80GB-HBM3)
#   SLOSERVE_GPUS_PER_NODE   the fake GPUs per worker (default 8)
#   SLOSERVE_KIND_KEEP=1     keep the cluster afterwards (default: delete it)
set -euo pipefail
cd "$(dirname "$0")/../.."

cluster=${SLOSERVE_KIND_CLUSTER:-sloserve-e2e}
gpu_product=${SLOSERVE_GPU_PRODUCT:-NVIDIA-H100-80GB-HBM3}
gpus=${SLOSERVE_GPUS_PER_NODE:-8}
python=${PYTHON:-.venv/bin/python}

for tool in docker kind kubectl helm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: $tool is not on PATH; the kind provider needs docker, kind, kubectl and helm" >&2
    exit 1
  fi
done
if [ ! -x "$python" ]; then
  echo "error: $python not found; run 'make setup' first (or set PYTHON)" >&2
  exit 1
fi

app_version=$("$python" -c 'import yaml; print(yaml.safe_load(open("charts/sloserve/Chart.yaml"))["appVersion"])')
image="ghcr.io/sloserve/sloserve:$app_version"
rolled_image="ghcr.io/sloserve/sloserve:e2e-rolled"

work_dir=$(mktemp -d)
kubeconfig="$work_dir/kubeconfig"
cleanup() {
  if [ "${SLOSERVE_KIND_KEEP:-0}" != "1" ]; then
    kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
  fi
  rm -rf "$work_dir"
}
trap cleanup EXIT

if ! kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  kind create cluster --name "$cluster" --config e2e/kind/cluster.yaml --wait 120s
fi
kind get kubeconfig --name "$cluster" >"$kubeconfig"
export KUBECONFIG="$kubeconfig"

for node in $(kubectl get nodes -l sloserve.io/fake-gpu-node=true -o name); do
  kubectl label "$node" --overwrite "nvidia.com/gpu.product=$gpu_product" "nvidia.com/gpu.count=$gpus"
  # The path's "/" in nvidia.com/gpu is written "~1" in a JSON patch.
  kubectl patch "$node" --subresource=status --type=json -p \
    "[{\"op\": \"add\", \"path\": \"/status/capacity/nvidia.com~1gpu\", \"value\": \"$gpus\"}]"
done
kubectl get nodes -L nvidia.com/gpu.product -o custom-columns='NAME:.metadata.name,PRODUCT:.metadata.labels.nvidia\.com/gpu\.product,GPUS:.status.allocatable.nvidia\.com/gpu'

docker build --tag "$image" --tag "$rolled_image" .
kind load docker-image --name "$cluster" "$image" "$rolled_image"

# The suite runs kubectl and helm from this directory.
mkdir -p "$work_dir/bin"
ln -s "$(command -v kubectl)" "$work_dir/bin/kubectl"
ln -s "$(command -v helm)" "$work_dir/bin/helm"

SLOSERVE_E2E_KUBECONFIG="$kubeconfig" SLOSERVE_E2E_BIN_DIR="$work_dir/bin" \
  "$python" -m pytest -m e2e e2e/ "$@"
