#!/usr/bin/env python3
"""Renders every Kustomize target of k8s/ and holds the result to the project's bar:

1. `kustomize build` renders the base, each region's warmer folder and each overlay.
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
9. Regions are Kustomize Components (k8s/regions/<name>), listed under an overlay's
   `components:`. In each overlay, REGIONS in cdnwarm-config (the producer's and the
   streamer-bridge's --regions) names exactly the listed regions, in order, and each has its
   warmers (ServiceAccount, Deployment, Service, ConfigMap with its REGION and EDGE_PINS; in
   prod an HPA and a PodDisruptionBudget). Each region folder alone on the base brings all of
   that, HPA and PodDisruptionBudget included.
10. Adding a region is one line: in a copy of k8s/, a region folder copied with its name
   replaced (the README's recipe) and one `components:` line added to dev and to prod render
   exactly what they rendered before plus that region's objects, with the region appended to
   REGIONS, and the new overlays pass every check above.

  check_manifests.py K8S_DIR KUSTOMIZE KUBERNETES_VALIDATE CHECKOV PRODUCER BRIDGE WARMER
"""
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

KUBERNETES_VERSION = "1.30.0"
PORTS = {  # the README's port table
    "producer": {"grpc": 50051, "admin": 9101, "console": 8080},
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
    # The kubelet expands $(VAR) only from the container's env (and envFrom); an undefined one
    # reaches the process as the literal text "$(VAR)".
    defined = {e["name"] for e in c.get("env", [])}
    for arg in c.get("command", []) + c.get("args", []):
        for var in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", arg):
            if var not in defined and not c.get("envFrom"):
                err(where, f"{arg!r}: $({var}) is not in the container's env")
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


def overlay_regions(k8s, overlay):
    """The regions an overlay lists under `components:` (folders of k8s/regions), in order."""
    with open(os.path.join(k8s, overlay, "kustomization.yaml"), encoding="utf-8") as f:
        kustomization = yaml.safe_load(f)
    regions_dir = os.path.join(os.path.realpath(k8s), "regions")
    regions = []
    for key in ("resources", "components"):
        for entry in kustomization.get(key) or []:
            path = os.path.realpath(os.path.join(k8s, overlay, entry))
            if os.path.dirname(path) != regions_dir:
                continue
            if key == "resources":
                err(overlay, f"lists the region {entry} under resources; a region is a "
                             "Component, listed under components")
            else:
                regions.append(os.path.basename(path))
    return regions


def config_value(objs, ref):
    for o in objs:
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == ref["name"]:
            return o.get("data", {}).get(ref["key"])
    return None


def env_value(objs, container, name):
    for e in container.get("env", []):
        if e["name"] == name:
            if "value" in e:
                return e["value"]
            ref = e.get("valueFrom", {}).get("configMapKeyRef")
            return config_value(objs, ref) if ref else None
    return None


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_region(target, objs, region, autoscaled):
    """The pieces a region component brings, as rendered in `target`."""
    where = f"{target} region {region}"
    name = f"warmer-{region}"
    by_name = {name_of(o): o for o in objs}
    d = by_name.get(f"Deployment/{name}")
    if d is None:
        err(where, f"no Deployment {name}")
        return
    pod_labels = d["spec"]["template"]["metadata"].get("labels", {})
    if pod_labels.get("cdnwarm.dev/region") != region or \
            pod_labels.get("app.kubernetes.io/name") != "warmer":
        err(where, f"Deployment {name}'s pods are labelled {pod_labels}")
    spec = d["spec"]["template"]["spec"]
    c = next((c for c in spec["containers"] if c["name"] == "warmer"), None)
    if c is None:
        err(where, f"Deployment {name} has no warmer container")
        return
    for arg in ("--region=$(REGION)", "--edge_pins=$(EDGE_PINS)"):
        if arg not in c.get("args", []):
            err(where, f"Deployment {name} does not pass {arg}")
    if env_value(objs, c, "REGION") != region:
        err(where, f"Deployment {name} runs --region={env_value(objs, c, 'REGION')!r}")
    if not env_value(objs, c, "EDGE_PINS"):
        err(where, f"Deployment {name} has no EDGE_PINS")
    if spec.get("serviceAccountName") != name or f"ServiceAccount/{name}" not in by_name:
        err(where, f"Deployment {name} does not run as its own ServiceAccount {name}")
    svc = by_name.get(f"Service/{name}")
    if svc is None or not matches(svc["spec"].get("selector"), pod_labels) or \
            svc["spec"]["selector"].get("cdnwarm.dev/region") != region:
        err(where, f"no Service {name} selecting the region's warmers only")
    if autoscaled:
        if not any(o["kind"] == "HorizontalPodAutoscaler"
                   and o["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1",
                                                       "kind": "Deployment", "name": name}
                   for o in objs):
            err(where, f"no HorizontalPodAutoscaler for Deployment {name}")
        if not any(o["kind"] == "PodDisruptionBudget"
                   and matches(o["spec"]["selector"].get("matchLabels"), pod_labels)
                   and o["spec"]["selector"]["matchLabels"].get("cdnwarm.dev/region") == region
                   for o in objs):
            err(where, f"no PodDisruptionBudget for the region's warmers")


def check_region_list(target, objs, regions):
    """REGIONS names exactly the regions listed, in order, and the warmers that run."""
    value = config_value(objs, {"name": "cdnwarm-config", "key": "REGIONS"})
    if value is None:
        err(target, "cdnwarm-config has no REGIONS")
        return
    listed = value.split(",") if value else []
    if listed != regions:
        err(target, f"REGIONS is {value!r}, the region components listed are {regions}")
    running = sorted(o["spec"]["template"]["metadata"].get("labels", {})
                     .get("cdnwarm.dev/region", "?")
                     for o in objs if o["kind"] == "Deployment"
                     and o["metadata"]["name"].startswith("warmer-"))
    if running != sorted(listed):
        err(target, f"REGIONS is {value!r}, the warmer Deployments run regions {running}")


def region_component(k8s, region):
    with open(os.path.join(k8s, "regions", region, "kustomization.yaml"), encoding="utf-8") as f:
        k = yaml.safe_load(f)
    if k.get("kind") != "Component" or \
            k.get("apiVersion") != "kustomize.config.k8s.io/v1alpha1":
        err(f"regions/{region}", f"is a {k.get('kind')}, not a Kustomize Component")
        return False
    return True


def add_component_line(k8s, overlay, line):
    """The overlay's kustomization.yaml with `line` added at the end of its components: list,
    and nothing else changed."""
    path = os.path.join(k8s, overlay, "kustomization.yaml")
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines(keepends=True)
    if "components:\n" not in lines:
        err(overlay, "has no components: list to add a region to")
        return False
    i = lines.index("components:\n") + 1
    while i < len(lines) and lines[i].startswith("  "):
        i += 1
    lines.insert(i, line + "\n")
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(lines))
    return True


def key_of(obj):
    name = obj["metadata"]["name"]
    if obj["kind"] == "ConfigMap":
        name = re.sub(r"-[a-z0-9]{10}$", "", name)  # the generator's content hash
    return f"{obj['kind']}/{name}"


def check_added_region(target, before, after, region, regions, autoscaled):
    """`after` is `before` plus the region's objects, REGIONS with the region appended."""
    b = {key_of(o): o for o in before}
    a = {key_of(o): o for o in after}
    expected = {f"{k}/warmer-{region}" for k in ("ServiceAccount", "Deployment", "Service")}
    expected.add(f"ConfigMap/warmer-region-{region}")
    if autoscaled:
        expected |= {f"{k}/warmer-{region}"
                     for k in ("HorizontalPodAutoscaler", "PodDisruptionBudget")}
    added = set(a) - set(b)
    if added != expected or set(b) - set(a):
        err(target, f"the one-line region {region} added {sorted(added)} and removed "
                    f"{sorted(set(b) - set(a))}; expected to add {sorted(expected)}")
    for k in set(a) & set(b):
        want = copy.deepcopy(b[k])
        if k == "ConfigMap/cdnwarm-config":
            want["data"]["REGIONS"] = ",".join(regions + [region])
        if a[k] != want:
            err(target, f"the one-line region {region} changed {k}")


def check_prod(target, objs):
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
            err(f"{target} {name_of(o)}", "no PodDisruptionBudget selects its pods")
        if o["metadata"]["name"].startswith("warmer-") and o["metadata"]["name"] not in hpas:
            err(f"{target} {name_of(o)}", "no HorizontalPodAutoscaler")
        spread = o["spec"]["template"]["spec"].get("topologySpreadConstraints")
        if not spread:
            err(f"{target} {name_of(o)}", "no topologySpreadConstraints")
        for c in spread or []:
            # A constraint whose selector misses the Deployment's own pods spreads nothing.
            if not matches(c.get("labelSelector", {}).get("matchLabels", {}), labels):
                err(f"{target} {name_of(o)}", f"topologySpreadConstraint on {c['topologyKey']} "
                                              "does not select the Deployment's own pods")
    templates = [o["spec"]["template"]["metadata"].get("labels", {}) for o in objs
                 if pod_spec(o) is not None]
    for o in objs:
        if o["kind"] != "NetworkPolicy" or o["spec"]["podSelector"] == {}:
            continue
        selector = o["spec"]["podSelector"].get("matchLabels", {})
        if not any(matches(selector, labels) for labels in templates):
            err(f"{target} {name_of(o)}", f"NetworkPolicy selects no pods ({selector})")
    for o in objs:
        labels = o["spec"]["template"]["metadata"].get("labels", {}) if pod_spec(o) else None
        if labels is not None and labels.get("app.kubernetes.io/part-of") != "cdnwarm":
            err(f"{target} {name_of(o)}", "pods do not carry app.kubernetes.io/part-of: cdnwarm "
                                          "(admin-scrape and the spread constraints select it)")
    deny = [o for o in objs if o["kind"] == "NetworkPolicy" and o["spec"]["podSelector"] == {}
            and set(o["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
            and not o["spec"].get("ingress") and not o["spec"].get("egress")]
    if not deny:
        err(target, "no default-deny NetworkPolicy")
    if len(deployments) < 5:
        err(target, f"expected producer, streamer-bridge and three warmers, got {deployments}")


def main(k8s, kustomize, validate, checkov, producer, bridge, warmer):
    flags = {"producer": binary_flags(producer), "streamer-bridge": binary_flags(bridge),
             "warmer": binary_flags(warmer)}
    for service, f in flags.items():
        if "grpc_address" not in f:
            sys.exit(f"cannot read the flags of {service} from --helpfull")
    regions = sorted(os.listdir(os.path.join(k8s, "regions")))
    overlays = ("overlays/dev", "overlays/prod")
    rendered = {}
    with tempfile.TemporaryDirectory() as tmp:
        # A copy of k8s/ for the renders below that add folders: region folders alone on the
        # base, and a region added with one line.
        work = os.path.join(tmp, "k8s")
        shutil.copytree(k8s, work)
        targets = [(t, os.path.join(k8s, t)) for t in
                   ["base", *overlays, *(f"regions/{r}/warmer" for r in regions
                                         if os.path.isdir(os.path.join(k8s, "regions", r,
                                                                       "warmer")))]]
        for r in regions:  # each region component on the base alone
            if region_component(k8s, r):
                t = f"overlays/only-{r}"
                os.makedirs(os.path.join(work, t))
                with open(os.path.join(work, t, "kustomization.yaml"), "w",
                          encoding="utf-8") as f:
                    yaml.safe_dump({"apiVersion": "kustomize.config.k8s.io/v1beta1",
                                    "kind": "Kustomization", "namespace": "cdnwarm",
                                    "resources": ["../../base"],
                                    "components": [f"../../regions/{r}"]}, f)
                targets.append((t, os.path.join(work, t)))
        # The README's recipe: copy a region folder, replace its name, add one line per overlay.
        added = "added-test"
        if regions:
            src = regions[0]
            shutil.copytree(os.path.join(k8s, "regions", src),
                            os.path.join(work, "regions", added))
            for d, _, files in os.walk(os.path.join(work, "regions", added)):
                for name in files:
                    p = os.path.join(d, name)
                    with open(p, encoding="utf-8") as f:
                        text = f.read()
                    with open(p, "w", encoding="utf-8") as f:
                        f.write(text.replace(src, added))
            for o in overlays:
                if add_component_line(work, o, f"  - ../../regions/{added}"):
                    targets.append((f"{o}+{added}", os.path.join(work, o)))
        for t, src_dir in targets:
            text, objs = render(kustomize, src_dir)
            if not objs:
                continue
            path = os.path.join(tmp, re.sub(r"[/+]", "_", t) + ".yaml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            rendered[t] = (path, objs)
            v = subprocess.run([validate, "--strict", "--quiet", "-k", KUBERNETES_VERSION, path],
                               capture_output=True, text=True)
            if v.returncode != 0:
                err(t, f"kubernetes-validate --strict:\n{v.stdout}{v.stderr}")
            print(f"rendered and validated {t}: {len(objs)} objects")
        for o in overlays:
            listed = overlay_regions(k8s, o)
            for t, names in ((o, listed), (f"{o}+{added}", listed + [added])):
                if t not in rendered:
                    continue
                objs = rendered[t][1]
                check_objects(t, objs, flags)
                if o == "overlays/prod":
                    check_prod(t, objs)
                check_region_list(t, objs, names)
                for r in names:
                    check_region(t, objs, r, autoscaled=o == "overlays/prod")
            if o in rendered and f"{o}+{added}" in rendered:
                check_added_region(f"{o}+{added}", rendered[o][1], rendered[f"{o}+{added}"][1],
                                   added, listed, autoscaled=o == "overlays/prod")
        for r in regions:
            t = f"overlays/only-{r}"
            if t in rendered:
                check_objects(t, rendered[t][1], flags)
                check_region_list(t, rendered[t][1], [r])
                check_region(t, rendered[t][1], r, autoscaled=True)
        scan = [checkov, "--config-file", os.path.join(k8s, ".checkov.yaml"), "--quiet",
                "--compact"]
        for t in overlays:
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
