#!/usr/bin/env python3
"""Renders every Kustomize target of k8s/ and holds the result to the project's bar:

1. `kustomize build` renders the base, each region folder and each overlay.
2. kubernetes-validate (strict: unknown fields fail) accepts every rendered object.
3. Every long-running container (Deployment, StatefulSet) has startup, readiness and
   liveness probes (ours: native gRPC on the gRPC port, liveness on the "liveness" service);
   every container has CPU and memory requests and limits, runs as non-root with a read-only
   root filesystem, no privilege escalation and all capabilities dropped; our pods' grace
   period is longer than the --drain_timeout they pass.
4. Every Service port targets a container port of the pods it selects; named ports match
   the README's port table.
5. Every ConfigMap key a container reads (env, envFrom) exists in the rendered ConfigMap.
6. Every argument our Deployments pass is a flag the binary accepts (its --helpfull).
7. prod: every warmer Deployment has an HPA and a PodDisruptionBudget; a default-deny
   NetworkPolicy exists.
8. checkov passes on the rendered manifests (skips only in k8s/.checkov.yaml, each justified).

  check_manifests.py K8S_DIR KUSTOMIZE KUBERNETES_VALIDATE CHECKOV PRODUCER BRIDGE WARMER
"""
import os
import re
import subprocess
import sys
import tempfile

import yaml

KUBERNETES_VERSION = "1.30.0"
PORTS = {  # the README's port table
    "producer": {"grpc": 50051, "admin": 9101},
    "streamer-bridge": {"grpc": 50052, "admin": 9102},
    "warmer": {"grpc": 50053, "admin": 9103},
}
errors = []


def err(where, message):
    errors.append(f"{where}: {message}")


def render(kustomize, path):
    r = subprocess.run([kustomize, "build", path], capture_output=True, text=True)
    if r.returncode != 0:
        err(path, f"kustomize build failed: {r.stderr.strip()}")
        return "", []
    return r.stdout, [d for d in yaml.safe_load_all(r.stdout) if d]


def name_of(obj):
    return f"{obj['kind']}/{obj['metadata']['name']}"


def pod_spec(obj):
    if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
        return obj["spec"]["template"]["spec"]
    return None


def our_service(container):
    m = re.match(r"ghcr\.io/cdnwarm/([a-z-]+):", container.get("image", ""))
    return m.group(1) if m else None


def binary_flags(binary):
    out = subprocess.run([binary, "--helpfull"], capture_output=True, text=True)
    return set(re.findall(r"^\s+--([a-z_0-9]+) \(", out.stdout + out.stderr, re.M))


def duration_s(text):
    m = re.fullmatch(r"(\d+)(ms|s|m)", text)
    if not m:
        return None
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[m.group(2)]


def check_container(where, kind, spec, c, flags):
    sc = c.get("securityContext", {})
    psc = spec.get("securityContext", {})
    if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
        err(where, "runAsNonRoot is not set")
    if sc.get("readOnlyRootFilesystem") is not True:
        err(where, "readOnlyRootFilesystem is not true")
    if sc.get("allowPrivilegeEscalation") is not False:
        err(where, "allowPrivilegeEscalation is not false")
    if "ALL" not in sc.get("capabilities", {}).get("drop", []):
        err(where, "capabilities are not all dropped")
    res = c.get("resources", {})
    for part in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in res.get(part, {}):
                err(where, f"no {r} {part[:-1]}")
    if kind != "Job":
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if probe not in c:
                err(where, f"no {probe}")
    service = our_service(c)
    if service is None:
        return
    grpc_port = PORTS[service]["grpc"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        g = c.get(probe, {}).get("grpc")
        if not g or g.get("port") != grpc_port:
            err(where, f"{probe} is not a native gRPC probe on port {grpc_port}")
    if c.get("livenessProbe", {}).get("grpc", {}).get("service") != "liveness":
        err(where, "livenessProbe does not ask for the 'liveness' health service")
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    if ports != PORTS[service]:
        err(where, f"ports {ports} do not match the README's table {PORTS[service]}")
    drain = 20.0
    for arg in c.get("args", []):
        m = re.match(r"--([a-z_0-9]+)(=(.*))?$", arg)
        if not m:
            err(where, f"argument {arg!r} is not a --flag")
            continue
        if m.group(1) not in flags[service]:
            err(where, f"--{m.group(1)} is not a flag {service} accepts")
        if m.group(1) == "drain_timeout":
            drain = duration_s(m.group(3) or "") or drain
    grace = spec.get("terminationGracePeriodSeconds", 30)
    if grace <= drain:
        err(where, f"terminationGracePeriodSeconds {grace} is not above --drain_timeout {drain}s")


def check_objects(target, objs, flags):
    configmaps = {o["metadata"]["name"]: o.get("data", {}) for o in objs
                  if o["kind"] == "ConfigMap"}
    pods = []
    for o in objs:
        spec = pod_spec(o)
        if spec is None:
            continue
        labels = o["spec"]["template"]["metadata"].get("labels", {})
        pods.append((labels, spec))
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            where = f"{target} {name_of(o)} container {c['name']}"
            check_container(where, o["kind"], spec, c, flags)
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("configMapKeyRef")
                if ref and ref["key"] not in configmaps.get(ref["name"], {}):
                    err(where, f"reads ConfigMap key {ref['name']}/{ref['key']}, which does "
                               "not exist")
            for e in c.get("envFrom", []):
                ref = e.get("configMapRef")
                if ref and ref["name"] not in configmaps:
                    err(where, f"reads ConfigMap {ref['name']}, which does not exist")
        for v in spec.get("volumes", []):
            ref = v.get("configMap")
            if ref and ref["name"] not in configmaps:
                err(f"{target} {name_of(o)}", f"mounts ConfigMap {ref['name']}, which does not "
                                              "exist")
    for o in objs:
        if o["kind"] != "Service":
            continue
        selector = o["spec"].get("selector", {})
        selected = [spec for labels, spec in pods
                    if selector and all(labels.get(k) == v for k, v in selector.items())]
        if not selected:
            err(f"{target} {name_of(o)}", "selects no pods")
            continue
        for port in o["spec"]["ports"]:
            target_port = port.get("targetPort", port["port"])
            found = any(target_port in (p.get("name"), p["containerPort"])
                        for spec in selected for c in spec["containers"]
                        for p in c.get("ports", []))
            if not found:
                err(f"{target} {name_of(o)}", f"port {port.get('name')} targets {target_port}, "
                                              "which no selected container exposes")


def check_prod(objs):
    deployments = [o["metadata"]["name"] for o in objs if o["kind"] == "Deployment"]
    hpas = {o["spec"]["scaleTargetRef"]["name"] for o in objs
            if o["kind"] == "HorizontalPodAutoscaler"}
    pdb_selectors = [o["spec"]["selector"]["matchLabels"] for o in objs
                     if o["kind"] == "PodDisruptionBudget"]
    for o in objs:
        if o["kind"] != "Deployment":
            continue
        labels = o["spec"]["template"]["metadata"]["labels"]
        if not any(all(labels.get(k) == v for k, v in s.items()) for s in pdb_selectors):
            err(f"prod {name_of(o)}", "no PodDisruptionBudget selects its pods")
        if o["metadata"]["name"].startswith("warmer-") and o["metadata"]["name"] not in hpas:
            err(f"prod {name_of(o)}", "no HorizontalPodAutoscaler")
        if "topologySpreadConstraints" not in o["spec"]["template"]["spec"]:
            err(f"prod {name_of(o)}", "no topologySpreadConstraints")
    deny = [o for o in objs if o["kind"] == "NetworkPolicy" and o["spec"]["podSelector"] == {}
            and set(o["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
            and not o["spec"].get("ingress") and not o["spec"].get("egress")]
    if not deny:
        err("prod", "no default-deny NetworkPolicy")
    if len(deployments) < 5:
        err("prod", f"expected producer, streamer-bridge and three warmers, got {deployments}")


def main(k8s, kustomize, validate, checkov, producer, bridge, warmer):
    flags = {"producer": binary_flags(producer), "streamer-bridge": binary_flags(bridge),
             "warmer": binary_flags(warmer)}
    for service, f in flags.items():
        if "grpc_address" not in f:
            sys.exit(f"cannot read the flags of {service} from --helpfull")
    targets = ["base", "overlays/dev", "overlays/prod"] + sorted(
        f"regions/{r}" for r in os.listdir(os.path.join(k8s, "regions")))
    rendered = {}
    with tempfile.TemporaryDirectory() as tmp:
        for t in targets:
            text, objs = render(kustomize, os.path.join(k8s, t))
            if not objs:
                continue
            path = os.path.join(tmp, t.replace("/", "_") + ".yaml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            rendered[t] = (path, objs)
            v = subprocess.run([validate, "--strict", "--quiet", "-k", KUBERNETES_VERSION, path],
                               capture_output=True, text=True)
            if v.returncode != 0:
                err(t, f"kubernetes-validate --strict:\n{v.stdout}{v.stderr}")
            print(f"rendered and validated {t}: {len(objs)} objects")
        for t in ("overlays/dev", "overlays/prod"):
            if t in rendered:
                check_objects(t, rendered[t][1], flags)
        if "overlays/prod" in rendered:
            check_prod(rendered["overlays/prod"][1])
        scan = [checkov, "--config-file", os.path.join(k8s, ".checkov.yaml"), "--quiet",
                "--compact"]
        for t in ("overlays/dev", "overlays/prod"):
            if t in rendered:
                scan += ["-f", rendered[t][0]]
        c = subprocess.run(scan, capture_output=True, text=True)
        if c.returncode != 0:
            err("checkov", c.stdout + c.stderr)
        else:
            print("checkov: " + " ".join(re.findall(r"Passed checks: \d+, Failed checks: \d+, "
                                                   r"Skipped checks: \d+", c.stdout)))
    if errors:
        sys.exit("FAIL:\n" + "\n".join(errors))
    print(f"ok: {len(rendered)} Kustomize targets render, validate strictly and meet the bar")


if __name__ == "__main__":
    if len(sys.argv) != 8:
        sys.exit(__doc__)
    main(*sys.argv[1:])
