#!/usr/bin/env bash
# Installs, from Debian's apt, what the local cluster needs beyond Go, gcc,
# kubectl and git: runc, the CNI plugins, busybox-static (the task image),
# iptables, openssl (the cluster's PKI), curl; and what the Mesos API needs:
# protoc (make generate-mesos, checked by verify-generated) and Node.js
# with npm (the npm Mesos client its tests run). Skips what is present.
set -euo pipefail
need=()
command -v runc >/dev/null || need+=(runc)
[[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
[[ -x /bin/busybox ]] || need+=(busybox-static)
command -v iptables >/dev/null || need+=(iptables)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
command -v ip >/dev/null || need+=(iproute2)
command -v protoc >/dev/null || need+=(protobuf-compiler)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
if ((${#need[@]})); then
  echo "deps: installing ${need[*]}" >&2
  if [[ $EUID -ne 0 ]]; then
    echo "deps: run as root (or install: ${need[*]})" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
