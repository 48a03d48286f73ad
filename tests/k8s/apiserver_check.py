#!/usr/bin/env python3
"""What tests/k8s/apiserver_test.sh asks of an overlay's rendered objects and of what a real
API server stored for them.

  apiserver_check.py count RENDERED.yaml
      how many objects the overlay renders
  apiserver_check.py pods RENDERED.yaml OUT_DIR
      one Pod manifest per workload (Deployment, StatefulSet, Job) with that workload's pod
      template, as the controller would create it: OUT_DIR/<kind>-<name>.json; and
      OUT_DIR/unsafe.json, the first of them with no security context (PodSecurity must
      refuse it)
  apiserver_check.py stored RENDERED.yaml SERVER.json KIND...
      every rendered object of those kinds is on the server (SERVER.json: `kubectl get -o
      json` of them) with every field the overlay set, and nothing else of those kinds is;
      HPAs scale a Deployment that exists, each PDB selects one Deployment's pods,
      each NetworkPolicy selects some workload's pods and one denies every pod's ingress and
      egress by default. Prints a line per object.
"""
import json
import os
import sys

import yaml

WORKLOADS = ("Deployment", "StatefulSet", "Job")


def load(path):
    return [d for d in yaml.safe_load_all(open(path)) if d]


def key(obj):
    return obj["kind"], obj["metadata"]["name"]


def missing(want, got, path=""):
    """Where GOT lacks something WANT sets (GOT may have more: the server's defaults)."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [f"{path or '.'}: {got!r} is not an object"]
        out = []
        for k, v in want.items():
            if k not in got:
                out.append(f"{path}.{k}: not stored")
            else:
                out += missing(v, got[k], f"{path}.{k}")
        return out
    if isinstance(want, list):
        if not isinstance(got, list) or len(want) != len(got):
            return [f"{path}: {got!r} instead of {want!r}"]
        return [m for i, (w, g) in enumerate(zip(want, got)) for m in missing(w, g, f"{path}[{i}]")]
    if want != got and str(want) != str(got):
        return [f"{path}: {got!r} instead of {want!r}"]
    return []


def pods(rendered, out_dir):
    made = []
    for obj in load(rendered):
        if obj["kind"] not in WORKLOADS:
            continue
        template = obj["spec"]["template"]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{obj['kind'].lower()}-{obj['metadata']['name']}",
                "namespace": obj["metadata"].get("namespace", "default"),
                "labels": template.get("metadata", {}).get("labels", {}),
            },
            "spec": template["spec"],
        }
        # The StatefulSet controller adds a volume for each claim template.
        for claim in obj["spec"].get("volumeClaimTemplates", []):
            pod["spec"].setdefault("volumes", []).append({
                "name": claim["metadata"]["name"],
                "persistentVolumeClaim": {
                    "claimName": f"{claim['metadata']['name']}-{obj['metadata']['name']}-0"}})
        path = os.path.join(out_dir, f"{obj['kind'].lower()}-{obj['metadata']['name']}.json")
        json.dump(pod, open(path, "w"))
        made.append(pod)
    if not made:
        sys.exit(f"{rendered}: no workloads")
    unsafe = json.loads(json.dumps(made[0]))
    unsafe["metadata"]["name"] = "unsafe"
    unsafe["spec"]["securityContext"] = {}
    for c in unsafe["spec"]["containers"] + unsafe["spec"].get("initContainers", []):
        c["securityContext"] = {}
    json.dump(unsafe, open(os.path.join(out_dir, "unsafe.json"), "w"))
    print(len(made))


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def stored(rendered, server_json, kinds):
    objs = load(rendered)
    want = {key(o): o for o in objs if o["kind"] in kinds}
    got = {key(o): o for o in json.load(open(server_json))["items"]}
    for o in got.values():  # `kubectl get -o json` of a List leaves kind on each item
        o.setdefault("kind", "")
    deployments = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Deployment"}
    pod_labels = {f"{o['kind']}/{o['metadata']['name']}":
                  o["spec"]["template"].get("metadata", {}).get("labels", {})
                  for o in objs if o["kind"] in WORKLOADS}
    default_deny = False
    errors = []
    for k in sorted(set(got) - set(want)):
        errors.append(f"{k[0]} {k[1]}: on the server, not in the overlay")
    for k, w in sorted(want.items()):
        if k not in got:
            errors.append(f"{k[0]} {k[1]}: not on the server")
            continue
        g = got[k]
        body = {f: v for f, v in w.items() if f not in ("apiVersion", "kind", "metadata")}
        body["labels"] = w["metadata"].get("labels", {})
        g = dict(g, labels=g["metadata"].get("labels", {}))
        errors += [f"{k[0]} {k[1]}: {m}" for m in missing(body, g)]
        spec = g.get("spec", {})
        if k[0] == "HorizontalPodAutoscaler":
            ref = spec["scaleTargetRef"]
            if ref["kind"] != "Deployment" or ref["name"] not in deployments:
                errors.append(f"HPA {k[1]}: scales {ref['kind']} {ref['name']}, not a Deployment here")
            print(f"HPA {k[1]}: {ref['kind']}/{ref['name']} {spec.get('minReplicas', 1)}"
                  f"..{spec['maxReplicas']} replicas, metrics "
                  + ", ".join(f"{m['resource']['name']} {m['resource']['target']}"
                              for m in spec.get("metrics", []) if m["type"] == "Resource"))
        elif k[0] == "PodDisruptionBudget":
            sel = spec["selector"]
            targets = [n for n, d in deployments.items()
                       if selects(sel, d["spec"]["template"]["metadata"].get("labels", {}))]
            if len(targets) != 1:
                errors.append(f"PDB {k[1]}: selects the pods of {targets or 'no Deployment'}")
            budget = ({"minAvailable": spec["minAvailable"]} if "minAvailable" in spec
                      else {"maxUnavailable": spec.get("maxUnavailable")})
            print(f"PDB {k[1]}: {targets} {budget}")
        elif k[0] == "NetworkPolicy":
            types = spec.get("policyTypes", [])
            rules = {t: len(spec.get(t.lower(), []) or []) for t in types}
            selected = [n for n, labels in pod_labels.items()
                        if selects(spec.get("podSelector", {}), labels)]
            if not selected:
                errors.append(f"NetworkPolicy {k[1]}: selects no workload's pods")
            if not spec.get("podSelector") and set(types) == {"Ingress", "Egress"} \
                    and not any(rules.values()):
                default_deny = True
            print(f"NetworkPolicy {k[1]}: {len(selected)} workload(s) "
                  f"({', '.join(selected)}), "
                  + ", ".join(f"{t} {n} rule(s)" for t, n in rules.items()))
        else:
            print(f"{k[0]} {k[1]}: stored as rendered")
    if any(k[0] == "NetworkPolicy" for k in want) and not default_deny:
        errors.append("no NetworkPolicy denies all ingress and egress of every pod by default")
    if errors:
        sys.exit("\n".join(errors))


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "count" and len(sys.argv) == 3:
        print(len(load(sys.argv[2])))
    elif cmd == "pods" and len(sys.argv) == 4:
        pods(sys.argv[2], sys.argv[3])
    elif cmd == "stored" and len(sys.argv) >= 5:
        stored(sys.argv[2], sys.argv[3], set(sys.argv[4:]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
