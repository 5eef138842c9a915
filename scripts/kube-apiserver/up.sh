#!/bin/bash
# Starts etcd (Debian's etcd-server) and kube-apiserver on loopback
# (127.0.0.1:16443, token auth `devtoken`, RBAC) and writes DIR/kubeconfig.
# Usage: up.sh <kube-apiserver binary> [DIR]. The operator's integration
# test runs it (operator/tests/support/cluster.rs) and stops both by PID.
set -euo pipefail
BIN=$1; D=${2:-${TMPDIR:-/tmp}/kube-local}; mkdir -p $D/certs; rm -rf $D/etcd-data
[ -f $D/certs/sa.key ] || openssl genrsa -out $D/certs/sa.key 2048 2>/dev/null
echo 'devtoken,admin,admin,"system:masters"' > $D/certs/tokens.csv
T0=$(date +%s.%N)
etcd --data-dir $D/etcd-data --listen-client-urls http://127.0.0.1:23790 --advertise-client-urls http://127.0.0.1:23790 \
  --listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
  --initial-cluster default=http://127.0.0.1:23800 --unsafe-no-fsync > $D/etcd.log 2>&1 & echo $! > $D/etcd.pid
until curl -s http://127.0.0.1:23790/health | grep -q true; do sleep 0.1; done; T1=$(date +%s.%N)
$BIN --etcd-servers=http://127.0.0.1:23790 --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port=16443 \
  --cert-dir=$D/certs --token-auth-file=$D/certs/tokens.csv --authorization-mode=RBAC --service-cluster-ip-range=10.0.0.0/24 \
  --service-account-issuer=https://kubernetes.default.svc --service-account-key-file=$D/certs/sa.key \
  --service-account-signing-key-file=$D/certs/sa.key > $D/apiserver.log 2>&1 & echo $! > $D/apiserver.pid
until curl -sk -H "Authorization: Bearer devtoken" https://127.0.0.1:16443/readyz 2>/dev/null | grep -q '^ok'; do sleep 0.2; done
T2=$(date +%s.%N)
cat > $D/kubeconfig <<K
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://127.0.0.1:16443", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: devtoken}}]
contexts: [{name: local, context: {cluster: local, user: admin}}]
current-context: local
K
echo "etcd $(echo "$T1-$T0"|bc)s, apiserver $(echo "$T2-$T1"|bc)s; KUBECONFIG=$D/kubeconfig; stop: kill \$(cat $D/apiserver.pid) \$(cat $D/etcd.pid)"
