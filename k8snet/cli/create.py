"""Objects made from the command line, as kubectl's generators make them:
``kubectl create service|deployment|namespace|configmap`` and ``kubectl run``.
"""
from __future__ import annotations

import argparse

from k8snet.errors import K8snetError

SERVICE_TYPES = {"clusterip": "ClusterIP", "nodeport": "NodePort",
                 "loadbalancer": "LoadBalancer", "externalname": "ExternalName"}


class ArgParser(argparse.ArgumentParser):
    """argparse that raises instead of exiting: a bad flag must not end the CLI."""

    def error(self, message: str):
        raise K8snetError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None):
        raise K8snetError(message.strip() if message else f"{self.prog}: exit {status}")


def _ports(specs: list[str], protocol: str) -> list[dict]:
    out = []
    for spec in specs:
        for item in spec.split(","):
            port, _, target = item.partition(":")
            if not port.isdigit() or (target and not target.isdigit()):
                raise K8snetError(f"error: invalid port spec '{item}' (PORT[:TARGET])")
            out.append({"port": int(port), "targetPort": int(target or port),
                        "protocol": protocol})
    return out


def service(args: list[str]) -> dict:
    """``kubectl create service TYPE NAME --tcp=P[:T] [--node-port=N]``: a
    Service selecting ``app=NAME`` with ports named ``P-T`` (kubectl's)."""
    p = ArgParser(prog="kubectl create service", add_help=False)
    p.add_argument("type")
    p.add_argument("name")
    p.add_argument("--tcp", action="append", default=[])
    p.add_argument("--udp", action="append", default=[])
    p.add_argument("--node-port", type=int, default=0)
    p.add_argument("--external-name", default="")
    p.add_argument("--clusterip", default="")
    p.add_argument("-n", "--namespace", default="default")
    a = p.parse_args(args)
    if a.type not in SERVICE_TYPES:
        raise K8snetError(f'error: unknown service type "{a.type}" (clusterip, nodeport, '
                          "loadbalancer, externalname)")
    ports = _ports(a.tcp, "TCP") + _ports(a.udp, "UDP")
    for port in ports:
        port["name"] = f"{port['port']}-{port['targetPort']}"
    if a.node_port and ports:
        ports[0]["nodePort"] = a.node_port
    spec: dict = {"type": SERVICE_TYPES[a.type]}
    if a.type == "externalname":
        spec["externalName"] = a.external_name
    else:
        spec.update(selector={"app": a.name}, ports=ports)
    if a.clusterip:
        spec["clusterIP"] = a.clusterip
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": a.name, "namespace": a.namespace, "labels": {"app": a.name}},
            "spec": spec}


def deployment(args: list[str]) -> dict:
    """``kubectl create deployment NAME --image=I [--replicas=N] [--port=P]``."""
    p = ArgParser(prog="kubectl create deployment", add_help=False)
    p.add_argument("name")
    p.add_argument("--image", action="append", required=True)
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("-n", "--namespace", default="default")
    a = p.parse_args(args)
    containers = []
    for image in a.image:
        name = image.rsplit("/", 1)[-1].split(":")[0].split("@")[0]
        c = {"name": name, "image": image}
        if a.port:
            c["ports"] = [{"containerPort": a.port}]
        containers.append(c)
    labels = {"app": a.name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": a.name, "namespace": a.namespace, "labels": labels},
            "spec": {"replicas": a.replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": containers}}}}


def create_object(args: list[str]) -> dict:
    """Dispatch ``kubectl create KIND ...``."""
    if not args:
        raise K8snetError("error: give what to create: service, deployment, namespace, "
                          "configmap")
    what, rest = args[0], args[1:]
    if what in ("service", "svc"):
        return service(rest)
    if what in ("deployment", "deploy"):
        return deployment(rest)
    if what in ("namespace", "ns") and len(rest) == 1:
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": rest[0]}}
    if what in ("configmap", "cm"):
        p = ArgParser(prog="kubectl create configmap", add_help=False)
        p.add_argument("name")
        p.add_argument("--from-literal", action="append", default=[])
        p.add_argument("-n", "--namespace", default="default")
        a = p.parse_args(rest)
        data = dict(kv.split("=", 1) for kv in a.from_literal if "=" in kv)
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": a.name, "namespace": a.namespace}, "data": data}
    raise K8snetError(f'error: unknown type "{what}" for "kubectl create" (service, '
                      "deployment, namespace, configmap)")


def run_pod(args: list[str]) -> dict:
    """``kubectl run NAME --image=I [--port=N] [--labels=k=v,..] [--env=K=V]
    [--overrides nodeName] [-- COMMAND...]``: a Pod labelled ``run=NAME``."""
    command: list[str] = []
    if "--" in args:
        command, args = args[args.index("--") + 1:], args[:args.index("--")]
    p = ArgParser(prog="kubectl run", add_help=False)
    p.add_argument("name")
    p.add_argument("--image", default="busybox")
    p.add_argument("--port", default="")
    p.add_argument("--labels", default="")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--node", default="")
    p.add_argument("--restart", default="Always", choices=("Always", "OnFailure", "Never"))
    p.add_argument("-n", "--namespace", default="default")
    a = p.parse_args(args)
    labels = {"run": a.name}
    for kv in filter(None, a.labels.split(",")):
        if "=" not in kv:
            raise K8snetError(f"error: invalid label spec: {kv}")
        k, v = kv.split("=", 1)
        labels[k] = v
    container: dict = {"name": a.name, "image": a.image}
    if command:
        container["command"] = command
    if a.port:
        num, _, proto = a.port.partition("/")
        if not num.isdigit():
            raise K8snetError(f"error: invalid port '{a.port}'")
        container["ports"] = [{"containerPort": int(num), "protocol": proto.upper() or "TCP"}]
    if a.env:
        container["env"] = [{"name": kv.split("=", 1)[0], "value": kv.partition("=")[2]}
                            for kv in a.env]
    spec: dict = {"containers": [container], "restartPolicy": a.restart}
    if a.node:
        spec["nodeName"] = a.node
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": a.name, "namespace": a.namespace, "labels": labels},
            "spec": spec}
