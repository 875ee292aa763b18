"""Relay standard input and output to a TCP port on localhost.

    python -m k8snet.apiserver.portrelay PORT

The API server runs it in a pod's network namespace for ``kubectl
port-forward`` (the kubelet's part: connect to ``localhost:PORT`` in the
pod).  What comes in on stdin goes to the port; what the port answers goes
to stdout; the end of stdin half-closes the connection, and the relay ends
when the port closes its side.  When nothing listens it prints why to stderr
and exits 1.  Source: kubelet ``pkg/kubelet/cri/streaming/portforward``.
"""
from __future__ import annotations

import os
import socket
import sys
import threading

CHUNK = 64 * 1024
CONNECT_TIMEOUT = 5.0


def connect(port: int) -> socket.socket:
    """A connection to localhost:``port`` over IPv4, else IPv6; raises
    OSError naming both failures."""
    errors = []
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.settimeout(CONNECT_TIMEOUT)
            sock.connect((host, port))
            sock.settimeout(None)
            return sock
        except OSError as exc:
            sock.close()
            errors.append(f"{'IPv4' if family == socket.AF_INET else 'IPv6'}: dial "
                          f"{host}:{port}: {exc.strerror or exc}")
    raise OSError(f"failed to connect to localhost:{port} inside the pod's network "
                  f"namespace, {', '.join(errors)}")


def _upstream(sock: socket.socket) -> None:
    """stdin -> the port; its end half-closes the connection."""
    try:
        while chunk := os.read(0, CHUNK):
            sock.sendall(chunk)
        sock.shutdown(socket.SHUT_WR)
    except OSError:             # the port went away: main() sees it too
        pass


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m k8snet.apiserver.portrelay PORT", file=sys.stderr)
        return 2
    try:
        sock = connect(int(args[0]))
    except OSError as exc:
        print(exc, file=sys.stderr)
        return 1
    threading.Thread(target=_upstream, args=(sock,), daemon=True).start()
    try:
        while chunk := sock.recv(CHUNK):
            os.write(1, chunk)
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    os._exit(code)              # not waiting for the stdin thread
