"""``kproxy show --node N``: print the rules kproxy applied in a node, with comments.

It reads what is really in the node's namespace (``nft list table``,
``iptables-save``, or IPVS through netlink), not what kproxy thinks it wrote.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

from k8snet.naming import PREFIX
from k8snet.node.netns import exec_argv as netns_exec_argv
from kproxy import ipvs, ipvs_netlink

NETNS_DIR = "/var/run/netns"


def find_node_netns(node: str, cluster: str | None) -> str:
    names = sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(PREFIX)) \
        if os.path.isdir(NETNS_DIR) else []
    matches = [n for n in names if n.endswith(f"-{node}")
               and (cluster is None or n == f"{PREFIX}{cluster}-{node}")]
    if not matches:
        raise SystemExit(f"error: node {node} not found in any running k8snet cluster")
    if len(matches) > 1:
        raise SystemExit(f"error: node {node} is in several clusters; give --cluster")
    return matches[0]


def show(netns: str) -> str:
    nft = subprocess.run(netns_exec_argv(netns, ["nft", "list", "table", "ip", "kproxy"]),
                         capture_output=True, text=True)
    if nft.returncode == 0:
        return "# mode: nftables\n" + nft.stdout
    if subprocess.run(netns_exec_argv(netns, ["nft", "list", "table", "ip", ipvs.TABLE]),
                      capture_output=True).returncode == 0:
        return ipvs_netlink.show(netns)
    out = ["# mode: iptables"]
    for table in ("nat", "filter"):
        saved = subprocess.run(netns_exec_argv(netns, ["iptables-save", "-t", table]),
                               capture_output=True, text=True).stdout
        lines = [line for line in saved.splitlines()
                 if "KPROXY" in line or line.startswith("*")]
        out += lines + ["COMMIT"]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kproxy", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("show", help="print a node's service rules")
    cmd.add_argument("--node", required=True)
    cmd.add_argument("--cluster")
    args = parser.parse_args(argv)
    sys.stdout.write(show(find_node_netns(args.node, args.cluster)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
