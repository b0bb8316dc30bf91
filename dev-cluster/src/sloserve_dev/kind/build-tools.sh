#!/usr/bin/env bash
# Builds what a local kind cluster needs beside the control plane's binaries, from the Go module
# proxy, once, into the same cache: kubeadm, kubelet and kube-proxy (the node's Kubernetes), kind
# itself, CoreDNS without any upstream-forwarding plugin, and sloserve's own small programs (the
# runc wrapper and the pod sandbox's pause). A binary already in the cache is kept.
#
# Environment:
#   SLOSERVE_KUBE_VERSION      Kubernetes release (default v1.34.4); its module must be resolved
#                              already (build-binaries.sh does that)
#   SLOSERVE_KIND_VERSION      kind release (default v0.33.0)
#   SLOSERVE_COREDNS_VERSION   CoreDNS release (default v1.12.1, what kubeadm v1.34 deploys)
#   SLOSERVE_CACHE_DIR         cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/sloserve)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
kube_version=${SLOSERVE_KUBE_VERSION:-v1.34.4}
kind_version=${SLOSERVE_KIND_VERSION:-v0.33.0}
coredns_version=${SLOSERVE_COREDNS_VERSION:-v1.12.1}
cache_root=${SLOSERVE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sloserve}
kube_bin="$cache_root/kube-$kube_version/bin"
kube_mod="$cache_root/kube-$kube_version/build/kubernetes"
kind_bin="$cache_root/kind-$kind_version/bin"
coredns_dir="$cache_root/coredns-$coredns_version"
tools_bin="$cache_root/kind-tools/bin"
mkdir -p "$kube_bin" "$kind_bin" "$coredns_dir/bin" "$tools_bin"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local

if [ ! -f "$kube_mod/go.mod" ]; then
  echo "error: $kube_mod/go.mod is missing; run \`sloserve dev build\` first" >&2
  exit 1
fi

build_node_kube() {
  local targets=()
  for cmd in kubeadm kubelet kube-proxy; do
    [ -x "$kube_bin/$cmd" ] || targets+=("k8s.io/kubernetes/cmd/$cmd")
  done
  [ ${#targets[@]} -eq 0 ] && return
  local minor flags="" build_date
  minor=$(echo "$kube_version" | cut -d. -f2)
  build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
  done
  echo "building ${targets[*]} ($kube_version)" >&2
  (cd "$kube_mod" && go build -trimpath -ldflags "-s -w $flags" -o "$kube_bin/" "${targets[@]}")
}

build_kind() {
  [ -x "$kind_bin/kind" ] && return
  echo "building kind $kind_version" >&2
  GOBIN="$kind_bin" GOFLAGS= go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kind@$kind_version"
}

# kind's node files (entrypoint, systemd units, sysctls) come from the same module release.
kind_module_dir() {
  (cd "$kind_bin" && GOFLAGS= go mod download -json "sigs.k8s.io/kind@$kind_version" \
    | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
}

build_coredns() {
  [ -x "$coredns_dir/bin/coredns" ] && return
  echo "building CoreDNS $coredns_version (no forward, no loop)" >&2
  local mod_dir="$coredns_dir/build"
  rm -rf "$mod_dir" && mkdir -p "$mod_dir"
  cp "$here/tools/coredns/main.go" "$mod_dir/"
  (cd "$mod_dir" && go mod init sloserve.local/coredns >/dev/null 2>&1 \
    && go get "github.com/coredns/coredns@$coredns_version" >/dev/null 2>&1 \
    && go mod tidy >/dev/null 2>&1 \
    && go build -trimpath -ldflags "-s -w" -o "$coredns_dir/bin/coredns" .)
}

build_own_tools() {
  (cd "$here/tools" && go build -trimpath -ldflags "-s -w" -o "$tools_bin/" ./runc-wrapper ./pause)
}

build_own_tools
build_kind
build_node_kube
build_coredns
echo "kind_module=$(kind_module_dir)"
