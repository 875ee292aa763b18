"""The two ends of a trace: the source, and what it would connect to.

SRC is a pod (``NAME`` or ``NS/NAME``), a node or ``ext``.  DST is an IP, a
pod or node name, or a name the source's own resolver answers (a Service,
an FQDN, an ingress host in ``http://HOST[:PORT]/PATH``), asked from inside
the source's namespace through its resolv.conf, search path and all.
"""
from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from urllib.parse import urlsplit

from k8snet import naming
from k8snet.api.podnames import AmbiguousPodName, pod_named
from k8snet.errors import K8snetError
from k8snet.trace import kernel
from k8snet.trace.model import Endpoint, Hop, Lab, Target
from k8snet.trace.picture import EXT, service_id

PROBE = [sys.executable, "-m", "k8snet.trace.probe"]


def run_probe(netns: str, request: dict) -> dict:
    """Run ``k8snet.trace.probe`` in ``netns``; its JSON answer."""
    res = subprocess.run(["ip", "netns", "exec", netns, *PROBE], input=json.dumps(request),
                         capture_output=True, text=True, timeout=15)
    if res.returncode != 0:
        raise K8snetError(f"trace probe in {netns}: {res.stderr.strip() or 'failed'}")
    return json.loads(res.stdout)


def source_of(lab: Lab, text: str) -> Endpoint:
    """The source endpoint; K8snetError naming what is not a pod, node or ext."""
    if text == EXT:
        return Endpoint("ext", EXT, lab.host_ips.get(EXT, ""), lab.host_netns[EXT],
                        element=EXT)
    if text in lab.node_netns:
        return Endpoint("node", text, lab.node_ips[text], lab.node_netns[text], node=text,
                        element=text)
    pod = pod_named(lab.store, text)
    if pod is None:
        raise K8snetError(f"trace: '{text}' is not a pod, a node or ext")
    meta, status = pod["metadata"], pod.get("status") or {}
    if not status.get("podIP"):
        raise K8snetError(f"trace: pod {meta['namespace']}/{meta['name']} has no IP yet")
    node = (pod.get("spec") or {}).get("nodeName", "")
    return Endpoint("pod", f"{meta['namespace']}/{meta['name']}", status["podIP"],
                    lab.pod_netns(pod), node=node,
                    veth=naming.host_veth(lab.cluster, meta["namespace"], meta["name"]),
                    element=f"{meta['namespace']}/{meta['name']}")


def is_ip(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
        return True
    except ValueError:
        return False


def default_port(store, ip: str, protocol: str) -> int:
    """The first port of the Service at ``ip`` (ClusterIP, LoadBalancer IP or one
    of its externalIPs), or of the pod at ``ip``, for ``protocol``; 80 when
    neither declares one."""
    for svc in store.list("Service"):
        spec, status = svc.get("spec") or {}, svc.get("status") or {}
        ips = [spec.get("clusterIP"), *(spec.get("externalIPs") or [])] + \
            [i.get("ip") for i in (status.get("loadBalancer") or {}).get("ingress") or []]
        if ip in ips:
            for p in spec.get("ports") or []:
                if (p.get("protocol") or "TCP") == protocol:
                    return int(p["port"])
    for pod in store.list("Pod"):
        if (pod.get("status") or {}).get("podIP") == ip:
            for c in (pod.get("spec") or {}).get("containers") or []:
                for p in c.get("ports") or []:
                    if (p.get("protocol") or "TCP") == protocol:
                        return int(p["containerPort"])
    return 80


def _resolve(lab: Lab, source: Endpoint, name: str) -> tuple[str | None, Hop, str]:
    """Ask the source's resolver; (address, the DNS hop, DNS pod that answered)."""
    answer = run_probe(source.netns, {"action": "resolve", "name": name, "timeout": 0.5})
    hop = Hop("DNS")
    if answer.get("error"):
        raise K8snetError(f"trace: {source.name} cannot resolve {name}: {answer['error']}")
    server = answer["server"]
    hop.lines.append(f"{source.name} asks {server} from {source.ip}:{answer['sport']} "
                     "(its resolv.conf: search path and ndots)")
    for t in answer["tries"]:
        found = ", ".join(t["answers"]) or "no address"
        hop.lines.append(f"  {t['name']}: {t['rcode']} {found}")
    answered = ""
    if source.node in lab.node_netns:
        for e in kernel.conntrack_entries(source.node, lab.node_netns[source.node], "UDP",
                                          int(answer["sport"])):
            if e.dnat:
                pod = lab.store.list("Pod", where=lambda p, ip=e.dnat[0]:
                                     (p.get("status") or {}).get("podIP") == ip)
                answered = (f"{pod[0]['metadata']['namespace']}/{pod[0]['metadata']['name']}"
                            if pod else e.dnat[0])
                hop.lines.append(f"  answered by {answered} ({e.dnat[0]}:{e.dnat[1]}), "
                                 f"kproxy's DNAT of {server}:53")
    if not answer.get("address"):
        return None, hop, answered
    hop.lines.append(f"  -> {name} is {answer['address']}")
    dns_svc = [s for s in lab.store.list("Service")
               if (s.get("spec") or {}).get("clusterIP") == server]
    if dns_svc:
        m = dns_svc[0]["metadata"]
        hop.path.append((source.element, service_id(m["namespace"], m["name"])))
    return answer["address"], hop, answered


def ingress_address(store, host: str) -> tuple[str, str] | None:
    """(LoadBalancer IP, "ns/name") of the controller serving Ingress host ``host``."""
    hosts = {(r or {}).get("host") for ing in store.list("Ingress")
             for r in (ing.get("spec") or {}).get("rules") or []}
    if host not in hosts:
        return None
    for svc in store.list("Service", "ingress-nginx"):
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if ingress and ingress[0].get("ip"):
            return ingress[0]["ip"], f"ingress-nginx/{svc['metadata']['name']}"
    return None


def target_of(lab: Lab, source: Endpoint, text: str, protocol: str = "TCP") -> Target:
    """What ``text`` (``DST[:PORT]`` or ``http://HOST[:PORT]/PATH``) means from ``source``."""
    path = "/hostname"
    if "://" in text:
        parts = urlsplit(text)
        try:
            port = parts.port
        except ValueError as exc:               # "Port out of range 0-65535"
            raise K8snetError(f"trace: {exc} in '{text}'") from None
        host, path = parts.hostname or "", parts.path or "/"
    else:
        host, _, port_text = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
        if not port_text.isdigit() and port_text:
            raise K8snetError(f"trace: bad port in '{text}' (DST[:PORT])")
        port = int(port_text) if port_text else None
    if port is not None and not 1 <= port <= 65535:
        raise K8snetError(f"trace: port {port} in '{text}' is out of range (1-65535)")
    if not host:
        raise K8snetError(f"trace: no destination in '{text}'")
    dns, dns_pod = None, ""
    if is_ip(host):
        ip = host
    elif host in lab.node_netns:
        ip = lab.node_ips[host]
    elif host == EXT and lab.host_ips.get(EXT):
        ip = lab.host_ips[EXT]
    else:
        pod = None
        if "." not in host or "/" in host:
            seen_from = source.name.partition("/")[0] if source.kind == "pod" else None
            try:
                pod = pod_named(lab.store, host, seen_from)
            except AmbiguousPodName:
                pod = None                       # left to the source's resolver
        if pod is not None and (pod.get("status") or {}).get("podIP"):
            ip = pod["status"]["podIP"]
        else:
            address, dns, dns_pod = _resolve(lab, source, host)
            found = ingress_address(lab.store, host) if address is None else None
            if address is None and found is None:
                raise K8snetError(f"trace: {host} does not resolve from {source.name}:\n  "
                                  + "\n  ".join(dns.lines))
            if address is None:
                address, controller = found
                dns.lines.append(f"  {host} is an Ingress host: as curl --resolve would, the "
                                 f"trace goes to the controller's address {address} "
                                 f"({controller})")
            ip = address
    return Target(text, ip, port or default_port(lab.store, ip, protocol), host, path, dns, dns_pod)
