"""Apply a rendered ruleset inside a node's namespace, atomically.

nftables: one ``nft -f -`` transaction.  iptables: one
``iptables-restore --noflush``.  ipvs: refused with a clear error when the
kernel has no IP_VS.  Also flushes stale UDP conntrack entries, the
best-known kube-proxy bug when an endpoint goes away.
"""
from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass

from k8snet.errors import K8snetError, MissingKernelFeature
from kproxy import iptables, nft
from kproxy.state import NodeProxyState

MODES = ("nftables", "iptables", "ipvs")


def _ns(netns: str, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", netns, *argv] if netns else argv


def require_mode(mode: str) -> None:
    if mode not in MODES:
        raise K8snetError(f"unknown proxy mode '{mode}' (nftables, iptables, ipvs)")
    if mode == "ipvs" and not os.path.exists("/proc/net/ip_vs"):
        raise MissingKernelFeature(
            "proxy mode ipvs needs IPVS (CONFIG_IP_VS), which this kernel lacks "
            "(/proc/net/ip_vs is missing); use --proxy-mode nftables or iptables")


@dataclass
class SyncResult:
    mode: str
    seconds: float
    text: str


class Proxier:
    """One node's proxy: remembers what it applied, so stale chains go away."""

    def __init__(self, netns: str, mode: str = "nftables") -> None:
        require_mode(mode)
        if mode == "ipvs":
            raise MissingKernelFeature("proxy mode ipvs is rendered but not applied here")
        self.netns, self.mode = netns, mode
        self.previous = None
        self.last_text = ""
        self.jumps_done = False

    def sync(self, state: NodeProxyState) -> SyncResult:
        t0 = time.perf_counter()
        # ``previous`` only advances once the kernel took the transaction.
        if self.mode == "nftables":
            text, applied = nft.render(state, self.previous, fresh=self.previous is None)
            self._run(["nft", "-f", "-"], text)
        else:
            if not self.jumps_done:
                self._ensure_jumps()
                self.previous = self._existing_nat_chains()
            text, applied = iptables.render(state, self.previous)
            self._run(["iptables-restore", "--noflush", "-w"], text)
        self.previous = applied
        self.last_text = text
        return SyncResult(self.mode, time.perf_counter() - t0, text)

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
