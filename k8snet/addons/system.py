"""The objects every cluster starts with, owned as kubeadm owns them.

- Namespaces ``default``, ``kube-system``, ``kube-public``, ``kube-node-lease``
  and ``ingress-nginx``;
- Service ``default/kubernetes`` at the first address of the service CIDR
  (no endpoints reachable from pods: the API server listens on 127.0.0.1);
- cluster DNS: Deployment ``kube-system/kube-dns`` (label ``k8s-app=kube-dns``)
  behind Service ``kube-dns`` at the tenth address (10.96.0.10), UDP and TCP 53;
- the ingress controller: Deployment ``ingress-nginx/ingress-nginx-controller``
  behind the LoadBalancer Service of the same name, and IngressClass ``nginx``
  (the default class).

Deleting one of their pods brings a new one: their Deployments do it.
Pure: plan in, objects out.
"""
from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

from k8snet.api.model import NetworkPlan

BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
DNS_NAMESPACE, DNS_NAME, DNS_PORT = "kube-system", "kube-dns", 53
DNS_LABELS = {"k8s-app": "kube-dns"}
INGRESS_NAMESPACE = INGRESS_NAME = "ingress-nginx"
INGRESS_SERVICE = "ingress-nginx-controller"
INGRESS_LABELS = {"app.kubernetes.io/name": "ingress-nginx",
                  "app.kubernetes.io/component": "controller"}


def service_ip(plan: NetworkPlan, offset: int) -> str:
    """The address ``offset`` of the service CIDR (1: kubernetes, 10: kube-dns)."""
    return str(ipaddress.ip_network(plan.service_cidr).network_address + offset)


def dns_ip(plan: NetworkPlan) -> str:
    return service_ip(plan, 10)


def _namespace(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def _deployment(name: str, namespace: str, labels: dict, container: dict,
                dns_policy: str = "ClusterFirst") -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {"replicas": 1, "selector": {"matchLabels": dict(labels)},
                 "strategy": {"type": "RollingUpdate",
                              "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                 "template": {"metadata": {"labels": dict(labels)},
                              "spec": {"containers": [container], "dnsPolicy": dns_policy,
                                       "terminationGracePeriodSeconds": 1}}}}


def _probe(port: int) -> dict:
    return {"tcpSocket": {"port": port}, "periodSeconds": 1, "failureThreshold": 3}


def dns_objects(plan: NetworkPlan, snapshot: Path) -> list[dict]:
    """kube-dns: the Deployment serving ``snapshot`` and its Service."""
    container = {
        "name": "dns", "image": "k8snet/cluster-dns",
        "command": [sys.executable, "-m", "k8snet.addons.dns", "--snapshot", str(snapshot),
                    "--port", str(DNS_PORT), "--upstream", f"{plan.ext_dns_ip}:{DNS_PORT}"],
        "ports": [{"name": "dns", "containerPort": DNS_PORT, "protocol": "UDP"},
                  {"name": "dns-tcp", "containerPort": DNS_PORT, "protocol": "TCP"}],
        "readinessProbe": _probe(DNS_PORT), "livenessProbe": _probe(DNS_PORT)}
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": DNS_NAME, "namespace": DNS_NAMESPACE,
                     "labels": {**DNS_LABELS, "kubernetes.io/name": "CoreDNS"}},
        "spec": {"clusterIP": dns_ip(plan), "selector": dict(DNS_LABELS),
                 "ports": [{"name": "dns", "port": DNS_PORT, "protocol": "UDP",
                            "targetPort": DNS_PORT},
                           {"name": "dns-tcp", "port": DNS_PORT, "protocol": "TCP",
                            "targetPort": DNS_PORT}]}}
    return [_deployment(DNS_NAME, DNS_NAMESPACE, DNS_LABELS, container, "Default"), service]


def ingress_objects(conf: Path) -> list[dict]:
    """ingress-nginx: its Deployment running nginx on ``conf``, the
    LoadBalancer Service, and the default IngressClass ``nginx``."""
    container = {
        "name": "controller", "image": "registry.k8s.io/ingress-nginx/controller:v1.11.2",
        "command": [sys.executable, "-m", "k8snet.addons.ingress_runner", "--conf", str(conf)],
        "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
        "readinessProbe": _probe(80)}
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": INGRESS_SERVICE, "namespace": INGRESS_NAMESPACE,
                     "labels": dict(INGRESS_LABELS)},
        "spec": {"type": "LoadBalancer", "selector": dict(INGRESS_LABELS),
                 "ports": [{"name": "http", "port": 80, "targetPort": "http",
                            "protocol": "TCP"}]}}
    klass = {
        "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
        "metadata": {"name": "nginx", "labels": dict(INGRESS_LABELS),
                     "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
        "spec": {"controller": "k8s.io/ingress-nginx"}}
    return [_deployment(INGRESS_SERVICE, INGRESS_NAMESPACE, INGRESS_LABELS, container),
            service, klass]


def system_objects(plan: NetworkPlan, run_dir: Path) -> list[dict]:
    """Every object a new cluster holds, in the order to create them."""
    kubernetes = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": service_ip(plan, 1),
                 "ports": [{"name": "https", "port": 443, "targetPort": 6443,
                            "protocol": "TCP"}]}}
    return ([_namespace(n) for n in (*BUILTIN_NAMESPACES, INGRESS_NAMESPACE)]
            + [kubernetes]
            + dns_objects(plan, run_dir / "dns" / "snapshot.json")
            + ingress_objects(run_dir / "ingress" / "nginx.conf"))
