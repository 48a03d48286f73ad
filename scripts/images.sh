#!/usr/bin/env bash
# Builds cdnwarm's container images with podman, from the repository's Dockerfile (one build
# stage, three runtime targets), as a user builds them with `docker build --target`.
#
#   scripts/images.sh build     the three images, tagged REPO/SERVICE:VERSION and
#                               REPO/SERVICE:VERSION-COMMIT; prints each one's size and build time
#   scripts/images.sh base      only the base image (see below)
#   scripts/images.sh context   the size of the build context that .dockerignore lets through
#   scripts/images.sh pin       the current digest of debian:12-slim into the Dockerfile
#                               (needs skopeo and a reachable registry)
#
# The Dockerfile's base image is pinned by digest. Where no registry is reachable (these test
# machines), `base` makes a local stand-in once, with debootstrap from Debian's packages,
# and the build uses it (BASE_IMAGE build argument); the tarball is cached in $CDNWARM_CACHE.
#
# podman runs as root with runc and cgroupfs, with the configuration in
# $CDNWARM_CACHE/podman/containers.conf (CONTAINERS_CONF): containers get no default ulimits,
# which some machines cannot raise.
#
# Environment: CDNWARM_IMAGE_REPO (default ghcr.io/cdnwarm), CDNWARM_CACHE.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
CDNWARM_CACHE="${CDNWARM_CACHE:-$HOME/.cache/cdnwarm}"
repo="${CDNWARM_IMAGE_REPO:-ghcr.io/cdnwarm}"
services=(producer streamer-bridge warmer)
local_base=localhost/cdnwarm/debian:12-slim
log() { printf '[images] %s\n' "$*" >&2; }
die() { printf '[images] error: %s\n' "$*" >&2; exit 1; }

command -v podman >/dev/null 2>&1 || die "podman not found: run scripts/install-deps.sh"
[ "$(id -u)" -eq 0 ] || die "run as root (podman with runc and cgroupfs)"

conf="$CDNWARM_CACHE/podman/containers.conf"
mkdir -p "${conf%/*}"
cat >"$conf.new" <<'EOF'
# Written by cdnwarm's scripts/images.sh (CONTAINERS_CONF).
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
mv "$conf.new" "$conf"
export CONTAINERS_CONF="$conf"

version=$(sed -nE 's/^project\(cdnwarm VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)
[ -n "$version" ] || die "no project VERSION in CMakeLists.txt"
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
[ -z "$(git status --porcelain 2>/dev/null)" ] || commit="$commit-dirty"
pinned=$(sed -nE 's/^ARG BASE_IMAGE=(.*)$/\1/p' Dockerfile)
[ -n "$pinned" ] || die "no ARG BASE_IMAGE in the Dockerfile"

# Prints the base image to build from: the pinned one where it is here or can be pulled,
# else the local stand-in, made once from a cached debootstrap tarball.
base_image() {
  if podman image exists "$pinned" || timeout 60 podman pull -q "$pinned" >/dev/null 2>&1; then
    echo "$pinned"; return
  fi
  if ! podman image exists "$local_base"; then
    local tarball="$CDNWARM_CACHE/images/debian-12-minbase.tar"
    if [ ! -f "$tarball" ]; then
      command -v debootstrap >/dev/null 2>&1 || die "debootstrap not found: run scripts/install-deps.sh"
      log "no registry has $pinned: making $local_base with debootstrap (once; about a minute)"
      local dir
      mkdir -p "${tarball%/*}"
      dir=$(mktemp -d "$CDNWARM_CACHE/images/debootstrap.XXXXXX")
      # shellcheck disable=SC2064
      trap "rm -rf '$dir'" EXIT
      debootstrap --variant=minbase bookworm "$dir/root" http://deb.debian.org/debian \
        >"$dir/log" 2>&1 || { tail -20 "$dir/log" >&2; die "debootstrap failed (see above)"; }
      rm -rf "$dir"/root/var/cache/apt/archives/*.deb "$dir"/root/var/lib/apt/lists/*
      tar -C "$dir/root" -cf "$tarball.new" . && mv "$tarball.new" "$tarball"
      rm -rf "$dir"
      trap - EXIT
    fi
    podman import -q "$tarball" "$local_base" >/dev/null
    log "$local_base imported from $tarball"
  fi
  echo "$local_base"
}

build() {
  local base
  # npm in the build trusts what this machine trusts (a TLS-inspecting proxy's CA, say).
  local ca_bundle=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
  base=$(base_image)
  log "building ${services[*]} $version ($commit) from $base"
  # The build stage's tools, tagged so that the pruning below keeps them for the next build.
  podman build --network=host --layers -q -f Dockerfile --target build-deps \
    --build-arg BASE_IMAGE="$base" --secret id=ca-bundle,src="$ca_bundle" \
    -t localhost/cdnwarm/build-deps >/dev/null || die "podman build --target build-deps failed"
  # The Dockerfile sets the OCI labels from these build arguments too, but buildah (podman
  # 4.3) reuses a cached LABEL layer whose argument changed: the labels are given here as well.
  local s start secs size
  for s in "${services[@]}"; do
    start=$(date +%s)
    podman build --network=host --layers -q -f Dockerfile --target "$s" \
      --build-arg BASE_IMAGE="$base" --build-arg CDNWARM_GIT_COMMIT="$commit" \
      --build-arg CDNWARM_VERSION="$version" --secret id=ca-bundle,src="$ca_bundle" \
      --label org.opencontainers.image.revision="$commit" \
      --label org.opencontainers.image.version="$version" \
      -t "$repo/$s:$version" -t "$repo/$s:$version-$commit" . >/dev/null ||
      die "podman build --target $s failed"
    secs=$(($(date +%s) - start))
    size=$(podman image inspect --format '{{.Size}}' "$repo/$s:$version")
    printf '%-16s %s:%s  %5.1f MB  built in %s s\n' "$s" "$repo/$s" "$version-$commit" \
      "$(awk -v b="$size" 'BEGIN { print b / 1e6 }')" "$secs"
  done
  prune
}

# Each commit's build stage is about 2 GB: drop the ones of earlier builds, and the images of
# earlier commits, keeping the tagged build-deps, the base and the images just built.
prune() {
  local s tag
  for s in "${services[@]}"; do
    while read -r tag; do
      [ "$tag" = "$version-$commit" ] || [ "$tag" = "$version" ] || podman untag "$repo/$s:$tag"
    done < <(podman images --format '{{.Tag}}' --filter "reference=$repo/$s" | sort -u)
  done
  podman image prune -f --filter label=dev.cdnwarm.stage=build >/dev/null
  podman image prune -f --filter label=org.opencontainers.image.vendor=cdnwarm >/dev/null
}

context() {
  local base id
  base=$(base_image)
  id=$(podman build --network=none -q -f - . <<EOF
FROM $base
COPY . /context
EOF
) || die "podman build of the context failed"
  podman run --rm --network=none "$id" \
    sh -c 'echo "build context: $(find /context -type f | wc -l) files, $(du -sh /context | cut -f1)"'
  podman rmi -f "$id" >/dev/null
}

pin() {
  command -v skopeo >/dev/null 2>&1 || die "skopeo not found (apt-get install skopeo)"
  local ref=${pinned%@*} digest
  digest=$(skopeo inspect --raw "docker://$ref" | sha256sum | cut -d' ' -f1) ||
    die "skopeo inspect docker://$ref failed (is the registry reachable?)"
  sed -i -E "s|^ARG BASE_IMAGE=.*$|ARG BASE_IMAGE=$ref@sha256:$digest|" Dockerfile
  log "Dockerfile: BASE_IMAGE=$ref@sha256:$digest"
}

case "${1:-}" in
  build) build ;;
  base) base_image ;;
  context) context ;;
  pin) pin ;;
  *) echo "usage: scripts/images.sh build|base|context|pin" >&2; exit 2 ;;
esac
