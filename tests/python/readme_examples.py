#!/usr/bin/env python3
"""Runs every example of the README that is marked `<!-- expect: TEXT -->` (the ```sh block
right after the marker) with bash against a running mesh, in order, and fails unless each
one exits 0 and prints TEXT. PRODUCER, BRIDGE, WARMER, ORIGIN and PATH come from the
environment; JOB is set to the job id of the latest reply that named one.

  readme_examples.py README.md
"""
import os
import re
import subprocess
import sys

MARKED = re.compile(r"<!-- expect: (.*?) -->\n```sh\n(.*?)```", re.S)
JOB_ID = re.compile(r'"job_id": "([^"]+)"|^job ([^:\s]+):', re.M)


def main(readme):
    with open(readme, encoding="utf-8") as f:
        examples = MARKED.findall(f.read())
    if not examples:
        sys.exit(f"no marked examples in {readme}")
    env = dict(os.environ)
    for n, (expect, script) in enumerate(examples, 1):
        first = script.strip().splitlines()[0]
        run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env,
                             capture_output=True, text=True, timeout=180)
        out = run.stdout + run.stderr
        if run.returncode != 0 or expect not in out:
            sys.exit(f"README example {n} ({first}) failed: exit {run.returncode}, "
                     f"expected {expect!r} in:\n{out}")
        ids = [a or b for a, b in JOB_ID.findall(out)]
        if ids:
            env["JOB"] = ids[-1]
        print(f"README example {n} ok: {first}")
    print(f"ok: all {len(examples)} README examples")


if __name__ == "__main__":
    main(sys.argv[1])
