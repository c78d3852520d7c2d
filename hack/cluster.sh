#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, for `make demo` and
# the end-to-end tests: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, containerd (runc, bridge CNI), kubelet and kube-proxy, all
# built from the Go module proxy at the versions pinned in hack/ and cached in
# bin/, with runc and the CNI plugins from Debian's apt. kubeoffer's images are
# built as tarballs (hack/images) and imported into containerd: nothing is
# pulled.
#
#   hack/cluster.sh up      # build what is missing, start, wait until usable
#   hack/cluster.sh down    # stop everything, leave nothing behind
#   hack/cluster.sh env     # print `export KUBECONFIG=…`
#   hack/cluster.sh images  # rebuild kubeoffer's images and import them
#
# Needs root (cgroups, mounts, iptables). State lives in bin/cluster/
# (KUBEOFFER_CLUSTER_DIR); only PIDs recorded there are ever killed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state=${KUBEOFFER_CLUSTER_DIR:-$root/bin/cluster}
# The physical path: teardown finds the mounts under it by that name, and
# bin/ may be a symlink (a worktree sharing another's binaries).
state=$(realpath -m "$state")
build="$root/hack/build-binaries.sh"
pod_cidr=10.244.0.0/24
service_cidr=10.96.0.0/16
service_ip=10.96.0.1
node_name=${KUBEOFFER_NODE_NAME:-kubeoffer-node}
# The node's address: the source address of the default route.
node_ip=${KUBEOFFER_NODE_IP:-$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i=1;i<NF;i++) if ($i=="src") {print $(i+1); exit}}')}
node_ip=${node_ip:-127.0.0.1}

log() { echo "cluster: $*" >&2; }
die() { log "$*"; exit 1; }

kube_bin() { echo "$("$build" --print-dir kube)/$1"; }
etcd_bin() { echo "$("$build" --print-dir etcd)/etcd"; }
containerd_bin() { echo "$("$build" --print-dir containerd)/$1"; }
kc() { kubectl --kubeconfig "$state/admin.kubeconfig" "$@"; }

# start NAME CMD... runs a component in the background, logging to
# logs/NAME.log, and records its PID.
start() {
  local name=$1; shift
  mkdir -p "$state/logs" "$state/pids"
  setsid "$@" >"$state/logs/$name.log" 2>&1 < /dev/null &
  echo $! >"$state/pids/$name"
}

# stop NAME sends SIGTERM to a recorded PID, then SIGKILL after 10s.
stop() {
  local name=$1 pid
  [[ -f $state/pids/$name ]] || return 0
  pid=$(cat "$state/pids/$name")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$state/pids/$name"
}

# wait_for WHAT SECONDS CMD... polls CMD until it succeeds.
wait_for() {
  local what=$1 seconds=$2; shift 2
  for _ in $(seq $((seconds * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  die "timed out after ${seconds}s waiting for $what (logs in ${state#"$root"/}/logs)"
}

binaries() {
  "$build" kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy etcd containerd
  for b in runc /usr/lib/cni/bridge /usr/lib/cni/host-local /usr/lib/cni/loopback /usr/lib/cni/portmap busybox openssl iptables; do
    command -v "$b" >/dev/null || [[ -x $b ]] || die "missing $b: apt-get install runc containernetworking-plugins busybox-static openssl iptables"
  done
}

cert() { # cert NAME CN O [SAN]
  local name=$1 cn=$2 o=$3 san=${4:-} subj
  subj="/CN=$cn"
  [[ -n $o ]] && subj="/O=$o$subj"
  openssl genrsa -out "$state/pki/$name.key" 2048 2>/dev/null
  openssl req -new -key "$state/pki/$name.key" -subj "$subj" -out "$state/pki/$name.csr" 2>/dev/null
  local ext="$state/pki/$name.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    [[ -n $san ]] && echo "subjectAltName=$san"
  } >"$ext"
  openssl x509 -req -in "$state/pki/$name.csr" -CA "$state/pki/ca.crt" -CAkey "$state/pki/ca.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$ext" -out "$state/pki/$name.crt" 2>/dev/null
}

kubeconfig() { # kubeconfig NAME CERT
  local name=$1 c=$2
  cat >"$state/$name.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kubeoffer-local
  cluster: {server: "https://$node_ip:6443", certificate-authority: "$state/pki/ca.crt"}
users:
- name: $c
  user: {client-certificate: "$state/pki/$c.crt", client-key: "$state/pki/$c.key"}
contexts:
- name: kubeoffer-local
  context: {cluster: kubeoffer-local, user: $c}
current-context: kubeoffer-local
EOF
}

pki() {
  mkdir -p "$state/pki"
  openssl genrsa -out "$state/pki/ca.key" 2048 2>/dev/null
  openssl req -x509 -new -key "$state/pki/ca.key" -subj "/CN=kubeoffer-local-ca" -days 30 -out "$state/pki/ca.crt" 2>/dev/null
  cert apiserver kube-apiserver "" \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$service_ip,IP:$node_ip"
  cert admin kubeoffer-admin system:masters
  cert controller-manager system:kube-controller-manager ""
  cert scheduler system:kube-scheduler ""
  cert kube-proxy system:kube-proxy ""
  cert node "system:node:$node_name" system:nodes
  cert kubelet-serving "$node_name" "" "DNS:$node_name,IP:$node_ip,IP:127.0.0.1"
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  openssl genrsa -out "$state/pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$state/pki/sa.key" -pubout -out "$state/pki/sa.pub" 2>/dev/null
  kubeconfig admin admin
  kubeconfig controller-manager controller-manager
  kubeconfig scheduler scheduler
  kubeconfig kube-proxy kube-proxy
  kubeconfig kubelet node
}

host_setup() {
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  # Traffic to the service CIDR that kube-proxy did not translate must not
  # leave the machine (a guard removed at teardown).
  for chain in OUTPUT FORWARD; do
    iptables -C "$chain" -d "$service_cidr" -m comment --comment kubeoffer-guard -j REJECT 2>/dev/null ||
      iptables -A "$chain" -d "$service_cidr" -m comment --comment kubeoffer-guard -j REJECT
  done
}

control_plane() {
  start etcd "$(etcd_bin)" --name kubeoffer --data-dir "$state/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster kubeoffer=http://127.0.0.1:2380 --log-level warn
  wait_for etcd 30 curl -sf http://127.0.0.1:2379/health
  start kube-apiserver "$(kube_bin kube-apiserver)" --etcd-servers http://127.0.0.1:2379 \
    --bind-address 0.0.0.0 --advertise-address "$node_ip" --secure-port 6443 \
    --tls-cert-file "$state/pki/apiserver.crt" --tls-private-key-file "$state/pki/apiserver.key" \
    --client-ca-file "$state/pki/ca.crt" \
    --kubelet-client-certificate "$state/pki/apiserver-kubelet-client.crt" --kubelet-client-key "$state/pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$state/pki/ca.crt" --kubelet-preferred-address-types InternalIP \
    --service-account-key-file "$state/pki/sa.pub" --service-account-signing-key-file "$state/pki/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range "$service_cidr" --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction --allow-privileged=true
  wait_for kube-apiserver 60 kc get --raw /readyz
  start kube-controller-manager "$(kube_bin kube-controller-manager)" --kubeconfig "$state/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$state/controller-manager.kubeconfig" --authorization-kubeconfig "$state/controller-manager.kubeconfig" \
    --service-account-private-key-file "$state/pki/sa.key" --root-ca-file "$state/pki/ca.crt" \
    --cluster-signing-cert-file "$state/pki/ca.crt" --cluster-signing-key-file "$state/pki/ca.key" \
    --use-service-account-credentials --leader-elect=false --bind-address 127.0.0.1 --secure-port 10257
  start kube-scheduler "$(kube_bin kube-scheduler)" --kubeconfig "$state/scheduler.kubeconfig" \
    --authentication-kubeconfig "$state/scheduler.kubeconfig" --authorization-kubeconfig "$state/scheduler.kubeconfig" \
    --leader-elect=false --bind-address 127.0.0.1 --secure-port 10259
}

runtime() {
  mkdir -p "$state/containerd" "$state/cni/net.d" "$state/cni/ipam"
  cat >"$state/cni/net.d/10-kubeoffer.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "kubeoffer",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$state/cni/ipam", "ranges": [[{"subnet": "$pod_cidr"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  cat >"$state/containerd/config.toml" <<EOF
version = 3
root = "$state/containerd/root"
state = "$state/containerd/state"
[grpc]
  address = "$state/containerd/containerd.sock"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "kubeoffer.local/pause:1"
[plugins.'io.containerd.cri.v1.runtime']
  # root here lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$(command -v runc)"
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$state/cni/net.d"
EOF
  PATH="$("$build" --print-dir containerd):$PATH" start containerd "$(containerd_bin containerd)" --config "$state/containerd/config.toml"
  wait_for containerd 30 "$(containerd_bin ctr)" --address "$state/containerd/containerd.sock" version
  images
}

# images builds kubeoffer's images (once per source change) and imports them.
images() {
  go -C "$root/hack/images" run . -repo "$root" -out "$root/bin/images" >&2
  local tar
  for tar in "$root"/bin/images/*.tar; do
    local out
    out=$("$(containerd_bin ctr)" --address "$state/containerd/containerd.sock" -n k8s.io images import --all-platforms "$tar" 2>&1) ||
      die "importing $tar: $out"
  done
}

node() {
  mkdir -p "$state/kubelet"
  cat >"$state/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$state/pki/ca.crt"}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: "unix://$state/containerd/containerd.sock"
tlsCertFile: "$state/pki/kubelet-serving.crt"
tlsPrivateKeyFile: "$state/pki/kubelet-serving.key"
podCIDR: "$pod_cidr"
serializeImagePulls: false
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
  start kubelet "$(kube_bin kubelet)" --config "$state/kubelet/config.yaml" --kubeconfig "$state/kubelet.kubeconfig" \
    --root-dir "$state/kubelet/root" --cert-dir "$state/kubelet/pki" --hostname-override "$node_name" --node-ip "$node_ip"
  wait_for "node $node_name to register" 60 kc get node "$node_name"
  cat >"$state/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$state/kube-proxy.kubeconfig"}
mode: iptables
clusterCIDR: "$pod_cidr"
hostnameOverride: "$node_name"
oomScoreAdj: 0
nodePortAddresses: ["primary"]
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
metricsBindAddress: "127.0.0.1:10249"
healthzBindAddress: "127.0.0.1:10256"
EOF
  start kube-proxy "$(kube_bin kube-proxy)" --config "$state/kube-proxy.yaml"
  wait_for "node $node_name to be Ready" 90 sh -c "kubectl --kubeconfig '$state/admin.kubeconfig' get node '$node_name' -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
  wait_for "the not-ready taint to go" 60 sh -c "! kubectl --kubeconfig '$state/admin.kubeconfig' get node '$node_name' -o jsonpath='{.spec.taints}' | grep -q not-ready"
  wait_for "the default ServiceAccount" 60 kc get serviceaccount default -n default
}

up() {
  [[ $EUID -eq 0 ]] || die "must run as root (cgroups, mounts, iptables)"
  binaries
  down quiet # clear what an aborted run left
  trap 'log "bring-up failed; tearing down"; down quiet' ERR
  local t0=$SECONDS
  mkdir -p "$state"
  pki
  host_setup
  control_plane
  runtime
  node
  trap - ERR
  log "up in $((SECONDS - t0))s: node $node_name ($node_ip). Use it with:"
  echo "export KUBECONFIG=$state/admin.kubeconfig"
}

# kill_leftover_tasks stops containers the kubelet did not (it is gone).
kill_leftover_tasks() {
  local ctr sock=$state/containerd/containerd.sock id
  ctr=$(containerd_bin ctr)
  [[ -S $sock && -x $ctr ]] || return 0
  for id in $("$ctr" --address "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
    "$ctr" --address "$sock" -n k8s.io tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
  done
  sleep 0.5
  for id in $("$ctr" --address "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
    "$ctr" --address "$sock" -n k8s.io tasks delete -f "$id" >/dev/null 2>&1 || true
  done
  for id in $("$ctr" --address "$sock" -n k8s.io containers ls -q 2>/dev/null); do
    "$ctr" --address "$sock" -n k8s.io containers delete "$id" >/dev/null 2>&1 || true
  done
}

down() {
  local quiet=${1:-}
  [[ -d $state ]] || { [[ -n $quiet ]] || log "nothing to tear down"; return 0; }
  [[ -n $quiet ]] || log "tearing down"
  # Best effort from here: one step failing must not stop the others.
  set +e +o pipefail
  trap - ERR
  # Pods first, while the kubelet runs: it stops them and runs CNI DEL.
  if [[ -f $state/pids/kubelet ]] && kc get --raw /readyz >/dev/null 2>&1; then
    kc delete pods --all -A --grace-period=1 --wait=false >/dev/null 2>&1 || true
    for _ in $(seq 50); do
      [[ -z $(kc get pods -A -o name 2>/dev/null) ]] && break
      sleep 0.2
    done
  fi
  stop kube-proxy
  stop kubelet
  kill_leftover_tasks
  # The runc shims of this containerd (they name its socket) outlive it.
  pgrep -f -- "-address $state/containerd/containerd.sock" >"$state/pids/shims" 2>/dev/null
  stop containerd
  local pid
  while read -r pid; do kill -9 "$pid" 2>/dev/null; done <"$state/pids/shims"
  rm -f "$state/pids/shims"
  stop kube-scheduler
  stop kube-controller-manager
  stop kube-apiserver
  stop etcd
  # Mounts the runtime and kubelet left (deepest first), and pinned netns.
  findmnt -rn -o TARGET | grep -F "$state" | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  for ns in /run/netns/cni-*; do [[ -e $ns ]] && { umount "$ns" 2>/dev/null || true; rm -f "$ns"; }; done
  ip link del cni0 2>/dev/null || true
  local t chain
  for t in iptables ip6tables; do
    command -v "$t" >/dev/null || continue
    for table in filter nat mangle; do
      # Jumps into KUBE-*/CNI-* chains, then the chains themselves.
      "$t" -t "$table" -S 2>/dev/null | grep -E '^-A .*-j (KUBE-|CNI-)' | sed 's/^-A/-D/' | while read -r rule; do
        eval "$t -t $table $rule" 2>/dev/null || true
      done
      for chain in $("$t" -t "$table" -S 2>/dev/null | awk '/^-N (KUBE-|CNI-)/ {print $2}'); do
        "$t" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$t" -t "$table" -S 2>/dev/null | awk '/^-N (KUBE-|CNI-)/ {print $2}'); do
        "$t" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
  for chain in OUTPUT FORWARD; do
    while iptables -D "$chain" -d "$service_cidr" -m comment --comment kubeoffer-guard -j REJECT 2>/dev/null; do :; done
  done
  # The kubelet's cgroups, deepest first.
  local cg
  for cg in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/unified/kubepods /sys/fs/cgroup/kubepods; do
    [[ -d $cg ]] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  rm -rf "$state"
  set -e -o pipefail
  if [[ -d $state ]]; then
    log "could not remove ${state#"$root"/} (still mounted?)"
    return 1
  fi
  [[ -n $quiet ]] || log "down: nothing left"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  env) echo "export KUBECONFIG=$state/admin.kubeconfig" ;;
  images) images ;;
  *) echo "usage: $0 up|down|env|images" >&2; exit 2 ;;
esac
