#!/usr/bin/env python3
"""Checks a service's Dockerfile against its built binary, since no Docker engine runs here:

- the runtime stage (the last FROM) installs a Debian package for every shared library the
  binary links (its NEEDED entries, resolved with ldd, owner found with dpkg -S), and no
  library package the binary does not link (only the libraries it needs);
- the build stage builds with the run preset (`cmake --preset run`), the same flags the
  checked BINARY was built with (CTest builds it in build/run), and ships build/run's binary;
- the build stage installs only packages that scripts/install-deps.sh installs too;
- the image runs as a non-root user, with the binary as its entrypoint.

libc6 comes with every Debian image. Sanitizer runtimes (libasan, libubsan, libtsan) are
ignored: the binaries built for tests use them, the image's build does not.

  check_image_libs.py DOCKERFILE BINARY INSTALL_DEPS_SH
"""
import os
import re
import subprocess
import sys

IN_BASE_IMAGE = {"libc6"}
SANITIZER_RUNTIMES = re.compile(r"^lib(asan|ubsan|tsan|lsan)\d*$")
NOT_LIBRARIES = {"ca-certificates"}


def apt_packages(text):
    """Packages named by `apt-get install` lines (with their continuation lines)."""
    joined = text.replace("\\\n", " ")
    pkgs = []
    for m in re.finditer(r"apt-get install ([^&\n]*)", joined):
        pkgs += [w for w in m.group(1).split() if not w.startswith("-")]
    return pkgs


def owner(path):
    for candidate in (path, "/usr" + path, os.path.realpath(path)):
        r = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0]
    return None


def needed_packages(binary):
    elf = subprocess.run(["readelf", "-d", binary], check=True, capture_output=True,
                         text=True).stdout
    needed = re.findall(r"\(NEEDED\).*\[(.+)\]", elf)
    resolved = {}
    for line in subprocess.run(["ldd", binary], check=True, capture_output=True,
                               text=True).stdout.splitlines():
        m = re.match(r"\s*(\S+) => (\S+)", line)
        if m:
            resolved[m.group(1)] = m.group(2)
    packages, errors = {}, []
    for lib in needed:
        path = resolved.get(lib)
        pkg = owner(path) if path else None
        if pkg is None:
            errors.append(f"{lib}: not resolved to a Debian package ({path})")
        else:
            packages.setdefault(pkg, []).append(lib)
    return packages, errors


def main(dockerfile, binary, install_deps):
    text = open(dockerfile, encoding="utf-8").read()
    stages = re.split(r"^FROM ", text, flags=re.M)
    if len(stages) < 3:
        sys.exit(f"{dockerfile}: not a multi-stage build")
    build, runtime = stages[1], stages[-1]
    errors = []

    # Every word of the installer (its package list is a bash array, not an apt-get line).
    script_pkgs = set(re.findall(r"[\w.+-]+", open(install_deps, encoding="utf-8").read()))
    for pkg in apt_packages(build):
        if pkg not in script_pkgs:
            errors.append(f"build stage installs {pkg}, which scripts/install-deps.sh does not")

    name = os.path.basename(binary)
    if not re.search(r"cmake --preset run\b", build):
        errors.append("build stage does not configure with `cmake --preset run`, the flags "
                      "the checked binary has")
    if not re.search(rf"\bbuild/run/{re.escape(name)}/{re.escape(name)}\b", build):
        errors.append(f"build stage does not ship build/run/{name}/{name}")
    if os.path.basename(os.path.dirname(os.path.dirname(os.path.abspath(binary)))) != "run":
        errors.append(f"{binary} is not a run-preset binary (build/run/...)")

    listed = set(apt_packages(runtime))
    needed, resolve_errors = needed_packages(binary)
    errors += resolve_errors
    for pkg, libs in sorted(needed.items()):
        if pkg in IN_BASE_IMAGE or SANITIZER_RUNTIMES.match(pkg):
            continue
        if pkg not in listed:
            errors.append(f"runtime stage lacks {pkg} (for {', '.join(libs)})")
    for pkg in sorted(listed - set(needed) - NOT_LIBRARIES):
        errors.append(f"runtime stage installs {pkg}, which {os.path.basename(binary)} "
                      "does not link")

    user = re.findall(r"^USER (\S+)", runtime, flags=re.M)
    if not user or user[-1].split(":")[0] in ("0", "root"):
        errors.append("runtime stage does not switch to a non-root USER")
    if not re.search(rf'^ENTRYPOINT \["/usr/local/bin/{re.escape(name)}"\]', runtime, re.M):
        errors.append(f"ENTRYPOINT is not /usr/local/bin/{name}")

    if errors:
        sys.exit(f"{dockerfile}:\n  " + "\n  ".join(errors))
    print(f"ok: {dockerfile}: {len(needed)} linked packages covered by the runtime stage, "
          "nothing extra, non-root, binary as entrypoint")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
