#!/usr/bin/env bash
# The images, run as the manifests run them. Builds the three images (scripts/images.sh
# build), renders k8s/overlays/dev with a test overlay on top (the test broker and edges
# instead of the in-cluster Kafka and the example edge pins), and starts each Deployment's
# container from its image with the rendered container spec (tests/k8s/pod_run.py: args,
# env and ConfigMap values, runAsUser, read-only root filesystem, dropped capabilities,
# limits, grace period). Then:
#   - each container answers its gRPC health probes as the kubelet asks them (grpc.health.v1,
#     the services named in the probes: "" for readiness, liveness);
#   - 30 URLs go in through the producer container and are a HIT at all 3 regions' edges,
#     and each edge's access log shows the warmer's GET for each of them;
#   - SIGTERM to a warmer container: it drains and exits 0 within its grace period.
# A library missing from an image fails here: its service cannot start.
#
#   images_test.sh K8S_DIR KUSTOMIZE K8S_PYTHON PYTHON GRPCURL ORIGIN_PY
set -euo pipefail
k8s_dir=$1 kustomize=$2 k8s_python=$3 python=$4 grpcurl=$5 origin_py=$6
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../../scripts/lib.sh
source "$here/../../scripts/lib.sh"
export CONTAINERS_CONF="${CDNWARM_CACHE:-$HOME/.cache/cdnwarm}/podman/containers.conf"
containers=()
stop_containers() {
  local c
  for c in "${containers[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
}
trap 'stop_containers; cleanup' EXIT

echo "--- scripts/images.sh build"
"$here/../../scripts/images.sh" build || fail "the images did not build"

# What is in the images: the non-root user, the OCI labels, and no shell or package manager.
commit=$(git -C "$here" rev-parse --short=12 HEAD)
for s in producer streamer-bridge warmer; do
  image="ghcr.io/cdnwarm/$s:0.1.0"
  user=$(podman image inspect --format '{{.Config.User}}' "$image")
  [ "$user" = 65532:65532 ] || fail "$image runs as '$user', not 65532:65532"
  for label in source revision version; do
    value=$(podman image inspect --format "{{index .Labels \"org.opencontainers.image.$label\"}}" "$image")
    case $value in "" | "<no value>") fail "$image has no label org.opencontainers.image.$label" ;; esac
  done
  revision=$(podman image inspect --format '{{index .Labels "org.opencontainers.image.revision"}}' "$image")
  [ "${revision%-dirty}" = "$commit" ] || fail "$image: revision $revision, not the commit $commit"
  cid=$(podman create "$image")
  podman export "$cid" | tar -t >"$work/$s.files"
  podman rm "$cid" >/dev/null
  for f in bin/sh bin/bash bin/dash usr/bin/sh usr/bin/bash usr/bin/dash usr/bin/apt usr/bin/dpkg usr/bin/ls; do
    ! grep -qx "$f" "$work/$s.files" || fail "$image has /$f"
  done
  echo "$s: user 65532, labels source/revision/version ($revision), $(wc -l <"$work/$s.files") files, no shell or package manager"
done

start_broker 39942
start_mesh_edges "$python" "$origin_py"

# The test overlay: dev, with Kafka and the edges of this test. The warmers may reach the
# loopback edges (--allow_private_ranges), which a real deployment never needs.
cp -r "$k8s_dir" "$work/k8s"
mkdir -p "$work/k8s/overlays/images-test"
{
  cat <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../dev]
patches:
  - target: {kind: StatefulSet, name: kafka}
    patch: '{"\$patch": "delete", "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "any"}}'
  - target: {kind: ConfigMap, name: cdnwarm-config}
    patch: |-
      - {op: replace, path: /data/KAFKA_BOOTSTRAP, value: "$kafka"}
      - {op: replace, path: /data/ALLOWED_HOSTS, value: "$mesh_host"}
  - target: {kind: Deployment, name: warmer-.*}
    patch: |-
      - {op: add, path: /spec/template/spec/containers/0/args/-, value: "--allow_private_ranges=127.0.0.0/8"}
EOF
  for r in "${mesh_regions[@]}"; do
    cat <<EOF
  - target: {kind: ConfigMap, name: warmer-region-$r}
    patch: |-
      - {op: replace, path: /data/EDGE_PINS, value: "$mesh_host:80:${edge_host[$r]}:${edge_ports[$r]}"}
EOF
  done
} >"$work/k8s/overlays/images-test/kustomization.yaml"
"$kustomize" build "$work/k8s/overlays/images-test" >"$work/rendered.yaml" ||
  fail "kustomize build of the test overlay failed"

# The topics, by the topics Job's own script (from its rendered ConfigMap) with the test
# broker's kafka-topics: the services run with --create_topics=false.
"$k8s_python" - "$work/rendered.yaml" "$work" <<'EOF'
import sys, yaml
objs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
cm = {o["metadata"]["name"]: o.get("data", {}) for o in objs if o["kind"] == "ConfigMap"}
topics = next(v for k, v in cm.items() if k.startswith("cdnwarm-topics"))
open(f"{sys.argv[2]}/create-topics.sh", "w").write(topics["create-topics.sh"])
with open(f"{sys.argv[2]}/topics.env", "w") as f:
    for k, v in cm["cdnwarm-config"].items():
        f.write(f"export {k}='{v}'\n")
EOF
cat >"$work/kafka-topics" <<EOF
#!/usr/bin/env bash
# kafka-topics.sh for the test broker: kafka.sh tool gives it the bootstrap address.
[ "\$1" = --bootstrap-server ] && shift 2
exec "$lib_dir/kafka.sh" tool "$broker_dir" org.apache.kafka.tools.TopicCommand "\$@"
EOF
chmod +x "$work/kafka-topics"
sed -i "s|/opt/kafka/bin/kafka-topics.sh|$work/kafka-topics|" "$work/create-topics.sh"
(
  # shellcheck disable=SC1091  # written above
  . "$work/topics.env"
  sh "$work/create-topics.sh"
) >"$work/topics.log" 2>&1 || { cat "$work/topics.log" >&2; fail "create-topics.sh failed"; }
echo "topics created by the topics Job's script"

"$k8s_python" "$here/pod_run.py" "$work/rendered.yaml" "$work" podman >"$work/pods.tsv" ||
  fail "pod_run.py could not translate the rendered Deployments"
declare -A pod_addr grace
while IFS=$'\t' read -r name ip port liveness readiness g cmd; do
  pod_addr[$name]="$ip:$port"
  grace[$name]=$g
  mapfile -t argv < <("$python" -c 'import json, sys; print("\n".join(json.loads(sys.argv[1])))' "$cmd")
  "${argv[@]}" >"$work/$name.log" 2>&1 &
  helper_pids+=($!)
  containers+=("$name-0")
  echo "started $name-0 on $ip:$port (probes: liveness ${liveness}, readiness ${readiness/-/overall})"
done <"$work/pods.tsv"

# health ADDR SERVICE: SERVING, as the kubelet's grpc probe asks it (tests/python/health_check.py).
health() { "$python" "$here/../python/health_check.py" "$1" SERVING "$2" >/dev/null 2>&1; }
# Startup probes allow 60 × 2 s.
for name in "${!pod_addr[@]}"; do
  deadline=$((SECONDS + 120))
  while :; do
    health "${pod_addr[$name]}" "" && health "${pod_addr[$name]}" liveness && break
    podman container exists "$name-0" || { cat "$work/$name.log" >&2; fail "$name's container exited"; }
    [ $SECONDS -lt $deadline ] ||
      { cat "$work/$name.log" >&2; fail "$name after 120s: $("$python" "$here/../python/health_check.py" "${pod_addr[$name]}" SERVING "" 2>&1 | tail -1); $("$python" "$here/../python/health_check.py" "${pod_addr[$name]}" SERVING liveness 2>&1 | tail -1)"; }
    sleep 0.5
  done
  echo "$name: readiness SERVING, liveness SERVING"
done

producer_addr=${pod_addr[producer]}
bridge_addr=${pod_addr[streamer-bridge]}
deadline=$((SECONDS + 60))
until [ "$(mesh_ready "$python" 3)" = "${#mesh_regions[@]}" ]; do
  [ $SECONDS -lt $deadline ] || fail "not every warmer subscribed: $(mesh_subs "$python")"
  sleep 0.2
done

urls=30
mesh_urls "$urls"
reply=$("$grpcurl" -plaintext -d @ "$producer_addr" cdnwarm.v1.Producer/WarmBatch <"$work/batch.json") ||
  fail "WarmBatch: $reply"
grep -q "\"accepted\": $urls" <<<"$reply" || fail "WarmBatch reply: $reply"
job=$(sed -n 's/.*"job_id": "\([^"]*\)".*/\1/p' <<<"$reply")
deadline=$((SECONDS + 120))
while :; do
  state=$("$grpcurl" -plaintext -d "{\"job_id\": \"$job\"}" "$producer_addr" cdnwarm.v1.Producer/GetJob) ||
    fail "GetJob: $state"
  grep -q '^  "done": true' <<<"$state" && break
  [ $SECONDS -lt $deadline ] || fail "job not done within 120s: $state"
  sleep 0.5
done
[ "$(grep -c "\"warmed\": \"$urls\"" <<<"$state")" -eq 3 ] || fail "not every region warmed $urls: $state"
for r in "${mesh_regions[@]}"; do
  # The warmer's GETs, in the edge's own log, before this test asks the edge anything.
  warmed=$(grep '" 200 [0-9]* "-" "cdnwarm-warmer/' "$work/edge-$r/access.log" |
    grep -o 'GET /static/page-[0-9]*\.html ' | sort -u | wc -l)
  [ "$warmed" -eq "$urls" ] || fail "$r's edge logged the warmer's GETs of $warmed of the $urls URLs"
  hits=$(edge_hits "$r")
  [ "$hits" -eq "$urls" ] || fail "only $hits of $urls URLs are a HIT at $r's edge"
  echo "$r: the edge logged the warmer's GET of each of the $urls URLs; all are a HIT"
done

# SIGTERM, as the kubelet sends it, while the warmer has GETs in flight (slow origin
# answers): it drains and exits 0 within its grace period.
w="warmer-us-east"
for i in $(seq 1 8); do echo "{\"url\": \"http://$mesh_host/slow?ms=1500&n=$i\"}"; done >"$work/slow.json"
"$grpcurl" -plaintext -d @ "$producer_addr" cdnwarm.v1.Producer/WarmBatch <"$work/slow.json" >/dev/null ||
  fail "WarmBatch of the slow URLs failed"
# In flight: the warmer's own gauge, on its admin port (the pod's address).
in_flight() {
  curl -s "http://${pod_addr[$w]%:*}:9103/metrics" |
    awk '/^cdnwarm_warmer_http_in_flight/ { n += $2 } END { print n + 0 }'
}
deadline=$((SECONDS + 30))
until [ "$(in_flight)" -gt 0 ]; do
  [ $SECONDS -lt $deadline ] || fail "$w did not start the slow URLs"
  sleep 0.1
done
busy=$(in_flight)
start=$SECONDS
podman kill --signal TERM "$w-0" >/dev/null
rc=$(timeout "${grace[$w]}" podman wait "$w-0" 2>/dev/null) ||
  fail "$w did not exit within its ${grace[$w]} s grace period after SIGTERM"
[ "$rc" = 0 ] || fail "$w exited $rc after SIGTERM: $(tail -3 "$work/$w.log")"
grep -q '"msg":"drain finished"' "$work/$w.log" || fail "$w did not drain: $(tail -3 "$work/$w.log")"
echo "$w: SIGTERM with $busy GETs in flight, drained, exit 0 after $((SECONDS - start)) s (grace ${grace[$w]} s)"
echo "PASS"
