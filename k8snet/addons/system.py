"""Cluster add-ons every cluster gets: the ``kubernetes`` and ``kube-dns``
services, the DNS server pod, ext's Internet DNS, and the ingress controller.

They are ordinary pods and services, made the same way a user's are, so
``kubectl get pods -n kube-system`` shows them and kproxy balances them.
"""
from __future__ import annotations

import ipaddress
import signal
import sys
from pathlib import Path

from k8snet.addons import ingress
from k8snet.api.model import Container, ContainerPort, NetworkPlan, Pod
from k8snet.api.service import Service, ServicePort
from k8snet.load.manifests import Probe
from k8snet.node import discovery
from k8snet.node.discovery import DNS_LABELS, DNS_NAMESPACE, DNS_SERVICE

BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
DNS_POD = "kube-dns"
DNS_PORT = 53


def service_ip(plan: NetworkPlan, offset: int) -> str:
    return str(ipaddress.ip_network(plan.service_cidr).network_address + offset)


def dns_ip(cluster) -> str:
    """kube-dns sits at the tenth address of the service CIDR (10.96.0.10)."""
    return service_ip(cluster.spec.network, 10)


def system_services(plan: NetworkPlan) -> list[Service]:
    """``default/kubernetes`` (first address; there is no API server behind
    it, so it has no endpoints) and ``kube-system/kube-dns``."""
    return [
        Service("kubernetes", "default", "ClusterIP", cluster_ip=service_ip(plan, 1),
                ports=(ServicePort(443, 6443, name="https"),)),
        Service(DNS_SERVICE, DNS_NAMESPACE, "ClusterIP", selector=DNS_LABELS,
                cluster_ip=service_ip(plan, 10),
                ports=(ServicePort(DNS_PORT, DNS_PORT, "UDP", name="dns"),
                       ServicePort(DNS_PORT, DNS_PORT, "TCP", name="dns-tcp"))),
    ]


def _dns_dir(cluster) -> Path:
    path = cluster.rundir.path / "dns"
    path.mkdir(exist_ok=True)
    return path


def snapshot_path(cluster) -> Path:
    return _dns_dir(cluster) / "snapshot.json"


def start_ext_dns(cluster) -> None:
    """The emulated Internet's DNS on ext (203.0.113.53): a small zone."""
    from k8snet.addons import dns

    plan = cluster.spec.network
    zone = _dns_dir(cluster) / "ext-zone.yaml"
    zone.write_text(dns.default_ext_zone(plan.ext_ip))
    proc = cluster.net["ext"].popen(
        [sys.executable, "-m", "k8snet.addons.dns", "--zone-file", str(zone),
         "--bind", plan.ext_dns_ip, "--port", str(DNS_PORT)],
        stdout=open(cluster.rundir.logs / "ext-dns.log", "ab"), stderr=-2)
    cluster.aux_procs.append(proc)
    cluster.rundir.record_pid(proc.pid)


def start_cluster_dns(cluster) -> None:
    """The DNS server pod behind kube-dns, serving the cluster's snapshot."""
    plan = cluster.spec.network
    cluster.services.write_dns_snapshot()
    container = Container(
        "dns", command=(sys.executable, "-m", "k8snet.addons.dns", "--snapshot",
                        str(snapshot_path(cluster)), "--port", str(DNS_PORT),
                        "--upstream", f"{plan.ext_dns_ip}:{DNS_PORT}"),
        ports=(ContainerPort(DNS_PORT, "UDP", "dns"), ContainerPort(DNS_PORT, "TCP", "dns-tcp")))
    pod = Pod(DNS_POD, DNS_NAMESPACE, labels=DNS_LABELS, containers=(container,))
    probe = Probe("tcpSocket", port=DNS_PORT, period_seconds=0.2, failure_threshold=3)
    ((pod, node),) = cluster.plan_pods((pod,))
    cluster._add_pod(pod, node, (("dns", probe),), owner="")


def update_ingress(cluster) -> None:
    """(Re)write nginx.conf from every Ingress; start the controller pod and its
    LoadBalancer service the first time, else have nginx reload (SIGHUP)."""
    conf_dir = cluster.rundir.path / "ingress"
    conf_dir.mkdir(exist_ok=True)
    conf = conf_dir / "nginx.conf"
    discovery.write_atomic(conf, ingress.nginx_conf(list(cluster.ingresses.values()),
                                                    cluster.services.services,
                                                    str(conf_dir)))
    key = f"{ingress.INGRESS_NAMESPACE}/{ingress.INGRESS_POD}"
    if key in cluster.pods:
        for container in cluster.pods[key].containers:
            if container.running:
                container.proc.send_signal(signal.SIGHUP)
        return
    cluster.namespaces.setdefault(ingress.INGRESS_NAMESPACE, cluster.started)
    labels = (("app.kubernetes.io/name", "ingress-nginx"),)
    pod = Pod(ingress.INGRESS_POD, ingress.INGRESS_NAMESPACE, labels=labels,
              containers=(Container(
                  "controller", command=("nginx", "-c", str(conf), "-g", "daemon off;"),
                  ports=(ContainerPort(80, name="http"),)),))
    probe = Probe("tcpSocket", port=80, period_seconds=0.2, failure_threshold=3)
    ((pod, node),) = cluster.plan_pods((pod,))
    cluster._add_pod(pod, node, (("controller", probe),))
    svc_key = f"{ingress.INGRESS_NAMESPACE}/{ingress.INGRESS_SERVICE}"
    if svc_key not in cluster.services.services:
        cluster.services.add([Service(ingress.INGRESS_SERVICE, ingress.INGRESS_NAMESPACE,
                                      "LoadBalancer", selector=labels,
                                      ports=(ServicePort(80, "http", name="http"),))],
                             sync=False)
