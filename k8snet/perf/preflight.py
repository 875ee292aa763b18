"""Before a perf or bench run brings anything up: this machine can, and no
other cluster is running (one at a time: refuse up front rather than fail
every measurement)."""
from __future__ import annotations


def free_to_start() -> None:
    from k8snet.cluster import preflight
    from k8snet.cluster.network import API_PORT, OFP_PORT

    preflight.require_root()
    preflight.require_tools()
    preflight.require_ovs()
    preflight.require_port_free(OFP_PORT, "OpenFlow")
    preflight.require_port_free(API_PORT, "controller API")
