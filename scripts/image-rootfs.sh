#!/usr/bin/env bash
# Lays out a distroless-style root filesystem for one service's runtime image (the Dockerfile
# copies it onto `FROM scratch`), from the build stage of that Dockerfile:
#
#   - the binary, stripped of debug information, in /usr/local/bin;
#   - every shared library it loads (ldd, so also the libraries' own dependencies) and the
#     dynamic loader, under /usr/lib with Debian's merged-/usr links (/lib, /lib64);
#   - the copyright file of each Debian package those libraries come from (dpkg -S);
#   - CA certificates where OpenSSL, libcurl and librdkafka look for them;
#   - /etc/passwd and /etc/group with root and the non-root user 65532 (nonroot), and
#     /etc/nsswitch.conf, for the C library's name lookups.
#
# Nothing else: no shell, no package manager, no coreutils.
#
# Usage: scripts/image-rootfs.sh BINARY OUT
set -euo pipefail
bin=${1:?usage: image-rootfs.sh BINARY OUT}
out=${2:?usage: image-rootfs.sh BINARY OUT}
die() { printf 'image-rootfs: %s\n' "$*" >&2; exit 1; }
[ -x "$bin" ] || die "$bin is not an executable"

libdir=usr/lib/x86_64-linux-gnu
case $(uname -m) in
  x86_64) loader=/lib64/ld-linux-x86-64.so.2 ;;
  aarch64) libdir=usr/lib/aarch64-linux-gnu loader=/lib/ld-linux-aarch64.so.1 ;;
  *) die "unsupported architecture $(uname -m)" ;;
esac

rm -rf "$out"
mkdir -p "$out/usr/local/bin" "$out/$libdir" "$out/etc/ssl/certs" "$out/usr/lib/ssl" \
  "$out/usr/share/doc"
strip --strip-debug -o "$out/usr/local/bin/$(basename "$bin")" "$bin"

# Debian 12 is merged-/usr: /lib is usr/lib. The loader keeps the path the ELF header names.
ln -s usr/lib "$out/lib"
[ "$loader" != /lib64/ld-linux-x86-64.so.2 ] || {
  mkdir -p "$out/usr/lib64"
  ln -s usr/lib64 "$out/lib64"
  ln -s "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" "$out/usr/lib64/ld-linux-x86-64.so.2"
}

# The package that owns a file: dpkg records either the /lib or the /usr/lib spelling.
owner() {
  local path=$1 real
  real=$(readlink -f "$path")
  for p in "$path" "$real" "/usr${path#/usr}" "${real#/usr}"; do
    dpkg-query -S "$p" 2>/dev/null | head -1 | cut -d: -f1 && return
  done
  die "no Debian package owns $path"
}

ldd_out=$(ldd "$bin") || die "ldd $bin failed"
! grep -q 'not found' <<<"$ldd_out" || die "$bin: a library is missing: $(grep 'not found' <<<"$ldd_out")"
declare -A packages=()
while read -r lib; do
  [ -n "$lib" ] || continue
  cp -L "$lib" "$out/$libdir/$(basename "$lib")"
  packages[$(owner "$lib")]=1
done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$ldd_out" | sort -u)
[ -e "$out/$libdir/$(basename "$loader")" ] || die "ldd named no loader $loader for $bin"

for pkg in "${!packages[@]}"; do
  pkg=${pkg%%:*}
  [ -f "/usr/share/doc/$pkg/copyright" ] || die "no /usr/share/doc/$pkg/copyright"
  mkdir -p "$out/usr/share/doc/$pkg"
  cp "/usr/share/doc/$pkg/copyright" "$out/usr/share/doc/$pkg/copyright"
done

# OpenSSL's default paths (/usr/lib/ssl/cert.pem and certs/) and libcurl's CA bundle.
cp -L /etc/ssl/certs/ca-certificates.crt "$out/etc/ssl/certs/ca-certificates.crt"
ln -s /etc/ssl/certs/ca-certificates.crt "$out/usr/lib/ssl/cert.pem"
ln -s /etc/ssl/certs "$out/usr/lib/ssl/certs"
mkdir -p "$out/usr/share/doc/ca-certificates"
cp /usr/share/doc/ca-certificates/copyright "$out/usr/share/doc/ca-certificates/copyright"

printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
  'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin' >"$out/etc/passwd"
printf '%s\n' 'root:x:0:' 'nonroot:x:65532:' >"$out/etc/group"
printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' >"$out/etc/nsswitch.conf"
