"""What a kubelet is given: the cluster's settings (``KubeletConfig``) and
its node's facts (``NodeFacts``), and nothing else, as kindnetd's agents are."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass(frozen=True)
class KubeletConfig:
    """What the kubelet needs of the cluster: ``clusterDNS``, ``clusterDomain``,
    the DNS of ``dnsPolicy: Default``, where logs and resolver files go
    (``pod_files``: discovery.write_pod_files; "" = /etc/netns itself)."""

    cluster: str
    cluster_dns: str
    cluster_domain: str
    upstream_dns: str
    log_dir: str
    # uids of the lab's own Deployments (cluster DNS, ingress-nginx), whose pods run
    # unsandboxed; then the mount namespace sandboxes start from (node.mountns)
    trusted_owners: set = field(default_factory=set)
    sandbox_mounts: str = ""
    pod_files: str = ""


@dataclass(frozen=True)
class NodeFacts:
    """The node this kubelet runs: name, IP, pod CIDR, its network namespace."""

    name: str
    ip: str
    pod_cidr: str
    netns: str

    @property
    def gateway(self) -> str:
        return str(ipaddress.ip_network(self.pod_cidr).network_address + 1)
