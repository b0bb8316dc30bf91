#!/usr/bin/env bash
# Builds the local control plane's binaries from the Go module proxy, once, into a cache outside the
# repository: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and helm.
# Re-running is cheap: a binary already in the cache is kept.
#
# Environment:
#   SLOSERVE_KUBE_VERSION   Kubernetes release to build (default v1.34.4)
#   SLOSERVE_ETCD_VERSION   etcd release (default v3.6.16)
#   SLOSERVE_HELM_VERSION   Helm release (default v3.19.0)
#   SLOSERVE_CACHE_DIR      cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/sloserve)
set -euo pipefail

kube_version=${SLOSERVE_KUBE_VERSION:-v1.34.4}
etcd_version=${SLOSERVE_ETCD_VERSION:-v3.6.16}
helm_version=${SLOSERVE_HELM_VERSION:-v3.19.0}
cache_root=${SLOSERVE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sloserve}
bin_dir="$cache_root/kube-$kube_version/bin"
work_dir="$cache_root/kube-$kube_version/build"
mkdir -p "$bin_dir" "$work_dir"

if ! command -v go >/dev/null 2>&1; then
  echo "error: the Go toolchain is needed to build the local control plane (install Go >= 1.24)" >&2
  exit 1
fi

# Staging modules (k8s.io/api, k8s.io/client-go, ...) are published as v0.<minor>.<patch>.
staging_version="v0.${kube_version#v1.}"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local

build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
minor=$(echo "$kube_version" | cut -d. -f2)
version_flags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  version_flags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  version_flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

build_kube() {
  local mod_dir="$work_dir/kubernetes"
  mkdir -p "$mod_dir"
  if [ ! -f "$mod_dir/go.mod" ]; then
    echo "resolving k8s.io/kubernetes $kube_version from the Go module proxy" >&2
    # Written aside and moved into place at the end, so that an interrupted run starts over.
    local scratch="$work_dir/kubernetes.tmp"
    rm -rf "$scratch" && mkdir -p "$scratch"
    (cd "$scratch" && go mod init sloserve.local/kubebuild >/dev/null 2>&1)
    # k8s.io/kubernetes points its staging modules at ./staging; point them at the published ones.
    local upstream_mod
    upstream_mod=$(cd "$scratch" && go mod download -json "k8s.io/kubernetes@$kube_version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    {
      echo "require k8s.io/kubernetes $kube_version"
      grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$upstream_mod" \
        | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
    } >>"$scratch/go.mod"
    mv "$scratch/go.mod" "$mod_dir/go.mod"
    rm -rf "$scratch"
  fi
  local targets=()
  for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    [ -x "$bin_dir/$cmd" ] || targets+=("k8s.io/kubernetes/cmd/$cmd")
  done
  if [ ${#targets[@]} -gt 0 ]; then
    echo "building ${targets[*]} ($kube_version); the first build takes a while" >&2
    (cd "$mod_dir" && go build -trimpath -ldflags "-s -w $version_flags" -o "$bin_dir/" "${targets[@]}")
  fi
}

build_etcd() {
  [ -x "$bin_dir/etcd" ] && return
  local mod_dir="$work_dir/etcd"
  mkdir -p "$mod_dir"
  echo "building etcd $etcd_version" >&2
  cat >"$mod_dir/main.go" <<'GO'
// Command etcd runs the etcd server from the published go.etcd.io/etcd/server/v3 module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  if ! grep -q "go.etcd.io/etcd/server/v3 $etcd_version" "$mod_dir/go.mod" 2>/dev/null; then
    rm -f "$mod_dir/go.mod" "$mod_dir/go.sum"
    (cd "$mod_dir" && go mod init sloserve.local/etcdbuild >/dev/null 2>&1 && go get "go.etcd.io/etcd/server/v3@$etcd_version" >/dev/null)
  fi
  (cd "$mod_dir" && go build -trimpath -ldflags "-s -w" -o "$bin_dir/etcd" .)
}

build_helm() {
  [ -x "$bin_dir/helm" ] && return
  echo "building helm $helm_version" >&2
  # Helm's default Kubernetes version (for `helm template` and `helm lint`) comes from link flags,
  # as its own release build sets them; without them it assumes v1.20.
  local helm_flags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    helm_flags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$minor"
  done
  GOBIN="$bin_dir" GOFLAGS= go install -trimpath -ldflags "$helm_flags" "helm.sh/helm/v3/cmd/helm@$helm_version"
}

build_etcd
build_kube
build_helm
echo "$bin_dir"
