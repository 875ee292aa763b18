"""The ingress-nginx pod's process: runs nginx in the foreground and has it
reload (SIGHUP, a graceful reload) whenever its configuration file changes.

    python -m k8snet.addons.ingress_runner --conf /run/k8snet/CLUSTER/ingress/nginx.conf
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

POLL = 0.2   # seconds between looks at the file


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ingress_runner")
    parser.add_argument("--conf", required=True, help="nginx.conf to run and watch")
    parser.add_argument("--nginx", default="nginx")
    args = parser.parse_args(argv)
    while not os.path.exists(args.conf):
        time.sleep(POLL)
    proc = subprocess.Popen([args.nginx, "-c", args.conf, "-g", "daemon off;"])

    def stop(signum, frame):
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    seen = _mtime(args.conf)
    while proc.poll() is None:
        time.sleep(POLL)
        now = _mtime(args.conf)
        if now != seen:
            seen = now
            proc.send_signal(signal.SIGHUP)
    return proc.returncode or 0


if __name__ == "__main__":
    sys.exit(main())
