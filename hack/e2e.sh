#!/usr/bin/env bash
# Runs the end-to-end tests (test/e2e) on a real local cluster: brings it up
# with hack/cluster.sh, runs `go test -tags e2e`, and tears the cluster down
# whatever happens (the tests save artifacts on failure first).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
trap '"$root/hack/cluster.sh" down' EXIT
"$root/hack/build-binaries.sh" helm
"$root/hack/cluster.sh" up
export KUBEOFFER_E2E_KUBECONFIG=$root/bin/cluster/admin.kubeconfig
go test -tags e2e -count=1 -timeout 30m -v ./test/e2e/  2>&1 | grep --line-buffered -v '^{"level"'
exit "${PIPESTATUS[0]}"
