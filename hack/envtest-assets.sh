#!/usr/bin/env bash
# Makes DIR (default bin/envtest) a KUBEBUILDER_ASSETS folder for envtest:
# kube-apiserver and etcd built from source at the pinned versions (no
# setup-envtest download), linked from their versioned cache in bin/.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:-$root/bin/envtest}
"$root/hack/build-binaries.sh" kube-apiserver etcd
mkdir -p "$dir"
ln -sfn "$("$root/hack/build-binaries.sh" --print-dir kube)/kube-apiserver" "$dir/kube-apiserver"
ln -sfn "$("$root/hack/build-binaries.sh" --print-dir etcd)/etcd" "$dir/etcd"
if command -v kubectl >/dev/null; then ln -sfn "$(command -v kubectl)" "$dir/kubectl"; fi
