"""The names and declarations of kproxy's nftables table, as commented constants.

After kube-proxy's nftables proxier (pkg/proxy/nftables/proxier.go, whose
constants open the file the same way).  Where kproxy differs it is for scale
(kubernetes#139513): no chain, rule, set or map belongs to one plain
Service.  Each Service port is a handful of *elements* in a few named maps,
and the chains that pick an endpoint are shared by every Service with the
same number of endpoints.  A sync that adds one Service among thousands adds
a few elements, which the kernel and ``nft`` do in time independent of the
table's size; a rule or set per Service would make ``nft`` list every chain
on each sync and the kernel walk every binding of a shared map per element.
"""
from __future__ import annotations

TABLE = "kproxy"
FAMILY = "ip"
MASQ_MARK = "0x4000"          # packets to masquerade in postrouting (kube-proxy's mark)

# Base chains: the netfilter hooks, kube-proxy's priorities.
BASE_CHAINS = {
    "nat-prerouting": "type nat hook prerouting priority dstnat; policy accept;",
    "nat-output": "type nat hook output priority -100; policy accept;",
    "nat-postrouting": "type nat hook postrouting priority srcnat; policy accept;",
    "filter-input": "type filter hook input priority -110; policy accept;",
    "filter-forward": "type filter hook forward priority -110; policy accept;",
    "filter-output": "type filter hook output priority -110; policy accept;",
    # After nat-output's DNAT (kube-proxy: dstnat + 10): sees where the node's
    # own packets really go, as filter-forward does for routed ones.
    "filter-output-post-dnat": "type filter hook output priority -90; policy accept;",
}

# Service dispatch: one lookup on the destination sends a packet on its way.
SERVICES = "services"
SERVICE_IPS = "service-ips"                  # ClusterIP, LB or external IP . proto . port : verdict
SERVICE_NODEPORTS = "service-nodeports"      # proto . nodePort : verdict (local addresses)

# Services with no ready endpoint: ICMP port unreachable from the filter hooks.
ENDPOINTS_CHECK = "service-endpoints-check"
NODEPORT_ENDPOINTS_CHECK = "nodeport-endpoints-check"
NO_ENDPOINT_SERVICES = "no-endpoint-services"
NO_ENDPOINT_NODEPORTS = "no-endpoint-nodeports"
REJECT_CHAIN = "reject-chain"

# Traffic to the service CIDR that no Service port took (kube-proxy's
# clusterIPsSet and clusterIPsCheckChain).  Seen after DNAT, from
# filter-forward and filter-output-post-dnat: a new connection still addressed
# to a ClusterIP is to a port that Service does not have (rejected: ICMP port
# unreachable, so the client fails at once), one addressed elsewhere in the
# service CIDR is to an address no Service holds (dropped).  Without them the
# packet would leave by the default route and time out.
CLUSTER_IPS = "cluster-ips"                  # set of every proxied ClusterIP
CLUSTER_IPS_CHECK = "cluster-ips-check"

# Masquerading: marked packets, hairpin and egress SNAT in postrouting.
MARK_MASQ = "mark-for-masquerade"
MASQUERADING = "masquerading"
EGRESS = "egress"
HAIRPIN = "hairpin"    # set of "endpoint . endpoint": a pod that reached itself through a Service

# Endpoint selection.  The packet's own destination names its Service port:
# ``ip daddr . meta l4proto . th dport`` for a ClusterIP, LB or external IP,
# ``meta l4proto . th dport`` for a node port.  The pick chain draws the
# index of the endpoint with ``ct mark set numgen random mod N`` and one
# lookup of that key ``. ct mark`` in a data map gives the DNAT target.
# "cluster" maps hold every ready endpoint (Cluster traffic policy),
# "local" maps those on this node (Local policy).
#
# The index travels in the conntrack mark, and the maps are declared with
# ``type``, not ``typeof``, because nft 1.0.6 cannot parse its own
# ``typeof ... th dport . numgen ...`` back from the kernel: any later
# transaction adding a rule that uses such a map fails with "conflicting
# protocols specified: tcp vs. th".  ``numgen`` is a plain integer that a
# ``type ... . mark`` key refuses ("datatype mismatch"); ``ct mark set``
# converts it.  The nat hooks see only a connection's first packet, so the
# mark is written once per connection; nothing else in k8snet uses the
# conntrack mark (the masquerade bit is in the packet mark, ``meta mark``).
IP_KEY = "ip daddr . meta l4proto . th dport"
NODEPORT_KEY = "meta l4proto . th dport"
KEYS = {"ip": IP_KEY, "nodeport": NODEPORT_KEY}
KEY_TYPES = {"ip": "ipv4_addr . inet_proto . inet_service", "nodeport": "inet_proto . inet_service"}
ENDPOINT_INDEX = "ct mark"      # where ``numgen random mod N`` leaves the endpoint index
ENDPOINT_MAPS = {
    ("cluster", "ip"): "cluster-ip-endpoints",
    ("local", "ip"): "local-ip-endpoints",
    ("cluster", "nodeport"): "cluster-nodeport-endpoints",
    ("local", "nodeport"): "local-nodeport-endpoints",
}
L4PROTOS = "{ tcp, udp, sctp }"    # "dnat to a port" needs a transport protocol match

MAPS = {
    SERVICE_IPS: "type ipv4_addr . inet_proto . inet_service : verdict;",
    SERVICE_NODEPORTS: "type inet_proto . inet_service : verdict;",
    NO_ENDPOINT_SERVICES: "type ipv4_addr . inet_proto . inet_service : verdict;",
    NO_ENDPOINT_NODEPORTS: "type inet_proto . inet_service : verdict;",
    **{name: (f"type {KEY_TYPES[key]} . mark : ipv4_addr . inet_service; "
              f'comment "{policy} policy: Service {key} key . endpoint index : endpoint";')
       for (policy, key), name in ENDPOINT_MAPS.items()},
}
SETS = {HAIRPIN: 'type ipv4_addr . ipv4_addr; comment "endpoint . endpoint: hairpin";',
        CLUSTER_IPS: 'type ipv4_addr; comment "Active ClusterIPs";'}


def pick_chain(policy: str, key: str, count: int) -> str:
    """The shared chain that DNATs to one of ``count`` endpoints:
    ``cluster-ip-3``, ``local-nodeport-1``..."""
    return f"{policy}-{key}-{count}"


def external_chain(key: str, ready: int, local: int | None) -> str:
    """The shared chain for traffic from outside (LB IP, external IP, node port):
    ``external-ip-3`` under Cluster policy, ``external-local-ip-3-1`` under
    Local policy with 1 of the 3 ready endpoints on this node."""
    if local is None:
        return f"external-{key}-{ready}"
    return f"external-local-{key}-{ready}-{local}"
