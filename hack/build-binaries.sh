#!/usr/bin/env bash
# Builds the Kubernetes and etcd binaries kubeoffer's tests run, from the Go
# module proxy, at the versions pinned in hack/kube/go.mod and
# hack/etcd/go.mod. Each lands in bin/<module>/<version>/ and is built only
# when missing, so a second run costs nothing; bumping a pin rebuilds.
#
#   hack/build-binaries.sh kube-apiserver etcd      # envtest's control plane
#   hack/build-binaries.sh helm                     # the chart's linter and installer
#   hack/build-binaries.sh containerd               # the local cluster's runtime (+ shim, ctr)
#   hack/build-binaries.sh --print-dir kube         # where kube binaries go
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# These modules fail checksum-database look-ups on this proxy (see TESTING.md);
# their hashes are still pinned in hack/kube/go.sum.
export GONOSUMDB=${GONOSUMDB:-k8s.io/cloud-provider,k8s.io/cri-client,k8s.io/csi-translation-lib}
export GOFLAGS=-mod=mod

kube_version() { (cd "$root/hack/kube" && go list -m -f '{{.Version}}' k8s.io/kubernetes); }
etcd_version() { (cd "$root/hack/etcd" && go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3); }
containerd_version() { (cd "$root/hack/containerd" && go list -m -f '{{.Version}}' github.com/containerd/containerd/v2); }
containerd_dir() { echo "$root/bin/containerd/$(containerd_version)"; }
helm_version() { (cd "$root/hack/helm" && go list -m -f '{{.Version}}' helm.sh/helm/v3); }
helm_dir() { echo "$root/bin/helm/$(helm_version)"; }
kube_dir() { echo "$root/bin/kube/$(kube_version)"; }
etcd_dir() { echo "$root/bin/etcd/$(etcd_version)"; }

if [[ ${1:-} == --print-dir ]]; then
  case ${2:-} in
    kube) kube_dir ;;
    etcd) etcd_dir ;;
    helm) helm_dir ;;
    containerd) containerd_dir ;;
    *) echo "usage: $0 --print-dir kube|etcd|helm|containerd" >&2; exit 2 ;;
  esac
  exit 0
fi

build_kube() {
  local name=$1 version dir minor
  version=$(kube_version)
  dir=$(kube_dir)
  [[ -x $dir/$name ]] && return 0
  minor=${version#v1.}; minor=${minor%%.*}
  echo "Building $name $version (cached in ${dir#"$root"/} afterwards)" >&2
  mkdir -p "$dir"
  # Stamp the version, or the binaries say v0.0.0-master and clients that
  # parse the server version fail.
  (cd "$root/hack/kube" && CGO_ENABLED=0 go build -trimpath -o "$dir/$name.tmp" \
    -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$version \
      -X k8s.io/component-base/version.gitMajor=1 \
      -X k8s.io/component-base/version.gitMinor=$minor \
      -X k8s.io/component-base/version.gitTreeState=clean" \
    "k8s.io/kubernetes/cmd/$name")
  mv "$dir/$name.tmp" "$dir/$name"
}

build_etcd() {
  local dir
  dir=$(etcd_dir)
  [[ -x $dir/etcd ]] && return 0
  echo "Building etcd $(etcd_version) (cached in ${dir#"$root"/} afterwards)" >&2
  mkdir -p "$dir"
  (cd "$root/hack/etcd" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dir/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$dir/etcd.tmp" "$dir/etcd"
}

build_helm() {
  local dir version
  dir=$(helm_dir)
  version=$(helm_version)
  [[ -x $dir/helm ]] && return 0
  echo "Building helm $version (cached in ${dir#"$root"/} afterwards)" >&2
  mkdir -p "$dir"
  (cd "$root/hack/helm" && CGO_ENABLED=0 go build -trimpath -o "$dir/helm.tmp" \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$version" helm.sh/helm/v3/cmd/helm)
  mv "$dir/helm.tmp" "$dir/helm"
}

build_containerd() {
  local dir version name
  dir=$(containerd_dir)
  version=$(containerd_version)
  mkdir -p "$dir"
  for name in containerd containerd-shim-runc-v2 ctr; do
    [[ -x $dir/$name ]] && continue
    echo "Building $name $version (cached in ${dir#"$root"/} afterwards)" >&2
    (cd "$root/hack/containerd" && CGO_ENABLED=0 go build -trimpath -tags "no_btrfs urfave_cli_no_docs" -o "$dir/$name.tmp" \
      -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$version" "github.com/containerd/containerd/v2/cmd/$name")
    mv "$dir/$name.tmp" "$dir/$name"
  done
}

[[ $# -gt 0 ]] || { echo "usage: $0 BINARY... (kube-apiserver, kubelet, …, etcd)" >&2; exit 2; }
for name in "$@"; do
  case $name in
    etcd) build_etcd ;;
    helm) build_helm ;;
    containerd) build_containerd ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy|kubectl) build_kube "$name" ;;
    *) echo "unknown binary $name" >&2; exit 2 ;;
  esac
done
