#!/usr/bin/env bash
# The manifests against a real API server: kube-apiserver (scripts/install-deps.sh builds it)
# on Debian's etcd, on loopback, with no nodes and no controllers. For each overlay, on an
# etcd prefix of its own:
#   - `kubectl apply --server-side -k` creates every object the overlay renders;
#   - every workload's pod template passes the namespace's PodSecurity `restricted`
#     admission (created as a Pod with --dry-run=server), and one with no security context does not;
#   - what the server stored has every field the overlay set; HPAs, PDBs and NetworkPolicies
#     make sense together (tests/k8s/apiserver_check.py stored);
#   - dev: applied again after an upgrade (a new Kafka image for the topics Job and new topic
#     settings), which must succeed: a Job's pod template is immutable.
#
#   apiserver_test.sh KUBE_APISERVER KUBECTL ETCD K8S_DIR PYTHON
set -euo pipefail
apiserver_bin=$1 kubectl_bin=$2 etcd_bin=$3 k8s_dir=$4 python=$5
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../../scripts/lib.sh
source "$here/../../scripts/lib.sh"
check() { "$python" "$here/apiserver_check.py" "$@"; }
for b in "$apiserver_bin" "$kubectl_bin" "$etcd_bin"; do
  [ -x "$b" ] || fail "$b is missing: run scripts/install-deps.sh test"
done

etcd_port=$(free_port) peer_port=$(free_port)
"$etcd_bin" --name k8s-test --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" \
  --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "k8s-test=http://127.0.0.1:$peer_port" >"$work/etcd.log" 2>&1 &
helper_pids+=($!)
wait_for_port "$etcd_port"

openssl genrsa -out "$work/sa.key" 2048 2>/dev/null
token=$(openssl rand -hex 16)
echo "$token,admin,admin,system:masters" >"$work/tokens.csv"
api_pid=""
# start_apiserver PREFIX: a kube-apiserver keeping its objects under /PREFIX in etcd (so each
# overlay starts from an empty cluster); returns once /readyz answers ok.
start_apiserver() {
  if [ -n "$api_pid" ]; then kill -TERM "$api_pid"; wait "$api_pid" || true; fi
  api_port=$(free_port)
  "$apiserver_bin" --etcd-servers "http://127.0.0.1:$etcd_port" --etcd-prefix "/$1" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --cert-dir "$work/apiserver-certs" --token-auth-file "$work/tokens.csv" \
    --authorization-mode RBAC --service-cluster-ip-range 10.96.0.0/16 \
    --service-account-key-file "$work/sa.key" --service-account-signing-key-file "$work/sa.key" \
    --service-account-issuer https://kubernetes.default.svc >"$work/apiserver-$1.log" 2>&1 &
  api_pid=$!
  helper_pids+=("$api_pid")
  local deadline=$((SECONDS + 90))
  until [ "$(k get --raw /readyz 2>/dev/null)" = ok ]; do
    kill -0 "$api_pid" 2>/dev/null || { tail -20 "$work/apiserver-$1.log" >&2; fail "kube-apiserver exited"; }
    [ $SECONDS -lt $deadline ] || { tail -20 "$work/apiserver-$1.log" >&2; fail "kube-apiserver not ready after 90s"; }
    sleep 0.5
  done
  echo "kube-apiserver $("$apiserver_bin" --version | cut -d' ' -f2) ready on 127.0.0.1:$api_port (etcd prefix /$1)"
}
k() {
  "$kubectl_bin" --server "https://127.0.0.1:$api_port" --token "$token" \
    --insecure-skip-tls-verify=true "$@"
}

# apply_overlay DIR NAME: applies it, checks that every rendered object was created or
# configured, and leaves the rendering in $work/NAME.yaml.
apply_overlay() {
  local dir=$1 name=$2 want applied
  k kustomize "$dir" >"$work/$name.yaml"
  want=$(check count "$work/$name.yaml")
  k apply --server-side -k "$dir" >"$work/$name.applied" 2>&1 ||
    { cat "$work/$name.applied" >&2; fail "kubectl apply -k $dir failed"; }
  applied=$(grep -cE ' (serverside-applied|created|configured|unchanged)$' "$work/$name.applied" || true)
  [ "$applied" -eq "$want" ] ||
    { cat "$work/$name.applied" >&2; fail "$name: $applied objects applied of the $want it renders"; }
  echo "$name: kubectl apply --server-side -k: $applied of $want objects"
}

# admit NAME: each workload's pod template, created as a Pod with --dry-run=server, passes
# the namespace's PodSecurity admission; a Pod with no security context is refused by it.
admit() {
  local name=$1 pods="$work/$1-pods" n f out
  mkdir -p "$pods"
  n=$(check pods "$work/$name.yaml" "$pods")
  # The ServiceAccount admission looks up the pod's account; the controller-manager, which
  # would create `default`, does not run here.
  k -n cdnwarm get serviceaccount default >/dev/null 2>&1 ||
    k -n cdnwarm create serviceaccount default >/dev/null
  [ "$(k get namespace cdnwarm -o jsonpath='{.metadata.labels.pod-security\.kubernetes\.io/enforce}')" = restricted ] ||
    fail "namespace cdnwarm does not enforce the restricted Pod Security Standard"
  for f in "$pods"/*.json; do
    [ "$(basename "$f")" != unsafe.json ] || continue
    out=$(k create --dry-run=server -f "$f" 2>&1) ||
      fail "$name: $(basename "$f" .json) is refused: $out"
    ! grep -qi warning <<<"$out" || fail "$name: $(basename "$f" .json): $out"
  done
  if out=$(k create --dry-run=server -f "$pods/unsafe.json" 2>&1); then
    fail "$name: a pod with no security context was admitted: PodSecurity does not enforce here ($out)"
  fi
  grep -q 'violates PodSecurity "restricted' <<<"$out" ||
    fail "$name: the pod with no security context was refused, but not by PodSecurity: $out"
  echo "$name: $n pod templates admitted by PodSecurity restricted; one with no security context refused"
}

# ---- dev
start_apiserver dev
apply_overlay "$k8s_dir/overlays/dev" dev
admit dev
k get -n cdnwarm hpa,pdb,networkpolicy -o json >"$work/dev-policies.json"
check stored "$work/dev.yaml" "$work/dev-policies.json" \
  HorizontalPodAutoscaler PodDisruptionBudget NetworkPolicy
k get -n cdnwarm deployments,statefulsets,jobs,configmaps,services -o json >"$work/dev-objects.json"
check stored "$work/dev.yaml" "$work/dev-objects.json" \
  Deployment StatefulSet Job ConfigMap Service >/dev/null
old_job=$(k -n cdnwarm get jobs -o name)

# Again, unchanged: nothing to do.
apply_overlay "$k8s_dir/overlays/dev" dev
# An upgrade: the topics Job on a new Kafka image, and new topic settings.
cp -r "$k8s_dir" "$work/k8s-v2"
sed -i 's|KAFKA_IMAGE=apache/kafka:[0-9.]*|KAFKA_IMAGE=apache/kafka:9.9.9|' \
  "$work/k8s-v2/base/kustomization.yaml"
grep -q 'KAFKA_IMAGE=apache/kafka:9.9.9' "$work/k8s-v2/base/kustomization.yaml" ||
  fail "no KAFKA_IMAGE in base/kustomization.yaml to change"
python3 - "$work/k8s-v2/overlays/dev/kustomization.yaml" <<'EOF'
import sys
p = sys.argv[1]
s = open(p).read()
old = 'path: /data/TOPIC_PARTITIONS\n        value: "6"'
assert old in s, "no TOPIC_PARTITIONS patch in the dev overlay"
open(p, "w").write(s.replace(old, 'path: /data/TOPIC_PARTITIONS\n        value: "12"'))
EOF
apply_overlay "$work/k8s-v2/overlays/dev" dev-v2
[ "$(k -n cdnwarm get configmap cdnwarm-config -o jsonpath='{.data.TOPIC_PARTITIONS}')" = 12 ] ||
  fail "the re-applied TOPIC_PARTITIONS is not stored"
new_job=$(k -n cdnwarm get jobs -o name | grep -vx "$old_job" || true)
[ -n "$new_job" ] || fail "no new topics Job after its image changed (still $old_job)"
[ "$(k -n cdnwarm get "$new_job" -o jsonpath='{.spec.template.spec.containers[0].image}')" = apache/kafka:9.9.9 ] ||
  fail "$new_job does not run the new image"
echo "dev: re-applied after an upgrade: $old_job, then $new_job"

# ---- prod
start_apiserver prod
apply_overlay "$k8s_dir/overlays/prod" prod
admit prod
k get -n cdnwarm hpa,pdb,networkpolicy -o json >"$work/prod-policies.json"
check stored "$work/prod.yaml" "$work/prod-policies.json" \
  HorizontalPodAutoscaler PodDisruptionBudget NetworkPolicy
k get -n cdnwarm deployments,jobs,configmaps,services -o json >"$work/prod-objects.json"
check stored "$work/prod.yaml" "$work/prod-objects.json" Deployment Job ConfigMap Service >/dev/null
k get -n cdnwarm hpa,pdb,networkpolicy
echo "PASS"
