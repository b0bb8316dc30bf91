#!/usr/bin/env bash
# Builds a kind node image offline: nothing is pulled from any image registry.
#
#   1. A Debian rootfs from debootstrap (--variant=minbase) with systemd, Debian's containerd,
#      runc and CNI plugins, iptables, conntrack, socat, iproute2 and jq (kind's start-up needs
#      it); cached as a tarball, keyed by its package list.
#   2. kind's node files (entrypoint, kubelet unit, sysctls) from the kind module release that
#      built the kind binary, sloserve's node files (containerd configuration, file-handle
#      limits capped at the host's, the Service-range guard), kubeadm, kubelet and kubectl.
#   3. The images a node starts with, each made by `docker import` of a tiny tree holding static
#      binaries: etcd (tagged as kubeadm expects), kube-apiserver, kube-controller-manager,
#      kube-scheduler, kube-proxy (with iptables and its libraries from the rootfs), pause,
#      CoreDNS and sloserve's CNI agent (busybox, kubectl and a script).
#   4. The rootfs imported as an image; a container of it loads those images into its
#      containerd; that container committed as the node image.
#
# Usage: build-node-image.sh IMAGE_TAG
# Environment (set by `sloserve dev`): DOCKER_HOST, SLOSERVE_CACHE_DIR, SLOSERVE_KUBE_VERSION,
#   SLOSERVE_KIND_MODULE (kind's module directory), SLOSERVE_ETCD_IMAGE_TAG (default 3.6.5-0),
#   SLOSERVE_DEBIAN_MIRROR (default: the first one this machine's apt uses),
#   SLOSERVE_DEBIAN_SUITE (default bookworm), SLOSERVE_CNI_IMAGE (tag of the CNI agent image).
set -euo pipefail

image=${1:?usage: build-node-image.sh IMAGE_TAG}
here=$(cd "$(dirname "$0")" && pwd)
kube_version=${SLOSERVE_KUBE_VERSION:-v1.34.4}
cache_root=${SLOSERVE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sloserve}
kube_bin="$cache_root/kube-$kube_version/bin"
tools_bin="$cache_root/kind-tools/bin"
coredns_bin="$cache_root/coredns-${SLOSERVE_COREDNS_VERSION:-v1.12.1}/bin/coredns"
kind_module=${SLOSERVE_KIND_MODULE:?SLOSERVE_KIND_MODULE names kind\'s module directory}
etcd_tag=${SLOSERVE_ETCD_IMAGE_TAG:-3.6.5-0}
pause_tag=${SLOSERVE_PAUSE_IMAGE_TAG:-3.10.1}
coredns_tag=${SLOSERVE_COREDNS_VERSION:-v1.12.1}
cni_image=${SLOSERVE_CNI_IMAGE:?SLOSERVE_CNI_IMAGE names the CNI agent image}
suite=${SLOSERVE_DEBIAN_SUITE:-bookworm}
docker=${SLOSERVE_DOCKER:-docker}

packages=systemd,dbus,containerd,runc,containernetworking-plugins,iptables,conntrack,socat
packages+=,iproute2,jq,kmod,procps,ca-certificates,ethtool,libseccomp2,busybox-static,mount
packages+=,util-linux

for binary in "$kube_bin"/{kubeadm,kubelet,kubectl,kube-proxy,kube-apiserver,kube-controller-manager,kube-scheduler,etcd} \
  "$tools_bin/runc-wrapper" "$tools_bin/pause" "$coredns_bin"; do
  [ -x "$binary" ] || { echo "error: $binary is missing; run \`sloserve dev build\`" >&2; exit 1; }
done

debian_mirror() {
  if [ -n "${SLOSERVE_DEBIAN_MIRROR:-}" ]; then
    echo "$SLOSERVE_DEBIAN_MIRROR"
    return
  fi
  local found
  found=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1 || true)
  [ -n "$found" ] || found=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | head -1 || true)
  if [ -z "$found" ]; then
    echo "error: no Debian mirror in this machine's apt sources; set SLOSERVE_DEBIAN_MIRROR" >&2
    exit 1
  fi
  echo "$found"
}

rootfs_dir="$cache_root/kind-node"
mkdir -p "$rootfs_dir"
rootfs_key=$(echo "$suite $packages" | sha256sum | cut -c1-12)
rootfs_tar="$rootfs_dir/rootfs-$suite-$rootfs_key.tar"
work=$(mktemp -d "$rootfs_dir/work.XXXXXX")
build_container=""
cleanup() {
  [ -n "$build_container" ] && "$docker" rm -f "$build_container" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

if [ ! -f "$rootfs_tar" ]; then
  command -v debootstrap >/dev/null || { echo "error: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
  echo "debootstrap: Debian $suite with $packages" >&2
  debootstrap --variant=minbase --include="$packages" "$suite" "$work/rootfs" "$(debian_mirror)" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  rm -rf "$work/rootfs"/var/cache/apt/archives/*.deb "$work/rootfs"/var/lib/apt/lists/* \
    "$work/rootfs"/usr/share/doc/* "$work/rootfs"/usr/share/man/* "$work/rootfs"/usr/share/locale/*
  tar -C "$work/rootfs" --numeric-owner -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
  rm -rf "$work/rootfs"
fi

node="$work/node"
mkdir -p "$node"
tar -C "$node" --numeric-owner -xf "$rootfs_tar"

# --- the images a node starts with -------------------------------------------------------------
# A tree holding `binaries` (absolute paths inside the rootfs) with every library they load, as
# the dynamic loader of the rootfs resolves them.
copy_with_libraries() {
  local tree=$1
  shift
  local binary library
  for binary in "$@"; do
    mkdir -p "$tree$(dirname "$binary")"
    cp -a "$node$binary" "$tree$binary"
    for library in $(chroot "$node" ldd "$binary" 2>/dev/null | grep -oE '/[^ ]+' || true); do
      mkdir -p "$tree$(dirname "$library")"
      cp -aL "$node$library" "$tree$library"
    done
  done
}

import_image() { # import_image TREE TAG ENTRYPOINT_JSON
  mkdir -p "$1"/{tmp,etc,var/run,run}
  chmod 1777 "$1/tmp"
  echo "root:x:0:0:root:/root:/sbin/nologin" >"$1/etc/passwd"
  echo "root:x:0:" >"$1/etc/group"
  tar -C "$1" --numeric-owner -c . | "$docker" import \
    --change "ENTRYPOINT $3" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$2" >/dev/null
  echo "image $2" >&2
}

images="$work/images"
mkdir -p "$images"
tags=()
for component in kube-apiserver kube-controller-manager kube-scheduler; do
  tree="$images/$component"
  mkdir -p "$tree/usr/local/bin"
  cp "$kube_bin/$component" "$tree/usr/local/bin/"
  import_image "$tree" "registry.k8s.io/$component:$kube_version" "[\"/usr/local/bin/$component\"]"
  tags+=("registry.k8s.io/$component:$kube_version")
done

tree="$images/etcd"
mkdir -p "$tree/usr/local/bin"
cp "$kube_bin/etcd" "$tree/usr/local/bin/"
import_image "$tree" "registry.k8s.io/etcd:$etcd_tag" '["/usr/local/bin/etcd"]'
tags+=("registry.k8s.io/etcd:$etcd_tag")

# kube-proxy programs the node through iptables (Debian's, nf_tables backend) and conntrack.
tree="$images/kube-proxy"
copy_with_libraries "$tree" /usr/sbin/xtables-nft-multi /usr/sbin/conntrack
mkdir -p "$tree/usr/local/bin" "$tree/usr/lib/x86_64-linux-gnu"
cp -a "$node/usr/lib/x86_64-linux-gnu/xtables" "$tree/usr/lib/x86_64-linux-gnu/"
for tool in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
  ln -sf xtables-nft-multi "$tree/usr/sbin/$tool"
done
cp "$kube_bin/kube-proxy" "$tree/usr/local/bin/"
import_image "$tree" "registry.k8s.io/kube-proxy:$kube_version" '["/usr/local/bin/kube-proxy"]'
tags+=("registry.k8s.io/kube-proxy:$kube_version")

tree="$images/pause"
mkdir -p "$tree"
cp "$tools_bin/pause" "$tree/pause"
import_image "$tree" "registry.k8s.io/pause:$pause_tag" '["/pause"]'
tags+=("registry.k8s.io/pause:$pause_tag")

tree="$images/coredns"
mkdir -p "$tree"
cp "$coredns_bin" "$tree/coredns"
import_image "$tree" "registry.k8s.io/coredns/coredns:$coredns_tag" '["/coredns"]'
tags+=("registry.k8s.io/coredns/coredns:$coredns_tag")

tree="$images/cni"
mkdir -p "$tree/bin" "$tree/usr/local/bin"
cp "$node/bin/busybox" "$tree/bin/busybox"
for applet in sh cat mkdir mv printf sleep ip echo; do ln -sf busybox "$tree/bin/$applet"; done
cp "$kube_bin/kubectl" "$tree/usr/local/bin/"
cp "$here/cni/sloserve-cni-agent" "$tree/usr/local/bin/"
import_image "$tree" "$cni_image" '["/usr/local/bin/sloserve-cni-agent"]'
tags+=("$cni_image")

"$docker" save -o "$work/images.tar" "${tags[@]}"
"$docker" rmi "${tags[@]}" >/dev/null

# --- the node's own files --------------------------------------------------------------------
files="$kind_module/images/base/files"
install -m 0755 "$files/usr/local/bin/entrypoint" "$node/usr/local/bin/entrypoint"
mkdir -p "$node/kind/bin" "$node/kind/manifests" "$node/etc/systemd/system/kubelet.service.d"
install -m 0755 "$files"/kind/bin/* "$node/kind/bin/"
install -m 0644 "$files"/etc/systemd/system/kubelet.service "$files"/etc/systemd/system/kubelet.slice \
  "$files"/etc/systemd/system/undo-mount-hacks.service "$files"/etc/systemd/system/containerd.service \
  "$node/etc/systemd/system/"
install -m 0644 "$files"/etc/systemd/system/kubelet.service.d/* "$node/etc/systemd/system/kubelet.service.d/"
install -m 0644 "$files"/etc/sysctl.d/* "$node/etc/sysctl.d/"
install -m 0644 "$files/etc/default/kubelet" "$node/etc/default/kubelet"
# kind's unit starts /usr/local/bin/containerd; Debian installs it in /usr/bin.
ln -sf /usr/bin/containerd "$node/usr/local/bin/containerd"

cp -a "$here/node-files/." "$node/"
nofile=$(ulimit -Hn)
sed -i "s/@NOFILE@/$nofile/" "$node/etc/systemd/system/containerd.service.d/10-sloserve.conf" \
  "$node/etc/systemd/system.conf.d/10-sloserve-limits.conf"
install -m 0755 "$tools_bin/runc-wrapper" "$node/usr/local/sbin/sloserve-runc"
for binary in kubeadm kubelet kubectl; do install -m 0755 "$kube_bin/$binary" "$node/usr/bin/$binary"; done
mkdir -p "$node/opt/cni" "$node/etc/cni/net.d" "$node/etc/kubernetes/manifests"
ln -sfn /usr/lib/cni "$node/opt/cni/bin"
echo "$kube_version" >"$node/kind/version"

# The containers' base OCI spec, as kind makes it: the product-files hook, no rlimits.
chroot "$node" sh -c "ctr oci spec \
  | jq '.hooks.createContainer[.hooks.createContainer | length] |= . + {\"path\": \"/kind/bin/mount-product-files.sh\"}' \
  | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json"

# systemd as a container's init, as kind's base image sets it up.
find "$node/lib/systemd/system/sysinit.target.wants/" -name "systemd-tmpfiles-setup.service" -delete
rm -f "$node"/lib/systemd/system/multi-user.target.wants/* "$node"/etc/systemd/system/*.wants/* \
  "$node"/lib/systemd/system/local-fs.target.wants/* "$node"/lib/systemd/system/sockets.target.wants/*udev* \
  "$node"/lib/systemd/system/sockets.target.wants/*initctl* "$node"/lib/systemd/system/basic.target.wants/*
echo "ReadKMsg=no" >>"$node/etc/systemd/journald.conf"
ln -sf /lib/systemd/systemd "$node/sbin/init"
chroot "$node" systemctl enable kubelet.service containerd.service undo-mount-hacks.service \
  sloserve-service-guard.service >/dev/null 2>&1
chroot "$node" systemctl mask systemd-binfmt.service >/dev/null 2>&1

# --- image, then the images preloaded into its containerd ---------------------------------------
base="$image-base"
tar -C "$node" --numeric-owner -c . | "$docker" import \
  --change 'ENV container=docker' \
  --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' - "$base" >/dev/null
rm -rf "$node"
build_container="sloserve-node-build-$$"
"$docker" run -d --name "$build_container" --privileged --entrypoint sleep "$base" infinity >/dev/null
"$docker" cp "$work/images.tar" "$build_container:/images.tar"
"$docker" exec "$build_container" sh -c '
  set -e
  containerd >/tmp/containerd.log 2>&1 &
  containerd=$!
  for attempt in $(seq 50); do ctr version >/dev/null 2>&1 && break; sleep 0.2; done
  ctr --namespace=k8s.io images import --all-platforms --no-unpack --digests /images.tar >/dev/null
  echo "preloaded: $(ctr --namespace=k8s.io images list -q | grep -v "^sha256:" | tr "\n" " ")" >&2
  kill "$containerd"; wait "$containerd" || true
  rm -f /images.tar /tmp/containerd.log'
"$docker" commit --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' \
  --change 'CMD []' "$build_container" "$image" >/dev/null
"$docker" rm -f "$build_container" >/dev/null
build_container=""
"$docker" rmi "$base" >/dev/null
echo "built $image" >&2
