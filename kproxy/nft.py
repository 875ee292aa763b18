"""Render a node's proxy state as ``nft -f`` transactions: kproxy's nftables mode.

Modelled on kube-proxy's nftables mode (pkg/proxy/nftables/proxier.go):
verdict maps keyed by ``daddr . proto . dport`` send a packet on its way in
one lookup, whatever the number of Services; ``numgen random`` picks an
endpoint.  For scale the per-Service part is only map elements
(``kproxy.nft_names`` says why): a packet to a ClusterIP goes

    services -> vmap @service-ips -> cluster-ip-2 (shared by every Service
    with 2 ready endpoints: ct mark set numgen random mod 2) -> dnat through
    @cluster-ip-endpoints, keyed by the packet's daddr . proto . dport . ct mark

A new connection that no Service port took meets kube-proxy's
``cluster-ips-check`` after DNAT (filter-forward, filter-output-post-dnat):
still addressed to a ClusterIP (the ``cluster-ips`` set), it is to a port
that Service does not have and is rejected; elsewhere in the service CIDR,
to an address no Service holds, it is dropped.

Session affinity keeps kube-proxy's layout (a chain and a timed set per
endpoint).  Every rule carries a comment.  ``kproxy.apply`` feeds the text
to ``nft -f -`` inside the node's namespace; ``kproxy.nft_sync`` keeps what
was applied so that the next sync renders and applies only what changed.

The table is deleted only on the first (fresh) sync; afterwards chains,
map elements and sets are added and deleted one by one, and the dynamic
session-affinity sets are left alone so sessions survive a sync.
"""
from __future__ import annotations

from kproxy.nft_names import FAMILY, MASQ_MARK, TABLE
from kproxy.nft_sync import Ruleset, plan
from kproxy.state import NodeProxyState

__all__ = ["FAMILY", "MASQ_MARK", "TABLE", "Ruleset", "build", "cleanup", "render"]


def build(state: NodeProxyState) -> Ruleset:
    """The table ``state`` needs, as the ``Ruleset`` a sync of it leaves."""
    return plan(None, state).commit()


def render(state: NodeProxyState, previous: Ruleset | None = None,
           fresh: bool = False) -> tuple[str, Ruleset]:
    """The ``nft -f`` text for ``state``, and the ruleset to pass next time.

    ``fresh`` (or no ``previous``) starts from scratch: delete whatever an
    earlier run left, then build the whole table.  Otherwise ``previous``,
    what the last transaction applied, makes the sync partial: only the
    Service ports that changed are rendered, and only their elements and
    chains are touched.  ``previous`` itself is not changed.
    """
    delta = plan(previous.copy() if previous is not None and not fresh else None, state,
                 fresh=fresh)
    return delta.text, delta.commit()


def cleanup() -> str:
    """Remove everything kproxy owns in nftables, and nothing else."""
    return (f"add table {FAMILY} {TABLE}\n"
            f"delete table {FAMILY} {TABLE}\n")
