"""The k8snet CLI: Mininet's CLI plus kubectl-like commands and ``POD CMD``.

Every Mininet command keeps working.  As Mininet does for host names, pod
and node names in a pod command are replaced by their IPs.
"""
from __future__ import annotations

import os
import platform
import re
import shlex
import subprocess
import sys

from mininet.cli import CLI
from mininet.log import output

from k8snet.addons import ingress
from k8snet.addons import system as addons
from k8snet.api.model import ContainerPort
from k8snet.api.service import Service, ServicePort
from k8snet.cli import reach
from k8snet.cli import tables as kubectl
from k8snet.cluster import apply
from k8snet.control.workloads import kind_of
from k8snet.errors import K8snetError
from k8snet.load import manifests

WORKLOAD_WORDS = {"deployment", "deployments", "deploy", "replicaset", "replicasets", "rs",
                  "daemonset", "daemonsets", "ds", "statefulset", "statefulsets", "sts"}


def container_env(status, container: str | None = None) -> dict[str, str]:
    """The environment a container was started with (the first by default)."""
    procs = [c for c in status.containers if container is None or c.name == container]
    if not procs:
        raise K8snetError(f"container {container} is not valid for pod {status.pod.name}")
    return dict(procs[0].env or os.environ)


def _pop_namespace(args: list[str]) -> tuple[str, list[str]]:
    """``-n NS`` out of ``args``: (namespace, the other arguments)."""
    if "-n" in args:
        i = args.index("-n")
        return args[i + 1], args[:i] + args[i + 2:]
    return "default", args


def _files_and_namespace(args: list[str], verb: str) -> tuple[list[str], str | None]:
    """-f/--filename (repeatable) and -n/--namespace of kubectl apply/delete."""
    files, namespace = [], None
    it = iter(args)
    for arg in it:
        key, eq, value = arg.partition("=")
        if key in ("-f", "--filename"):
            files.append(value if eq else next(it, ""))
        elif key in ("-n", "--namespace"):
            namespace = value if eq else next(it, None)
        else:
            raise K8snetError(f"kubectl {verb}: unknown argument {arg}")
    if not files or not all(files):
        raise K8snetError(f'error: must specify one of -f and -k (kubectl {verb} -f FILE)')
    return files, namespace


def substitute(words: list[str], names: dict[str, str]) -> list[str]:
    """Replace pod and node names by their IPs, as Mininet does for hosts.

    A name counts as a whole word or inside a URL or ``host:port``
    (``http://web-1:8080/``), never as part of a longer name (``web-10``).
    """
    if not names:
        return list(words)
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w.-])({alternatives})(?![\w.-]*\w)")
    return [pattern.sub(lambda m: names[m.group(1)], word) for word in words]


def matrix_probes(cluster) -> list[reach.Probe]:
    """Every pod to every other pod and to ext, and each node to its pods."""
    pods = sorted(cluster.pods.values(), key=lambda s: (s.node, s.pod.name))
    ext_ip = cluster.spec.network.ext_ip
    probes = []
    for src in pods:
        targets = tuple((dst.pod.name, dst.ip) for dst in pods if dst is not src)
        probes.append(reach.Probe(src.pod.name, src.netns,
                                  targets + (("ext", ext_ip),)))
    for name in sorted(cluster.nodes):
        mine = tuple((s.pod.name, s.ip) for s in pods if s.node == name)
        if mine:
            from k8snet import naming
            probes.append(reach.Probe(
                name, naming.node_netns(cluster.spec.name, name), mine))
    return probes


def ping_pods(cluster, out=output) -> float:
    """Run the matrix, print it Mininet style, return the percent dropped."""
    out("*** Ping: testing pod reachability (pod <-> pod, node -> own pods, "
        "pod -> ext)\n")
    results = []
    for probe in matrix_probes(cluster):
        result = reach.run_probe(probe)
        results.append(result)
        out(reach.format_line(result) + "\n")
    dropped, received, sent = reach.summary(results)
    out(f"*** Results: {dropped:.0f}% dropped ({received}/{sent} received)\n")
    return dropped


class K8sCLI(CLI):
    prompt = "k8snet> "

    def __init__(self, mininet, cluster, **kwargs):
        self.cluster = cluster
        super().__init__(mininet, **kwargs)

    # --- pods as CLI targets ---------------------------------------------

    def name_map(self) -> dict[str, str]:
        names = {n.name: n.ip for n in self.cluster.nodes.values()}
        names.update({s.pod.name: s.ip for s in self.cluster.pods.values()})
        names.update({s.pod.key: s.ip for s in self.cluster.pods.values()})
        return names

    def run_in_pod(self, pod_name: str, words: list[str]) -> int:
        status = self.cluster.find_pod(pod_name)
        command = " ".join(substitute(words, self.name_map()))
        try:
            return subprocess.call(["ip", "netns", "exec", status.netns,
                                    "sh", "-c", command], env=container_env(status))
        except KeyboardInterrupt:
            output("\n")
            return 130

    def default(self, line):
        first, _, rest = line.partition(" ")
        try:
            if first and (first in {s.pod.name for s in self.cluster.pods.values()}
                          or first in self.cluster.pods):
                if not rest.strip():
                    output(f"*** Enter a command for pod: {first} <cmd>\n")
                    return
                self.run_in_pod(first, shlex.split(rest, posix=False))
                return
        except K8snetError as exc:
            output(f"error: {exc}\n")
            return
        super().default(line)

    def completenames(self, text, *ignored):
        pods = [s.pod.name for s in self.cluster.pods.values()]
        return sorted(set(super().completenames(text, *ignored))
                      | {p for p in pods if p.startswith(text)})

    # --- commands ------------------------------------------------------------

    def do_pingpods(self, _line):
        """Ping every pod from every pod, each node's pods from the node,
           and ext from every pod; print Mininet-style results."""
        ping_pods(self.cluster)

    def do_kubectl(self, line):
        """kubectl-like commands:
           kubectl get nodes|pods|svc|endpoints|ingress|deploy|sts|ds|rs|ns
                       [-o wide] [-A] [-n NS]
           kubectl apply -f FILE|DIR [-f ...] [-n NS]    (all or nothing)
           kubectl delete -f FILE|DIR | KIND NAME... [-n NS]
           kubectl scale deploy|sts|rs NAME --replicas=N [-n NS]
           kubectl rollout restart deploy|sts|ds NAME [-n NS]
           kubectl create service clusterip|nodeport|loadbalancer NAME
                       --tcp=PORT[:TARGET] [--node-port=N]   (selects app=NAME)
           kubectl run NAME [--image=IMG] [--port=N[/UDP]]... [--labels=k=v,...]
                       [--node=NODE] [-n NS] [-- COMMAND ARGS...]
           kubectl exec POD -- CMD...
           kubectl logs POD [-c CONTAINER]"""
        try:
            words = shlex.split(line)
            self.kubectl(words)
        except K8snetError as exc:
            output(f"error: {exc}\n")
        except ValueError as exc:
            output(f"error: {exc}\n")

    def kubectl(self, words: list[str]) -> None:
        if not words:
            raise K8snetError("kubectl: give a command (get, apply, delete, scale, rollout, "
                              "run, create, exec, logs)")
        verb, args = words[0], words[1:]
        handler = getattr(self, f"kubectl_{verb}", None)
        if handler is None:
            raise K8snetError(f'unknown command "{verb}" for "kubectl"')
        handler(args)

    def kubectl_get(self, args: list[str]) -> None:
        wide = "wide" in args and "-o" in args or "-owide" in args
        all_ns = "-A" in args or "--all-namespaces" in args
        namespace = args[args.index("-n") + 1] if "-n" in args else "default"
        kind = next((a for a in args if not a.startswith("-")
                     and a != "wide" and a != namespace), "")
        if "," in kind:
            for one in kind.split(","):
                self.kubectl_get([one if a == kind else a for a in args])
            return
        if kind in ("nodes", "node", "no"):
            output(kubectl.nodes_table(list(self.cluster.nodes.values()),
                                       self.cluster.started, platform.release(),
                                       wide) + "\n")
        elif kind in ("pods", "pod", "po"):
            pods = [s for s in self.cluster.pods.values()
                    if all_ns or s.pod.namespace == namespace]
            text = kubectl.pods_table(pods, wide, all_ns)
            if not pods and not all_ns:
                text = f"No resources found in {namespace} namespace."
            output(text + "\n")
        elif kind in ("services", "service", "svc"):
            mgr = self.cluster.services
            svcs = [v for v in mgr.services.values() if all_ns or v.namespace == namespace]
            output(kubectl.services_table(svcs, mgr.created, wide, all_ns) + "\n")
        elif kind in ("endpoints", "ep"):
            mgr = self.cluster.services
            svcs = [v for v in mgr.services.values() if all_ns or v.namespace == namespace]
            output(kubectl.endpoints_table(svcs, mgr.endpoints, mgr.created) + "\n")
            for warning in mgr.warnings:
                output(warning + "\n")
        elif kind in ("namespaces", "namespace", "ns"):
            output(kubectl.namespaces_table(self.cluster.namespaces) + "\n")
        elif kind.split(".")[0] in WORKLOAD_WORDS:
            wl_kind = kind_of(kind)
            mgr = self.cluster.workloads
            states = [s for s in mgr.states.values() if s.workload.kind == wl_kind
                      and (all_ns or s.workload.namespace == namespace)]
            text = kubectl.workloads_table(wl_kind, states, mgr.pods_of, all_ns)
            if not states and not all_ns:
                text = f"No resources found in {namespace} namespace."
            output(text + "\n")
        elif kind in ("ingress", "ingresses", "ing"):
            ings = [i for i in self.cluster.ingresses.values()
                    if all_ns or i.namespace == namespace]
            address = ""
            key = f"{ingress.INGRESS_NAMESPACE}/{ingress.INGRESS_SERVICE}"
            if key in self.cluster.services.services:
                address = self.cluster.services.services[key].load_balancer_ip
            output(kubectl.ingress_table(ings, address, self.cluster.started) + "\n")
        else:
            raise K8snetError(f'the server doesn\'t have a resource type "{kind}"')

    def kubectl_run(self, args: list[str]) -> None:
        command: list[str] = []
        if "--" in args:
            command = args[args.index("--") + 1:]
            args = args[:args.index("--")]
        opts = {"image": "", "labels": "", "node": "", "namespace": "default"}
        ports: list[ContainerPort] = []
        positional = []
        it = iter(args)
        for arg in it:
            key, eq, value = arg.partition("=")
            if key in ("-n", "--namespace"):
                opts["namespace"] = value if eq else next(it, "")
            elif key.startswith("--") and key[2:] in ("image", "labels", "node", "port"):
                value = value if eq else next(it, "")
                if key == "--port":
                    num, _, proto = value.partition("/")
                    if not num.isdigit() or not 1 <= int(num) <= 65535:
                        raise K8snetError(f"invalid port '{value}'")
                    ports.append(ContainerPort(int(num), proto.upper() or "TCP"))
                else:
                    opts[key[2:]] = value
            else:
                positional.append(arg)
        if len(positional) != 1:
            raise K8snetError("kubectl run: give exactly one NAME")
        from k8snet.load.topofile import parse_pod
        labels = dict(kv.split("=", 1) for kv in opts["labels"].split(",") if "=" in kv)
        labels.setdefault("run", positional[0])
        raw = {"name": positional[0], "namespace": opts["namespace"],
               "node": opts["node"], "labels": labels,
               "containers": [{"name": positional[0][:63], "image": opts["image"],
                               "command": command,
                               "ports": [{"containerPort": p.container_port,
                                          "protocol": p.protocol} for p in ports]}]}
        pod = parse_pod(raw, "kubectl run", "pod")
        status = self.cluster.add_pod(pod)
        output(f"pod/{status.pod.name} created\n")

    def kubectl_apply(self, args: list[str]) -> None:
        """kubectl apply -f FILE|DIR [-f ...] [-n NS]"""
        files, namespace = _files_and_namespace(args, "apply")
        mset = manifests.load_paths(files, namespace)
        apply.apply(self.cluster, mset, out=lambda line: output(line + "\n"))

    def kubectl_delete(self, args: list[str]) -> None:
        """kubectl delete -f FILE | pod|svc|deploy|sts|ds|rs|ns|ingress NAME... [-n NS]"""
        if "-f" in args or any(a.startswith("--filename") for a in args):
            files, namespace = _files_and_namespace(args, "delete")
            mset = manifests.load_paths(files, namespace)
            apply.delete(self.cluster, mset, out=lambda line: output(line + "\n"))
            return
        namespace, args = _pop_namespace(args)
        if len(args) < 2:
            raise K8snetError("usage: kubectl delete -f FILE | KIND NAME... [-n NS]")
        kind, names = args[0], args[1:]
        if "/" in kind:
            kind, names = kind.split("/", 1)[0], [a.split("/", 1)[1] for a in args]
        for name in names:
            if kind in ("pod", "pods", "po"):
                key = name if "/" in name or namespace == "default" else f"{namespace}/{name}"
                status = self.cluster.delete_pod(key, grace=0.0)
                output(f'pod "{status.pod.name}" deleted\n')
            elif kind in ("svc", "service", "services"):
                svc = self.cluster.services.delete(name, namespace)
                output(f'service "{svc.name}" deleted\n')
            elif kind in ("ns", "namespace", "namespaces"):
                apply.delete_namespace(self.cluster, name)
                output(f'namespace "{name}" deleted\n')
            elif kind in ("ingress", "ingresses", "ing"):
                if self.cluster.ingresses.pop(f"{namespace}/{name}", None) is None:
                    raise K8snetError(f'ingresses.networking.k8s.io "{name}" not found')
                addons.update_ingress(self.cluster)
                output(f'ingress.networking.k8s.io "{name}" deleted\n')
            else:
                output(self.cluster.workloads.delete(kind_of(kind), name, namespace) + "\n")

    def kubectl_scale(self, args: list[str]) -> None:
        """kubectl scale deploy|sts|rs NAME --replicas=N [-n NS]"""
        namespace, replicas, words = "default", None, []
        it = iter(args)
        for arg in it:
            key, eq, value = arg.partition("=")
            if key == "--replicas":
                value = value if eq else next(it, "")
                if not value.lstrip("-").isdigit():
                    raise K8snetError(f'invalid argument "{value}" for "--replicas" flag')
                replicas = int(value)
            elif key in ("-n", "--namespace"):
                namespace = value if eq else next(it, "default")
            else:
                words.append(arg)
        if "/" in "".join(words[:1]):
            words = words[0].split("/", 1) + words[1:]
        if replicas is None or len(words) != 2:
            raise K8snetError("usage: kubectl scale deploy|sts|rs NAME --replicas=N [-n NS]")
        output(self.cluster.workloads.scale(kind_of(words[0]), words[1], replicas,
                                            namespace) + "\n")

    def kubectl_rollout(self, args: list[str]) -> None:
        """kubectl rollout restart deploy|sts|ds NAME [-n NS]"""
        namespace, args = _pop_namespace(args)
        if args[:1] != ["restart"] or len(args) not in (2, 3):
            raise K8snetError("usage: kubectl rollout restart deploy|sts|ds NAME [-n NS]")
        words = args[1].split("/", 1) if len(args) == 2 else args[1:]
        if len(words) != 2:
            raise K8snetError("usage: kubectl rollout restart deploy|sts|ds NAME [-n NS]")
        line = self.cluster.workloads.rollout_restart(
            kind_of(words[0]), words[1], namespace, out=lambda m: output(m + "\n"))
        output(line + "\n")

    def kubectl_create(self, args: list[str]) -> None:
        """kubectl create service clusterip|nodeport|loadbalancer NAME --tcp=P[:T]..."""
        if len(args) < 3 or args[0] not in ("service", "svc"):
            raise K8snetError("usage: kubectl create service clusterip|nodeport|loadbalancer "
                              "NAME --tcp=PORT[:TARGET] [--node-port=N] [--udp=...]")
        types = {"clusterip": "ClusterIP", "nodeport": "NodePort",
                 "loadbalancer": "LoadBalancer"}
        if args[1] not in types:
            raise K8snetError(f'unknown service type "{args[1]}" (clusterip, nodeport, '
                              "loadbalancer)")
        name, ports, node_port = args[2], [], 0
        for arg in args[3:]:
            key, _, value = arg.partition("=")
            if key in ("--tcp", "--udp"):
                for spec in value.split(","):
                    port, _, target = spec.partition(":")
                    if not port.isdigit() or (target and not target.isdigit()):
                        raise K8snetError(f"invalid port spec '{spec}' (PORT[:TARGET])")
                    ports.append((int(port), int(target or port), key[2:].upper()))
            elif key == "--node-port" and value.isdigit():
                node_port = int(value)
            else:
                raise K8snetError(f"unknown flag {arg}")
        svc_ports = tuple(ServicePort(p, t, proto, name=f"{p}-{t}" if len(ports) > 1 else "",
                                      node_port=node_port if i == 0 else 0)
                          for i, (p, t, proto) in enumerate(ports))
        (svc,) = self.cluster.services.add([Service(name, type=types[args[1]],
                                                    selector=(("app", name),),
                                                    ports=svc_ports)])
        output(f"service/{svc.name} created\n")

    def kubectl_exec(self, args: list[str]) -> None:
        """kubectl exec POD [-c CONTAINER] [-n NS] -- CMD...: in the container's
        environment (its env and service variables), in the pod's namespace."""
        if "--" not in args or args.index("--") == 0:
            raise K8snetError("usage: kubectl exec POD [-c CONTAINER] -- COMMAND [ARGS...]")
        head, command = args[:args.index("--")], args[args.index("--") + 1:]
        opts = {"-c": None, "-n": None}
        words = []
        it = iter(head)
        for arg in it:
            if arg in opts:
                opts[arg] = next(it, None)
            elif not arg.startswith("-"):
                words.append(arg)
        if len(words) != 1:
            raise K8snetError("usage: kubectl exec POD [-c CONTAINER] -- COMMAND [ARGS...]")
        name = f"{opts['-n']}/{words[0]}" if opts["-n"] else words[0]
        status = self.cluster.find_pod(name)
        subprocess.call(["ip", "netns", "exec", status.netns, *command],
                        env=container_env(status, opts["-c"]))

    def kubectl_logs(self, args: list[str]) -> None:
        container = args[args.index("-c") + 1] if "-c" in args else None
        names = [a for a in args if not a.startswith("-") and a != container]
        if not names:
            raise K8snetError("usage: kubectl logs POD [-c CONTAINER]")
        status = self.cluster.find_pod(names[0])
        procs = [c for c in status.containers
                 if container is None or c.name == container]
        if not procs:
            raise K8snetError(f'container {container} is not valid for pod '
                              f'{status.pod.name}')
        with open(procs[0].log_path, errors="replace") as fh:
            sys.stdout.write(fh.read())
            sys.stdout.flush()

