"""nftables transactions in a network namespace through libnftables, in process.

``nft -f -`` costs a process, ``ip netns exec`` and a fresh context per
transaction (about 20 ms here before the kernel sees anything).  An
``NftSession`` keeps one libnftables context open inside the namespace: a
worker thread enters the namespace (``setns`` moves only the calling thread)
and runs every transaction handed to it.  When libnftables cannot be loaded
the session falls back to ``nft -f -`` and says so in ``backend``.

libnftables API: nft_ctx_new(3), nft_run_cmd_from_buffer(3) (libnftables(3)).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import queue
import subprocess
import threading
from concurrent.futures import Future

from k8snet.errors import K8snetError
from k8snet.node.netns import exec_argv as netns_exec_argv

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/var/run/netns"


def _libnftables():
    """The loaded library with its prototypes, or None."""
    name = ctypes.util.find_library("nftables") or "libnftables.so.1"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None
    lib.nft_ctx_new.restype = ctypes.c_void_p
    lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
    lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
    lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
    lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
    lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    return lib


_LIB = _libnftables()
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _enter(netns: str) -> None:
    fd = os.open(os.path.join(NETNS_DIR, netns), os.O_RDONLY)
    try:
        if _LIBC.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise K8snetError(f"setns into {netns}: {os.strerror(err)}")
    finally:
        os.close(fd)


class NftSession:
    """Transactions in ``netns`` ("" for this process's namespace), one at a time."""

    def __init__(self, netns: str) -> None:
        self.netns = netns
        self.backend = "libnftables" if _LIB is not None else "nft"
        self._jobs: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        if _LIB is not None:
            ready: Future = Future()
            self._thread = threading.Thread(target=self._work, args=(ready,), daemon=True,
                                            name=f"nft-{netns}")
            self._thread.start()
            ready.result(timeout=10)

    def _work(self, ready: Future) -> None:
        try:
            if self.netns:
                _enter(self.netns)
            ctx = _LIB.nft_ctx_new(0)
            _LIB.nft_ctx_buffer_error(ctx)
            _LIB.nft_ctx_buffer_output(ctx)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            ready.set_exception(exc)
            return
        ready.set_result(None)
        while True:
            job = self._jobs.get()
            if job is None:
                break
            text, done = job
            rc = _LIB.nft_run_cmd_from_buffer(ctx, text.encode())
            err = (_LIB.nft_ctx_get_error_buffer(ctx) or b"").decode(errors="replace")
            out = (_LIB.nft_ctx_get_output_buffer(ctx) or b"").decode(errors="replace")
            done.set_result((rc, err, out))
        _LIB.nft_ctx_free(ctx)

    def run(self, text: str) -> str:
        """Run ``text`` (one transaction, or a listing such as ``list chain
        ip kproxy services``); returns nft's output.  K8snetError with nft's
        first error line."""
        if self._thread is None:
            argv = ["nft", "-f", "-"]
            if self.netns:
                argv = netns_exec_argv(self.netns, argv)
            res = subprocess.run(argv, input=text, capture_output=True, text=True)
            rc, err, out = res.returncode, res.stderr, res.stdout
        else:
            done: Future = Future()
            self._jobs.put((text, done))
            rc, err, out = done.result()
        if rc != 0:
            first = (err.strip().splitlines() or ["failed"])[0]
            raise K8snetError(f"nft in {self.netns or 'the root namespace'}: {first}")
        return out

    def close(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout=5)
            self._thread = None
