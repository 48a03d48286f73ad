#!/usr/bin/env bash
# Installs what cdnwarm needs on Debian 12, for one purpose:
#
#   scripts/install-deps.sh run      what scripts/run.sh needs on the mock cluster
#   scripts/install-deps.sh broker   that, plus a real Kafka broker (JDK, Maven, the jars)
#   scripts/install-deps.sh bench    that, plus what bench/run.sh drives (wrk, h2load, ...)
#   scripts/install-deps.sh [test]   everything: build, test, lint, benchmark, manifests
#
# Idempotent: a second run only checks and returns. Tools that do not come from
# Debian (grpcurl, Python grpcio, kustomize, the broker's jars) go to $CDNWARM_CACHE,
# outside the source tree.
set -euo pipefail

purpose=${1:-test}
case $purpose in
  run | broker | bench | test) ;;
  *) echo "usage: scripts/install-deps.sh [run|broker|bench|test]" >&2; exit 2 ;;
esac

CDNWARM_CACHE="${CDNWARM_CACHE:-$HOME/.cache/cdnwarm}"
GRPCURL_VERSION="v1.9.1"
GRPCIO_VERSION="1.66.2"
PROTOBUF_PY_VERSION="5.27.2"  # what grpcio-health-checking 1.66.2 was generated with
PY_TOOLS_STAMP=2  # bump when the pip list below changes
KUSTOMIZE_VERSION="v5.4.3"
KUBERNETES_VALIDATE_VERSION="1.37.0"
CHECKOV_VERSION="3.3.30"

# What each purpose needs from Debian. `run` is scripts/run.sh's demo on the mock cluster
# (build the services, nginx edges, the Python client, grpcurl); `broker` adds a real Kafka
# broker (a JDK, Maven for its jars, kcat); `bench` adds the load generators and the chart;
# `test` adds the test and lint tools to all of that.
RUN_APT=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librdkafka-dev libcurl4-openssl-dev libabsl-dev libre2-dev libssl-dev zlib1g-dev libexpat1-dev libidn2-dev
  nginx-light python3 python3-venv golang-go
)
BROKER_APT=(kcat default-jdk-headless maven)
BENCH_APT=(libbenchmark-dev wrk nghttp2-client python3-matplotlib openssl)
TEST_APT=(clang-format clang-tidy clang-14 libclang-rt-14-dev libgtest-dev libgmock-dev)

log() { printf '[install-deps] %s\n' "$*" >&2; }
die() { printf '[install-deps] error: %s\n' "$*" >&2; exit 1; }

apt_packages() {
  printf '%s\n' "${RUN_APT[@]}"
  [ "$purpose" = run ] || printf '%s\n' "${BROKER_APT[@]}"
  case $purpose in bench | test) printf '%s\n' "${BENCH_APT[@]}" ;; esac
  [ "$purpose" != test ] || printf '%s\n' "${TEST_APT[@]}"
}

missing_apt() {
  local pkg
  for pkg in $(apt_packages); do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
      || printf '%s\n' "$pkg"
  done
}

install_apt() {
  local missing
  missing=$(missing_apt)
  # A machine that already has Go (e.g. /usr/local/go) does not need Debian's.
  if command -v go >/dev/null 2>&1; then missing=$(grep -vx golang-go <<<"$missing" || true); fi
  [ -z "$missing" ] && { log "Debian packages: all present"; return; }
  command -v apt-get >/dev/null 2>&1 ||
    die "no apt-get: this script installs with Debian 12's apt; install by hand: $(echo $missing)"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 ||
      die "Debian packages are missing and this is not root, with no sudo: as root, run apt-get install $(echo $missing)"
    sudo="sudo"
  fi
  log "Debian packages to install: $(echo $missing)"
  $sudo apt-get update -qq || die "apt-get update failed (network, or the package sources in /etc/apt)"
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing ||
    die "apt-get install failed for: $(echo $missing)"
  # nginx is used as a test edge started by the tests themselves, never as a system service.
  if command -v systemctl >/dev/null 2>&1; then $sudo systemctl disable --now nginx >/dev/null 2>&1 || true; fi
}

install_grpcurl() {
  # `go install` builds carry no version string, so a stamp records which one is there.
  local bin="$CDNWARM_CACHE/bin/grpcurl" stamp="$CDNWARM_CACHE/bin/.grpcurl-${GRPCURL_VERSION}"
  if [ -x "$bin" ] && [ -f "$stamp" ]; then
    log "grpcurl ${GRPCURL_VERSION}: present"; return
  fi
  log "grpcurl ${GRPCURL_VERSION}: go install"
  mkdir -p "$CDNWARM_CACHE/bin"
  GOBIN="$CDNWARM_CACHE/bin" GOFLAGS=-mod=mod \
    go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@${GRPCURL_VERSION}"
  touch "$stamp"
}

install_python() {
  local venv="$CDNWARM_CACHE/venv"
  local stamp="$venv/.cdnwarm-${GRPCIO_VERSION}-${PROTOBUF_PY_VERSION}-${PY_TOOLS_STAMP}"
  if [ -f "$stamp" ]; then log "python grpcio ${GRPCIO_VERSION}: present"; return; fi
  log "python grpcio ${GRPCIO_VERSION}: pip install into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    "grpcio==${GRPCIO_VERSION}" "grpcio-tools==${GRPCIO_VERSION}" \
    "grpcio-health-checking==${GRPCIO_VERSION}" "grpcio-reflection==${GRPCIO_VERSION}" \
    "protobuf==${PROTOBUF_PY_VERSION}" "pytest==8.3.3" "prometheus_client==0.21.0"
  touch "$stamp"
}

# The manifest checks: kustomize (Go module proxy) and, in a venv of their own (checkov pins
# many packages), kubernetes-validate and checkov from PyPI.
install_k8s_tools() {
  local stamp="$CDNWARM_CACHE/bin/.kustomize-${KUSTOMIZE_VERSION}"
  if [ -x "$CDNWARM_CACHE/bin/kustomize" ] && [ -f "$stamp" ]; then
    log "kustomize ${KUSTOMIZE_VERSION}: present"
  else
    log "kustomize ${KUSTOMIZE_VERSION}: go install"
    mkdir -p "$CDNWARM_CACHE/bin"
    GOBIN="$CDNWARM_CACHE/bin" GOFLAGS=-mod=mod \
      go install "sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}"
    touch "$stamp"
  fi
  local venv="$CDNWARM_CACHE/venv-k8s"
  stamp="$venv/.cdnwarm-${KUBERNETES_VALIDATE_VERSION}-${CHECKOV_VERSION}"
  if [ -f "$stamp" ]; then log "kubernetes-validate, checkov: present"; return; fi
  log "kubernetes-validate ${KUBERNETES_VALIDATE_VERSION}, checkov ${CHECKOV_VERSION}: pip install"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    "kubernetes-validate==${KUBERNETES_VALIDATE_VERSION}" "checkov==${CHECKOV_VERSION}"
  touch "$stamp"
}

install_apt
install_grpcurl
install_python
[ "$purpose" != test ] || install_k8s_tools
[ "$purpose" = run ] || "$(dirname "$0")/kafka.sh" fetch
log "done; tools in $CDNWARM_CACHE/bin, python venv in $CDNWARM_CACHE/venv"
