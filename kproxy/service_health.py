"""kube-proxy's service health check server for one node: an HTTP listener on
``0.0.0.0:<healthCheckNodePort>`` in the node's network namespace for each
Service that has one, answering with the node's local endpoint count.

Upstream: ``pkg/proxy/healthcheck/service_health.go``.  ``sync_services``
(``SyncServices``) closes the listeners of Services that went away or
changed port, then opens the new ones; a port that cannot be opened is
reported (upstream: an Event ``FailedToStartServiceHealthcheck``) and tried
again at the next sync.  ``sync_endpoints`` (``SyncEndpoints``) sets the
counts the handlers answer with; a Service left out has none.  What each
answer holds is ``kproxy.healthcheck.response``.

The k8snet process lives in the root namespace: each listening socket is
made by a short-lived thread that has entered the node's namespace
(``k8snet.node.netns.in_namespace``; a socket keeps the namespace it was
made in), and the server refuses to listen anywhere else.  All listeners
are served by one asyncio loop (aiohttp's low-level ``web.Server``) in a
daemon thread, started with the first listener: a node without such
Services has neither thread nor socket.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from k8snet.errors import K8snetError
from k8snet.node import netns
from kproxy.healthcheck import ServiceKey, response

ANY = "0.0.0.0"          # upstream listens on all node addresses (nodePortAddresses unset)
BACKLOG = 128
TIMEOUT = 10.0           # seconds to open or close listeners
SHUTDOWN_SECONDS = 1.0   # a closed listener's open requests get this long to finish
PROCESS_NETNS = "/proc/self/ns/net"        # the main thread's: the namespace k8snet runs in
THREAD_NETNS = "/proc/thread-self/ns/net"

log = logging.getLogger("k8snet.kproxy.health")


@dataclass(frozen=True)
class ListenFailure:
    """A health check port that could not be opened this sync."""

    service: ServiceKey
    port: int
    error: str


def listen_in(node_ns: str, port: int) -> socket.socket:
    """A TCP socket listening on ``0.0.0.0:port`` inside namespace ``node_ns``,
    never in the namespace the k8snet process runs in.  Raises OSError or
    K8snetError."""
    if not node_ns:
        raise K8snetError("a health check port listens only in a node's network "
                          "namespace, not in the root namespace")

    def make() -> socket.socket:
        if os.stat(THREAD_NETNS).st_ino == os.stat(PROCESS_NETNS).st_ino:
            raise K8snetError(f"namespace {node_ns} is the root namespace: not listening")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as Go's net.Listen
            sock.bind((ANY, port))
            sock.listen(BACKLOG)
        except OSError:
            sock.close()
            raise
        return sock

    return netns.in_namespace(node_ns, make)


class ServiceHealthServer:
    """The health check listeners of one node (``node_ns``); ``healthy`` tells
    whether the node's proxy is healthy (``serviceProxyHealthy``)."""

    def __init__(self, node_ns: str, healthy: Callable[[], bool] = lambda: True) -> None:
        self.node_ns = node_ns
        self.healthy = healthy
        self._lock = threading.Lock()
        self._ports: dict[ServiceKey, int] = {}
        self._runners: dict[ServiceKey, web.ServerRunner] = {}
        self._counts: dict[ServiceKey, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # --- what the proxy calls ----------------------------------------------------

    def ports(self) -> dict[ServiceKey, int]:
        """Service -> the port it listens on now."""
        with self._lock:
            return dict(self._ports)

    def sync_services(self, wanted: Mapping[ServiceKey, int]) -> list[ListenFailure]:
        """Listen for exactly ``wanted`` (Service -> health check node port):
        close what is no longer wanted or moved, then open what is new.
        Returns the ports that could not be opened."""
        with self._lock:
            gone = [k for k, port in self._ports.items() if wanted.get(k) != port]
            for key in gone:
                log.info("closing health check %s/%s on port %d in %s", *key,
                         self._ports[key], self.node_ns)
                self._close(key)
            failures = []
            for key, port in sorted(wanted.items()):
                if key in self._ports:
                    continue
                try:
                    self._open(key, port)
                except (OSError, K8snetError, TimeoutError) as exc:
                    log.warning("health check %s/%s on port %d in %s: %s", *key, port,
                                self.node_ns, exc)
                    failures.append(ListenFailure(key, port, str(exc)))
                    continue
                log.info("opened health check %s/%s on port %d in %s", *key, port,
                         self.node_ns)
            self._counts = {k: n for k, n in self._counts.items() if k in self._ports}
        return failures

    def sync_endpoints(self, counts: Mapping[ServiceKey, int]) -> None:
        """Set each listened-for Service's local endpoint count (0 when absent)."""
        with self._lock:
            self._counts = {k: counts.get(k, 0) for k in self._ports}

    def close(self) -> None:
        """Close every listener and stop the loop; safe twice."""
        with self._lock:
            for key in list(self._ports):
                self._close(key)
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(TIMEOUT)

    # --- listeners -------------------------------------------------------------------

    def _answer(self, key: ServiceKey) -> web.Response:
        resp = response(key[0], key[1], self._counts.get(key, 0), self.healthy())
        return web.Response(status=resp.status, headers=dict(resp.headers), body=resp.body)

    def _open(self, key: ServiceKey, port: int) -> None:
        sock = listen_in(self.node_ns, port)
        try:
            loop = self._ensure_loop()

            async def handler(request: web.BaseRequest) -> web.Response:
                return self._answer(key)

            async def start() -> web.ServerRunner:
                runner = web.ServerRunner(web.Server(handler, access_log=None),
                                          handle_signals=False,
                                          shutdown_timeout=SHUTDOWN_SECONDS)
                await runner.setup()
                await web.SockSite(runner, sock).start()
                return runner

            runner = asyncio.run_coroutine_threadsafe(start(), loop).result(TIMEOUT)
        except BaseException:
            sock.close()
            raise
        self._runners[key] = runner
        self._ports[key] = port

    def _close(self, key: ServiceKey) -> None:
        runner = self._runners.pop(key, None)
        self._ports.pop(key, None)
        self._counts.pop(key, None)
        if runner is None or self._loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), self._loop).result(TIMEOUT)
        except Exception:   # noqa: BLE001 - the listener is dropped all the same
            log.exception("closing health check %s/%s in %s", *key, self.node_ns)

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=self._run, args=(loop,), daemon=True,
                                      name=f"kproxy-health-{self.node_ns}")
            thread.start()
            self._loop, self._thread = loop, thread
        return self._loop

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
