"""What a kubelet is given: the cluster's settings (``KubeletConfig``) and
its node's facts (``NodeFacts``), and nothing else, as kindnetd's agents are."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from k8snet.api.model import pod_gateway_of


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

    def pod_tmp(self, pod_log_dir: str) -> str:
        """Where a pod's containers keep /tmp (beside the logs, in memory),
        one directory per container run: a restarted container starts with
        an empty /tmp, as a new container does."""
        return os.path.join(os.path.dirname(self.log_dir), "tmp",
                            os.path.basename(pod_log_dir))


@dataclass(frozen=True)
class NodeFacts:
    """The node this kubelet runs: name, IP, pod CIDR, its network namespace."""

    name: str
    ip: str
    pod_cidr: str
    netns: str

    @property
    def gateway(self) -> str:
        return pod_gateway_of(self.pod_cidr)
