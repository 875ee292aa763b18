"""Apply a rendered ruleset inside a node's namespace, atomically.

nftables: one ``nft -f -`` transaction.  iptables: one
``iptables-restore --noflush``.  ipvs: virtual servers through netlink
(kproxy.ipvs_netlink), refused with a clear error when the kernel has no
IP_VS.  Also flushes stale UDP conntrack entries, the
best-known kube-proxy bug when an endpoint goes away.
"""
from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass

from k8snet.errors import K8snetError
from k8snet.node.netns import exec_argv as netns_exec_argv
from k8snet.node.nftables import NftSession
from kproxy import iptables, iptables_sync, ipvs_netlink, nft, nft_sync
from kproxy.state import NodeProxyState

MODES = ("nftables", "iptables", "ipvs")


def _require_netns(netns: str, what: str) -> None:
    """kproxy works in a node's namespace, never in the machine's own."""
    if not netns:
        raise K8snetError(f"kproxy: no node namespace for {what}: refusing to touch "
                          "the machine's own rules")


def _ns(netns: str, argv: list[str]) -> list[str]:
    """``argv`` inside the node's namespace."""
    _require_netns(netns, argv[0])
    return netns_exec_argv(netns, argv)


def require_mode(mode: str) -> None:
    if mode not in MODES:
        raise K8snetError(f"unknown proxy mode '{mode}' (nftables, iptables, ipvs)")
    if mode == "ipvs":
        ipvs_netlink.require_ip_vs()


@dataclass
class SyncResult:
    """One sync: its mode, seconds in all and rendering alone, the text
    applied ("" when nothing changed), how many Service ports it rendered,
    and whether it rebuilt everything."""

    mode: str
    seconds: float
    text: str
    render_seconds: float = 0.0
    changed: int = 0
    fresh: bool = False


class Proxier:
    """One node's proxy: remembers what it applied, so that the next sync
    renders and applies only what changed, and stale chains go away.

    ``previous`` is the applied ``Ruleset`` (``kproxy.nft_sync`` or
    ``kproxy.iptables_sync``); None makes the next sync a fresh, full one.
    A sync the kernel refuses leaves it None, so the retry starts over.
    """

    def __init__(self, netns: str, mode: str = "nftables") -> None:
        require_mode(mode)
        self.netns, self.mode = netns, mode
        self.previous = None
        self.last_text = ""      # the last non-empty transaction applied
        self.jumps_done = False
        # libnftables inside the node's namespace for the canary: no process a look
        self._session: NftSession | None = None
        # IPVS: virtual servers through netlink (raises without IP_VS or dummy links).
        self.ipvs = ipvs_netlink.IpvsProxier(netns) if mode == "ipvs" else None

    def intact(self) -> bool:
        """kproxy's rules are still in the kernel as applied: kube-proxy's
        canary.  Someone flushing the table (``nft flush ruleset``,
        ``iptables -t nat -F``) makes this False; the agent then resyncs
        everything.  Cheap: one small listing, through libnftables in the
        node's namespace (no process) in nftables mode."""
        if self.previous is None or self.ipvs is not None:
            return True
        if self.mode == "nftables":
            try:
                listing = self._nft().run(f"list chain {nft.FAMILY} {nft.TABLE} services")
            except K8snetError:
                return False
            return "@service-ips" in listing
        table, builtin, *rest = iptables.jump_rules()[0][1:]
        jump = subprocess.run(_ns(self.netns, ["iptables", "-w", "-t", table, "-C", builtin,
                                               *rest]), capture_output=True)
        chain = subprocess.run(_ns(self.netns, ["iptables", "-w", "-t", "nat", "-S",
                                                iptables.JUMPS[0][2]]),
                               capture_output=True, text=True)
        return jump.returncode == 0 and len(chain.stdout.splitlines()) > 1

    def _nft(self) -> NftSession:
        if self._session is None:
            _require_netns(self.netns, "nft")
            self._session = NftSession(self.netns)
        return self._session

    def reset(self) -> None:
        """Forget what was applied: the next sync writes everything again."""
        self.previous = None
        self.jumps_done = False

    def sync(self, state: NodeProxyState) -> SyncResult:
        t0 = time.perf_counter()
        if self.ipvs is not None:
            self.last_text = text = self.ipvs.sync(state)
            return SyncResult(self.mode, time.perf_counter() - t0, text, fresh=True)
        fresh = self.previous is None
        if self.mode == "nftables":
            delta = nft_sync.plan(self.previous, state, fresh=fresh)
            argv = ["nft", "-f", "-"]
        else:
            existing: set[str] = set()
            if not self.jumps_done:
                self._ensure_jumps()
            if fresh:
                existing = self._existing_nat_chains()
            delta = iptables_sync.plan(self.previous, state, existing)
            argv = ["iptables-restore", "--noflush", "-w"]
        rendered = time.perf_counter()
        if delta.text:
            try:
                self._run(argv, delta.text)
            except K8snetError:
                self.previous = None
                raise
            self.last_text = delta.text
        # ``previous`` only advances once the kernel took the transaction.
        self.previous = delta.commit()
        return SyncResult(self.mode, time.perf_counter() - t0, delta.text, rendered - t0,
                          delta.changed, delta.fresh)

    def _run(self, argv: list[str], text: str) -> None:
        res = subprocess.run(_ns(self.netns, argv), input=text, capture_output=True,
                             text=True)
        if res.returncode != 0:
            first = (res.stderr.strip().splitlines() or ["failed"])[0]
            raise K8snetError(f"kproxy ({self.mode}) in {self.netns}: {argv[0]}: {first}")

    def _existing_nat_chains(self) -> set[str]:
        """KPROXY chains an earlier kproxy left, so a restart deletes stale ones."""
        out = subprocess.run(_ns(self.netns, ["iptables-save", "-t", "nat"]),
                             capture_output=True, text=True).stdout
        return {line[1:].split()[0] for line in out.splitlines()
                if line.startswith(":KPROXY-")}

    def _ensure_jumps(self) -> None:
        # The KPROXY chains must exist before a jump to them can be added.
        self._run(["iptables-restore", "--noflush", "-w"],
                  "*nat\n" + "".join(f":{c} - [0:0]\n" for c in iptables.NAT_STATIC)
                  + "COMMIT\n*filter\n"
                  + "".join(f":{c} - [0:0]\n" for c in iptables.FILTER_STATIC) + "COMMIT\n")
        for rule in iptables.jump_rules():
            table, builtin, rest = rule[:2], rule[2], rule[3:]
            check = subprocess.run(_ns(self.netns, ["iptables", "-w", *table, "-C", builtin,
                                                    *rest]), capture_output=True)
            if check.returncode != 0:
                subprocess.run(_ns(self.netns, ["iptables", "-w", *table, "-I", builtin, "1",
                                                *rest]), check=True, capture_output=True)
        self.jumps_done = True

    def cleanup(self) -> None:
        """Remove only what kproxy owns."""
        if self.ipvs is not None:
            self.ipvs.cleanup()
            return
        if self._session is not None:
            self._session.close()
            self._session = None
        if self.mode == "nftables":
            subprocess.run(_ns(self.netns, ["nft", "-f", "-"]), input=nft.cleanup(),
                           capture_output=True, text=True)
            return
        for rule in iptables.jump_rules():
            table, builtin, rest = rule[:2], rule[2], rule[3:]
            subprocess.run(_ns(self.netns, ["iptables", "-w", *table, "-D", builtin, *rest]),
                           capture_output=True)
        present = []
        for table in ("nat", "filter"):
            out = subprocess.run(_ns(self.netns, ["iptables-save", "-t", table]),
                                 capture_output=True, text=True).stdout
            present += [f"{table}:{line[1:].split()[0]}" for line in out.splitlines()
                        if line.startswith(":KPROXY-")]
        if present:
            subprocess.run(_ns(self.netns, ["iptables-restore", "--noflush", "-w"]),
                           input=iptables.cleanup_script(present), capture_output=True,
                           text=True)


def flush_udp_conntrack(netns: str, endpoint_ip: str, port: int) -> None:
    """Forget UDP flows whose replies came from a gone endpoint.

    Without this, a client that keeps sending keeps its conntrack entry, and
    its packets stay DNATed to the dead endpoint forever.
    """
    subprocess.run(_ns(netns, ["conntrack", "-D", "-p", "udp", "--reply-src", endpoint_ip,
                               "--reply-port-src", str(port)]), capture_output=True)
