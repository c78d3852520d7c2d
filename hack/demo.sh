#!/usr/bin/env bash
# `make demo`: on a fresh Linux machine, as root, bring up a real
# single-node cluster (hack/cluster.sh), helm install kubeoffer, run a
# built-in-policy framework with a handful of plain Tasks and the batch
# example framework, and show offers and tasks moving until they finish.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Installing what the cluster needs from apt (runc, CNI plugins, busybox, iptables, openssl)"
hack/deps.sh
say "Building Kubernetes, etcd, containerd and helm from the Go module proxy (once; cached in bin/)"
hack/build-binaries.sh kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy etcd containerd helm
say "Bringing up a single-node cluster with real containers"
hack/cluster.sh up >/dev/null
export KUBECONFIG=$root/bin/cluster/admin.kubeconfig
helm=$(hack/build-binaries.sh --print-dir helm)/helm

say "helm install kubeoffer"
"$helm" upgrade --install kubeoffer charts/kubeoffer --namespace kubeoffer-system --create-namespace \
  --set master.image.tag=dev --set agentd.image.tag=dev --wait --timeout 3m
kubectl get pods -n kubeoffer-system

say "A framework with the BinPack policy and three plain Tasks (no scheduler code)"
kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply -n demo -f config/samples/builtin/
say "The batch example framework: π in 6 shards, as a Job"
kubectl create namespace batch-demo --dry-run=client -o yaml | kubectl apply -f - >/dev/null
sed -e 's/--tasks=8/--tasks=6/' examples/batch/deploy.yaml | kubectl apply -n batch-demo -f -

say "Watching (Ctrl-C stops watching; the cluster stays up)"
go run ./hack/demowatch --kubeconfig "$KUBECONFIG" --namespaces demo,batch-demo --until-done \
  --until-result batch-demo/pi=batch.examples.kubeoffer.io/result || true

cat <<EOM

$(printf '\033[1m')The cluster is yours.$(printf '\033[0m')
  export KUBECONFIG=$KUBECONFIG
  kubectl get kubeoffer -A                         # agents, frameworks, offers, tasks
  kubectl get tasks -n demo -o wide                # with reasons and offers
  kubectl get framework pi -n batch-demo -o jsonpath='{.metadata.annotations}'
  kubectl apply -n demo -f config/samples/builtin/tasks.yaml   # after deleting them: run again
  go run ./examples/service --namespace demo --instances 2      # a service framework, out of cluster
Tear it all down (nothing is left behind):
  make demo-down
EOM
