"""What ``trace --simulate`` reads from a running cluster, and its destinations.

``sim_inputs_of`` gathers ``k8snet.trace.simulate.SimInputs``: the store,
the nodes' addresses, each node's kproxy ruleset, the fabric state and the
switch names.  ``sim_target_of`` reads DST the way ``target.target_of``
does, but answers names from the store (the cluster DNS's data) instead of
asking the source's resolver: a simulation sends nothing.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from k8snet.api.convert import slices_of
from k8snet.errors import K8snetError
from k8snet.trace.model import Endpoint, Hop, Target
from k8snet.trace.picture import EXT, service_id
from k8snet.trace.simulate import SimInputs
from k8snet.trace.target import default_port, ingress_address, is_ip
from kproxy import nft

PARTIAL_NOTE = ("kproxy has not applied the newest Services and endpoints yet: simulated "
                "with what it is about to apply")


def applied_ruleset(agent) -> tuple[str, str]:
    """(the whole ruleset ``agent``'s kproxy applied, as ``nft -f`` text; a
    caveat or ""), for nftables mode.

    The proxier's ``last_text`` is the whole ruleset only after a fresh sync
    (it deletes and refills the table); a partial sync's text only patches
    the table.  Then the ruleset is the fresh rendering of the state it
    applied, which is the agent's current state when that renders to the
    ruleset the proxier remembers (``previous``)."""
    proxier = agent.proxier
    text = proxier.last_text or ""
    if not text:
        return "", "kproxy has not synced on this node yet"
    if f"delete table {nft.FAMILY} {nft.TABLE}\n" in text:
        return text, ""
    state = agent.state()
    whole = nft.render(state, fresh=True)[0]
    return whole, "" if nft.build(state) == proxier.previous else PARTIAL_NOTE


def sim_inputs_of(cluster) -> SimInputs:
    """The simulator's view of a running ``k8snet.cluster.cluster.Cluster``."""
    network, plan = cluster.network, cluster.spec.network
    rulesets, notes = {}, {}
    if cluster.proxy_mode == "nftables":
        for node, agent in cluster.proxies.items():
            rulesets[node], note = applied_ruleset(agent)
            if note:
                notes[node] = note
    switches = network.net.switches if network.net is not None else []
    return SimInputs(
        store=cluster.store,
        node_ips={n: node.ip for n, node in network.nodes.items()},
        pod_cidrs={n: node.pod_cidr for n, node in network.nodes.items()},
        node_rulesets=rulesets,
        fabric_state=network.fabric_state() if network.net is not None else None,
        proxy_mode=cluster.proxy_mode,
        switch_names={int(sw.dpid, 16): sw.name for sw in switches},
        host_ips={"gw": plan.gateway_router, EXT: plan.ext_ip},
        cluster_domain=plan.cluster_domain,
        notes=notes,
        cluster=cluster.spec.name)


def _pod_ip(store, text: str, namespace: str) -> str:
    if "/" in text:
        ns, _, name = text.partition("/")
    else:
        ns, name = namespace, text
    pod = store.find("Pod", ns, name)
    if pod is None and "/" not in text:
        found = store.list("Pod", where=lambda p: p["metadata"]["name"] == text)
        pod = found[0] if len(found) == 1 else None
    return ((pod or {}).get("status") or {}).get("podIP") or ""


def _service_name(inputs: SimInputs, name: str, namespace: str) -> tuple[str, str] | None:
    """(namespace, service) a DNS name means from ``namespace``: ``svc``,
    ``svc.ns``, ``svc.ns.svc`` or ``svc.ns.svc.<cluster domain>``."""
    name = name.rstrip(".")
    suffix = f".svc.{inputs.cluster_domain}"
    if name.endswith(suffix):
        name = name[:-len(suffix)]
    elif name.endswith(".svc"):
        name = name[:-len(".svc")]
    parts = name.split(".")
    if len(parts) == 1:
        return namespace, parts[0]
    if len(parts) == 2:
        return parts[1], parts[0]
    return None


def _headless_addresses(store, svc: dict) -> list[str]:
    """The A records of a headless Service: its EndpointSlices' ready addresses
    (all, with ``publishNotReadyAddresses``), in the slices' order."""
    every = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    slices = slices_of(svc, store.list("EndpointSlice", svc["metadata"]["namespace"]))
    return list(dict.fromkeys(
        addr for sl in slices for ep in sl.get("endpoints") or []
        if every or (ep.get("conditions") or {}).get("ready", True)
        for addr in ep.get("addresses") or []))


def _resolve(inputs: SimInputs, source: Endpoint, host: str) -> tuple[str, Hop]:
    namespace = source.name.partition("/")[0] if source.kind == "pod" else "default"
    hop = Hop("DNS", [f"simulated: not asked; the answer the cluster DNS would give, from "
                      f"the API store (search path from namespace {namespace})"])
    wanted = _service_name(inputs, host, namespace)
    svc = inputs.store.find("Service", *wanted) if wanted else None
    ip = ((svc or {}).get("spec") or {}).get("clusterIP") or ""
    if svc is not None and ip and ip != "None":
        ns, name = wanted
        hop.lines.append(f"  {name}.{ns}.svc.{inputs.cluster_domain}: {ip} "
                         f"(Service {ns}/{name})")
        hop.path.append((source.element, service_id(ns, name)))
        return ip, hop
    if svc is not None and ip == "None":
        ns, name = wanted
        ips = _headless_addresses(inputs.store, svc)
        if ips:
            hop.lines.append(f"  {name}.{ns}.svc.{inputs.cluster_domain}: {', '.join(ips)} "
                             f"(headless Service {ns}/{name}: its endpoints' own addresses; "
                             "the source takes the first)")
            return ips[0], hop
        raise K8snetError(f"trace --simulate: the headless Service {ns}/{name} has no ready "
                          "endpoints, so its name does not resolve")
    found = ingress_address(inputs.store, host)
    if found is not None:
        hop.lines.append(f"  {host} is an Ingress host: the trace goes to the controller's "
                         f"address {found[0]} ({found[1]})")
        return found[0], hop
    raise K8snetError(f"trace --simulate: {host} is no Service, pod, node or Ingress host; "
                      "other names need the live trace (it asks the source's resolver)")


def sim_target_of(inputs: SimInputs, source: Endpoint, text: str,
                  protocol: str = "TCP") -> Target:
    """What ``text`` (``DST[:PORT]`` or ``http://HOST[:PORT]/PATH``) means from
    ``source``, without sending anything: an IP, a node, ``ext``, a pod, a
    Service name (as the cluster DNS would answer it) or an Ingress host."""
    path = "/hostname"
    if "://" in text:
        parts = urlsplit(text)
        host, port, path = parts.hostname or "", parts.port, parts.path or "/"
    else:
        host, _, port_text = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
        if port_text and not port_text.isdigit():
            raise K8snetError(f"trace: bad port in '{text}' (DST[:PORT])")
        port = int(port_text) if port_text else None
    if not host:
        raise K8snetError(f"trace: no destination in '{text}'")
    dns = None
    namespace = source.name.partition("/")[0] if source.kind == "pod" else "default"
    if is_ip(host):
        ip = host
    elif host in inputs.node_ips:
        ip = inputs.node_ips[host]
    elif host == EXT and inputs.host_ips.get(EXT):
        ip = inputs.host_ips[EXT]
    elif ("." not in host or "/" in host) and _pod_ip(inputs.store, host, namespace):
        ip = _pod_ip(inputs.store, host, namespace)
    else:
        ip, dns = _resolve(inputs, source, host)
    return Target(text, ip, port or default_port(inputs.store, ip, protocol), host, path, dns)
