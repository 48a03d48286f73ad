#!/usr/bin/env bash
# Installs what cdnwarm needs on Debian 12, for one purpose:
#
#   scripts/install-deps.sh run      what scripts/run.sh needs on the mock cluster
#   scripts/install-deps.sh broker   that, plus a real Kafka broker (JDK, Maven, the jars)
#   scripts/install-deps.sh bench    that, plus what bench/run.sh drives (wrk, h2load, ...)
#   scripts/install-deps.sh tsan     only librdkafka built with ThreadSanitizer, which the tsan
#                                    preset links (test includes it)
#   scripts/install-deps.sh [test]   everything: build, test, lint, benchmark, manifests
#
# Every purpose but tsan also gets Node.js and npm, which build the web console.
# Idempotent: a second run only checks and returns. Tools that do not come from
# Debian (grpcurl, Python grpcio, kustomize, the broker's jars, the TSan librdkafka) go to
# $CDNWARM_CACHE, outside the source tree.
set -euo pipefail

purpose=${1:-test}
case $purpose in
  run | broker | bench | tsan | test) ;;
  *) echo "usage: scripts/install-deps.sh [run|broker|bench|tsan|test]" >&2; exit 2 ;;
esac

CDNWARM_CACHE="${CDNWARM_CACHE:-$HOME/.cache/cdnwarm}"
GRPCURL_VERSION="v1.9.1"
GRPCIO_VERSION="1.66.2"
PROTOBUF_PY_VERSION="5.27.2"  # what grpcio-health-checking 1.66.2 was generated with
PY_TOOLS_STAMP=2  # bump when the pip list below changes
KUSTOMIZE_VERSION="v5.4.3"
KUBERNETES_VALIDATE_VERSION="1.37.0"
CHECKOV_VERSION="3.3.30"
KUBERNETES_VERSION="v1.32.0"  # kube-apiserver and kubectl for the k8s label's API server
RDKAFKA_TSAN_STAMP=1  # bump when the configure line of the TSan librdkafka below changes

# What each purpose needs from Debian. `run` is scripts/run.sh's demo on the mock cluster
# (build the services, nginx edges, the Python client, grpcurl); `broker` adds a real Kafka
# broker (a JDK, Maven for its jars, kcat); `bench` adds the load generators and the chart;
# `test` adds the test and lint tools to all of that. `tsan` needs only what builds
# librdkafka from Debian's source package (dpkg-dev unpacks it); `test` includes it.
RUN_APT=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librdkafka-dev libcurl4-openssl-dev libabsl-dev libre2-dev libssl-dev zlib1g-dev libexpat1-dev
  libcpp-httplib-dev prometheus-cpp-dev libgoogle-perftools-dev
  nginx-light python3 python3-venv golang-go
)
BROKER_APT=(kcat default-jdk-headless maven)
BENCH_APT=(libbenchmark-dev wrk nghttp2-client python3-matplotlib openssl valgrind)
TEST_APT=(clang-format clang-tidy clang-14 libclang-rt-14-dev libgtest-dev libgmock-dev varnish
  shellcheck chromium podman runc debootstrap etcd-server ccache)
TSAN_APT=(build-essential dpkg-dev pkg-config librdkafka-dev libssl-dev zlib1g-dev)

log() { printf '[install-deps] %s\n' "$*" >&2; }
die() { printf '[install-deps] error: %s\n' "$*" >&2; exit 1; }

apt_packages() {
  case $purpose in
    tsan) printf '%s\n' "${TSAN_APT[@]}"; return ;;
    test) printf '%s\n' "${TSAN_APT[@]}" ;;
  esac
  printf '%s\n' "${RUN_APT[@]}"
  [ "$purpose" = run ] || printf '%s\n' "${BROKER_APT[@]}"
  case $purpose in bench | test) printf '%s\n' "${BENCH_APT[@]}" ;; esac
  [ "$purpose" != test ] || printf '%s\n' "${TEST_APT[@]}"
}

missing_apt() {
  local pkg
  for pkg in $(apt_packages); do
    grep -q 'install ok installed' < <(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) \
      || printf '%s\n' "$pkg"
  done
}

# Prints "sudo" when not root (empty when root); dies saying what to run as root otherwise.
as_root() {
  [ "$(id -u)" -eq 0 ] && return
  command -v sudo >/dev/null 2>&1 || die "$1 and this is not root, with no sudo: as root, $2"
  echo sudo
}

install_apt() {
  local missing
  missing=$(missing_apt | sort -u)
  # A machine that already has Go (e.g. /usr/local/go) does not need Debian's.
  if command -v go >/dev/null 2>&1; then missing=$(grep -vx golang-go <<<"$missing" || true); fi
  [ -z "$missing" ] && { log "Debian packages: all present"; return; }
  local pkgs
  mapfile -t pkgs <<<"$missing"
  command -v apt-get >/dev/null 2>&1 ||
    die "no apt-get: this script installs with Debian 12's apt; install by hand: ${pkgs[*]}"
  local sudo
  sudo=$(as_root "Debian packages are missing" "run apt-get install ${pkgs[*]}")
  log "Debian packages to install: ${pkgs[*]}"
  $sudo apt-get update -qq || die "apt-get update failed (network, or the package sources in /etc/apt)"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" ||
    die "apt-get install failed for: ${pkgs[*]}"
  # nginx is used as a test edge started by the tests themselves, never as a system service.
  if command -v systemctl >/dev/null 2>&1; then $sudo systemctl disable --now nginx >/dev/null 2>&1 || true; fi
}

# Node.js and npm build the web console (console/). A machine may have its own Node.js
# (e.g. NodeSource's, which includes npm): it is used when it is 18 or newer; else Debian's.
install_node() {
  local major=0
  if command -v node >/dev/null 2>&1; then major=$(node -p 'process.versions.node.split(".")[0]'); fi
  if [ "$major" -ge 18 ] && command -v npm >/dev/null 2>&1; then
    log "Node.js $(node --version) and npm: present"; return
  fi
  local sudo
  sudo=$(as_root "Node.js 18+ and npm are missing" "run apt-get install nodejs npm")
  log "Node.js and npm: apt-get install nodejs npm"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm ||
    die "apt-get install failed for: nodejs npm"
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

# kube-apiserver and kubectl, for the `k8s` label's tests against a real API server (on
# Debian's etcd-server): built from the Go module proxy, since Debian has neither. A throwaway
# module requires k8s.io/kubernetes and points each k8s.io staging module its go.mod replaces
# with a local path at the published module of the same release (v0.N.P for v1.N.P).
install_kube_tools() {
  local stamp="$CDNWARM_CACHE/bin/.kube-${KUBERNETES_VERSION}"
  if [ -x "$CDNWARM_CACHE/bin/kube-apiserver" ] && [ -x "$CDNWARM_CACHE/bin/kubectl" ] &&
    [ -f "$stamp" ]; then
    log "kube-apiserver and kubectl ${KUBERNETES_VERSION}: present"; return
  fi
  log "kube-apiserver and kubectl ${KUBERNETES_VERSION}: go build (once; 4 to 8 minutes)"
  mkdir -p "$CDNWARM_CACHE/bin"
  local work modfile minor=${KUBERNETES_VERSION#v1.}
  work=$(mktemp -d "$CDNWARM_CACHE/kube-build.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" EXIT
  modfile=$(cd "$work" && go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["GoMod"])') ||
    die "go mod download k8s.io/kubernetes@${KUBERNETES_VERSION} failed"
  {
    echo "module cdnwarm.local/kube-tools"
    echo "go 1.23"
    echo "require k8s.io/kubernetes ${KUBERNETES_VERSION}"
    awk '/^replace \(/ { f = 1; next } f && /^\)/ { f = 0 }
         f && $1 ~ /^k8s\.io\// && $3 ~ /^\.\/staging\// { print $1 }' "$modfile" |
      while read -r m; do echo "replace $m => $m v0.${minor}"; done
  } >"$work/go.mod"
  printf '%s\n' '//go:build tools' '' 'package tools' '' 'import (' \
    '	_ "k8s.io/kubernetes/cmd/kube-apiserver"' '	_ "k8s.io/kubernetes/cmd/kubectl"' ')' \
    >"$work/tools.go"
  local v=k8s.io/component-base/version
  (
    cd "$work" && GOFLAGS=-mod=mod go mod tidy &&
      GOFLAGS=-mod=mod go build -o "$CDNWARM_CACHE/bin/" -ldflags "-X $v.gitVersion=${KUBERNETES_VERSION} \
        -X $v.gitMajor=1 -X $v.gitMinor=${minor%%.*} -X $v.gitTreeState=clean" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
  ) >"$work/log" 2>&1 || { tail -30 "$work/log" >&2; die "building kube-apiserver ${KUBERNETES_VERSION} failed (see above)"; }
  touch "$stamp"
  rm -rf "$work"
  trap - EXIT
}

# librdkafka built with -fsanitize=thread, for the tsan preset (CDNWARM_RDKAFKA_ROOT): Debian's
# is not instrumented, so TSan cannot see its atomics and reports its threads' accesses as
# races. Built from Debian's source package of the installed version (so the headers and the
# behaviour are those of the library the other builds link); only the C library, with what
# the project can use: TLS (OpenSSL), SASL PLAIN/SCRAM/OAUTHBEARER (built in), gzip (zlib),
# and the bundled lz4 and snappy; no zstd, Kerberos (Cyrus SASL) or OIDC (libcurl). Its threads
# are its own wrappers over pthreads (--disable-c11threads), not glibc's C11 threads, which
# gcc 12's TSan does not intercept.
install_rdkafka_tsan() {
  local prefix="$CDNWARM_CACHE/librdkafka-tsan" version
  version=$(dpkg-query -W -f='${Version}' librdkafka-dev 2>/dev/null) ||
    die "librdkafka-dev is not installed (scripts/install-deps.sh installs it)"
  local stamp="$prefix/.cdnwarm-${version}-${RDKAFKA_TSAN_STAMP}"
  if [ -f "$stamp" ] && [ -f "$prefix/lib/librdkafka.so.1" ]; then
    log "librdkafka ${version} with ThreadSanitizer: present"; return
  fi
  log "librdkafka ${version} with ThreadSanitizer: building from Debian's source package into $prefix"
  mkdir -p "$CDNWARM_CACHE"
  local work
  work=$(mktemp -d "$CDNWARM_CACHE/librdkafka-tsan-build.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" EXIT
  if ! (cd "$work" && apt-get source --print-uris -qq "librdkafka=$version") >/dev/null 2>&1; then
    add_deb_src "$version"
  fi
  (cd "$work" && apt-get source -qq "librdkafka=$version") >"$work/log" 2>&1 || {
    tail -20 "$work/log" >&2
    die "apt-get source librdkafka=$version failed (see above)"
  }
  local upstream=${version#*:}  # the unpacked directory has neither epoch nor Debian revision
  local src="$work/librdkafka-${upstream%-*}"
  [ -x "$src/configure" ] || die "apt-get source librdkafka=$version: no $src/configure"
  rm -rf "$prefix"
  # (`if` turns set -e off inside its condition, hence the &&.)
  if ! (
    cd "$src" &&
      ./configure --no-download --prefix="$prefix" \
        --enable-ssl --enable-zlib --disable-zstd --disable-gssapi --disable-curl \
        --disable-lz4-ext --disable-c11threads \
        --CFLAGS="-fsanitize=thread -fno-omit-frame-pointer" --LDFLAGS="-fsanitize=thread" &&
      make -C src -j"$(nproc)" lib &&
      make -C src install
  ) >>"$work/log" 2>&1; then
    tail -40 "$work/log" >&2
    die "building librdkafka $version with ThreadSanitizer failed (see above)"
  fi
  # Only the shared library is linked; the static archives are 45 MB.
  rm -f "$prefix"/lib/*.a "$prefix/lib/pkgconfig/rdkafka-static.pc"
  nm -D "$prefix/lib/librdkafka.so.1" | grep __tsan_ >/dev/null ||
    die "$prefix/lib/librdkafka.so.1 is not instrumented with ThreadSanitizer"
  touch "$stamp"
  rm -rf "$work"
  trap - EXIT
}

# A deb-src line for the archive that the installed librdkafka-dev came from, so that
# `apt-get source` finds the same version (Debian images often have no deb-src at all).
add_deb_src() {
  local version=$1 line uri suite component list=/etc/apt/sources.list.d/cdnwarm-deb-src.sources
  line=$(apt-cache policy librdkafka-dev |
    awk -v v="$version" '$1 == "***" && $2 == v { f = 1; next }
                         f && $1 ~ /^[0-9]+$/ && $2 != "/var/lib/dpkg/status" { print $2, $3; exit }
                         f && $1 !~ /^[0-9]+$/ { exit }')
  [ -n "$line" ] ||
    die "no archive has librdkafka-dev $version (apt-cache policy librdkafka-dev): no source to build"
  uri=${line%% *} suite=${line#* } component=${suite#*/} suite=${suite%%/*}
  local sudo
  sudo=$(as_root "the librdkafka source needs a deb-src line" \
    "add one for $uri $suite $component to /etc/apt/sources.list.d/")
  log "adding $list (deb-src $uri $suite $component) and running apt-get update"
  {
    echo "# Added by cdnwarm's scripts/install-deps.sh: librdkafka's source, for its TSan build."
    echo "Types: deb-src"
    echo "URIs: $uri"
    echo "Suites: $suite"
    echo "Components: $component"
    [ ! -f /usr/share/keyrings/debian-archive-keyring.gpg ] ||
      echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
  } | $sudo tee "$list" >/dev/null
  $sudo apt-get update -qq || die "apt-get update failed (network, or the package sources in /etc/apt)"
}

install_apt
case $purpose in tsan | test) install_rdkafka_tsan ;; esac
if [ "$purpose" = tsan ]; then log "done; librdkafka-tsan in $CDNWARM_CACHE"; exit 0; fi
install_node
install_grpcurl
install_python
[ "$purpose" != test ] || { install_k8s_tools; install_kube_tools; }
[ "$purpose" = run ] || "$(dirname "$0")/kafka.sh" fetch
# The compatibility run (CTest label compat) on the previous Kafka line.
[ "$purpose" != test ] || CDNWARM_KAFKA_VERSION=3.9.1 "$(dirname "$0")/kafka.sh" fetch
log "done; tools in $CDNWARM_CACHE/bin, python venv in $CDNWARM_CACHE/venv"
