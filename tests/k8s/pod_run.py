#!/usr/bin/env python3
"""Translates a rendered overlay's Deployments into `podman run` command lines, doing what the
kubelet does with a pod's one container (tests/k8s/images_test.sh runs them):

- image, command and args, with $(VAR) expanded from the container's environment;
- env: values, ConfigMap keys (configMapKeyRef), envFrom ConfigMaps, and the downward API's
  metadata.name (the pod's name, DEPLOYMENT-0);
- securityContext: runAsUser/runAsGroup (--user), readOnlyRootFilesystem (--read-only),
  allowPrivilegeEscalation: false (no-new-privileges), capabilities drop/add, and the pod's
  seccomp RuntimeDefault (podman's default profile);
- emptyDir volumes (tmpfs) and ConfigMap volumes (files written under WORK);
- resources.limits (--memory, --cpus); terminationGracePeriodSeconds (--stop-timeout);
- networking: every container shares the host's network, as the test's broker and edges
  are on loopback. A pod has its own IP in Kubernetes, so each Deployment here gets a
  loopback address of its own (127.0.10.N) and listens there on the ports the rendered
  container declares (--grpc_address, --admin_address; the producer's console, too); each
  Service's name resolves to the address of the Deployment it selects (--add-host).

Anything else in a pod spec that would change how the container runs makes it fail, naming
the field, rather than be skipped.

  pod_run.py RENDERED.yaml WORK PODMAN_ARGS...
Prints one line per Deployment: NAME POD_IP GRPC_PORT LIVENESS_SERVICE READINESS_SERVICE
GRACE then the podman command (JSON list), tab-separated.
"""
import json
import os
import re
import sys

import yaml

KNOWN_POD = {"containers", "securityContext", "serviceAccountName", "automountServiceAccountToken",
             "terminationGracePeriodSeconds", "volumes", "topologySpreadConstraints", "affinity"}
KNOWN_CONTAINER = {"name", "image", "imagePullPolicy", "command", "args", "env", "envFrom", "ports",
                   "resources", "securityContext", "volumeMounts", "startupProbe",
                   "readinessProbe", "livenessProbe"}


def die(msg):
    sys.exit(f"pod_run: {msg}")


def main():
    rendered, work, podman = sys.argv[1], sys.argv[2], sys.argv[3:]
    objs = [d for d in yaml.safe_load_all(open(rendered)) if d]
    configmaps = {o["metadata"]["name"]: o.get("data", {}) for o in objs if o["kind"] == "ConfigMap"}
    deployments = [o for o in objs if o["kind"] == "Deployment"]
    pod_ip = {d["metadata"]["name"]: f"127.0.10.{i + 1}" for i, d in enumerate(deployments)}
    hosts = []
    for svc in (o for o in objs if o["kind"] == "Service"):
        sel = svc["spec"].get("selector", {})
        for d in deployments:
            labels = d["spec"]["template"]["metadata"].get("labels", {})
            if sel and all(labels.get(k) == v for k, v in sel.items()):
                hosts.append(f"--add-host={svc['metadata']['name']}:{pod_ip[d['metadata']['name']]}")
    for d in deployments:
        name = d["metadata"]["name"]
        pod = d["spec"]["template"]["spec"]
        for field in set(pod) - KNOWN_POD:
            die(f"Deployment {name}: spec.template.spec.{field} is not translated")
        if len(pod["containers"]) != 1:
            die(f"Deployment {name}: {len(pod['containers'])} containers, not one")
        c = pod["containers"][0]
        for field in set(c) - KNOWN_CONTAINER:
            die(f"Deployment {name}: container field {field} is not translated")
        pod_name = f"{name}-0"
        env = {}
        for src in c.get("envFrom", []):
            env.update(configmaps[src["configMapRef"]["name"]])
        for e in c.get("env", []):
            if "value" in e:
                env[e["name"]] = e["value"]
            elif "configMapKeyRef" in e["valueFrom"]:
                ref = e["valueFrom"]["configMapKeyRef"]
                env[e["name"]] = configmaps[ref["name"]][ref["key"]]
            elif e["valueFrom"].get("fieldRef", {}).get("fieldPath") == "metadata.name":
                env[e["name"]] = pod_name
            else:
                die(f"Deployment {name}: env {e['name']} comes from {e['valueFrom']}")
        expand = lambda s: re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                                  lambda m: env.get(m.group(1), m.group(0)), s)
        args = [expand(a) for a in c.get("args", [])]
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        ip = pod_ip[name]
        args += [f"--grpc_address={ip}:{ports['grpc']}", f"--admin_address={ip}:{ports['admin']}"]
        args = [re.sub(r"^(--console_address=)0\.0\.0\.0:", rf"\g<1>{ip}:", a) for a in args]
        pod_sc, sc = pod.get("securityContext", {}), c.get("securityContext", {})
        run = list(podman) + ["run", "--network=host", f"--name={pod_name}",
                              f"--hostname={pod_name}"] + hosts
        uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
        gid = sc.get("runAsGroup", pod_sc.get("runAsGroup"))
        if uid is not None:
            run.append(f"--user={uid}" + (f":{gid}" if gid is not None else ""))
        if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) and not uid:
            die(f"Deployment {name}: runAsNonRoot without a runAsUser")
        if sc.get("readOnlyRootFilesystem"):
            run.append("--read-only")
        if sc.get("allowPrivilegeEscalation") is False:
            run.append("--security-opt=no-new-privileges")
        for cap in sc.get("capabilities", {}).get("drop", []):
            run.append(f"--cap-drop={cap}")
        for cap in sc.get("capabilities", {}).get("add", []):
            run.append(f"--cap-add={cap}")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        if seccomp not in (None, "RuntimeDefault"):
            die(f"Deployment {name}: seccompProfile {seccomp}")
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for m in c.get("volumeMounts", []):
            v = volumes[m["name"]]
            if "emptyDir" in v:
                run.append(f"--tmpfs={m['mountPath']}")
            elif "configMap" in v:
                src = os.path.join(work, name, m["name"])
                os.makedirs(src, exist_ok=True)
                for k, text in configmaps[v["configMap"]["name"]].items():
                    open(os.path.join(src, k), "w").write(text)
                run.append(f"--volume={src}:{m['mountPath']}:ro")
            else:
                die(f"Deployment {name}: volume {m['name']} is neither emptyDir nor configMap")
        limits = c.get("resources", {}).get("limits", {})
        if "memory" in limits:
            run.append(f"--memory={limits['memory'].replace('Mi', 'm').replace('Gi', 'g')}")
        if "cpu" in limits:
            cpu = limits["cpu"]
            run.append(f"--cpus={int(cpu[:-1]) / 1000 if cpu.endswith('m') else cpu}")
        grace = pod.get("terminationGracePeriodSeconds", 30)
        run.append(f"--stop-timeout={grace}")
        for k, v in sorted(env.items()):
            run.append(f"--env={k}={v}")
        if "command" in c:
            run.append(f"--entrypoint={json.dumps(c['command'])}")
        run.append(c["image"])
        run += args
        probe = lambda p: (p or {}).get("grpc", {}).get("service", "") or "-"
        if (c.get("livenessProbe") or {}).get("grpc", {}).get("port") != ports["grpc"]:
            die(f"Deployment {name}: the liveness probe is not gRPC on the grpc port")
        print("\t".join([name, ip, str(ports["grpc"]), probe(c.get("livenessProbe")),
                         probe(c.get("readinessProbe")), str(grace), json.dumps(run)]))


if __name__ == "__main__":
    main()
