"""``serve(store)``: the REST API on 127.0.0.1, in a thread of its own.

    server = serve(store)                   # a free port
    server.url                              # "http://127.0.0.1:41234"
    server.write_kubeconfig(path)           # for kubectl and Python clients
    server.stop()

The server runs its own asyncio loop (aiohttp) in a daemon thread; handlers
call the store directly (its lock is short-held) and watches wait for store
events in a thread pool.  ``stop()`` ends open watches, closes the listener
and joins the thread.  Listens on loopback only, as the lab's other
listeners outside the emulated namespaces do.  Source: DESIGN.md ("Kubernetes
API: 127.0.0.1, a free port; kubeconfig"), api-concepts.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import yaml
from aiohttp import web

from k8snet.apiserver.http.app import make_app
from k8snet.apiserver.http.common import Api, ExecSource, LogSource
from k8snet.apiserver.store import Store

LOOPBACK = ("127.0.0.1", "::1", "localhost")
# One line per request, as kube-apiserver's httplog: verb and URI, status,
# bytes, latency (ms), the client's User-Agent (kubectl/v1.36.4 ...).
ACCESS_FORMAT = '"%r" %s %b %Dus "%{User-Agent}i"'


class Server:
    """A running API server: ``.host``, ``.port``, ``.url``, ``.stop()``."""

    def __init__(self, api: Api, host: str, port: int, log_path: Path | None = None) -> None:
        if host not in LOOPBACK:
            raise ValueError(f"the API server listens on loopback only, not {host}")
        self.api = api
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="k8snet-apiserver", daemon=True)
        self._log_handler: logging.Handler | None = None
        self.access_log: logging.Logger | None = None
        if log_path is not None:
            self._log_handler = logging.FileHandler(log_path)
            self._log_handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
            self.access_log = logging.getLogger(f"k8snet-apiserver.{id(self)}")
            self.access_log.propagate = False
            self.access_log.setLevel(logging.INFO)
            self.access_log.addHandler(self._log_handler)
            # aiohttp's own errors (a handler that raised) go to the same file.
            logging.getLogger("aiohttp.server").addHandler(self._log_handler)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Server:
        """Start and wait until the port listens (raises what stopped it)."""
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except BaseException as exc:     # handed to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    async def _start(self) -> None:
        self._runner = web.AppRunner(make_app(self.api), access_log=self.access_log,
                                     access_log_format=ACCESS_FORMAT, shutdown_timeout=2.0,
                                     handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        sock = site._server.sockets[0] if site._server else None   # the bound port
        if sock is not None:
            self.port = sock.getsockname()[1]

    def stop(self) -> None:
        """End the watches, close the listener, join the thread; safe twice."""
        self.api.stopping.set()
        if not self._thread.is_alive():
            return
        if self._runner is not None:
            done = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            try:
                done.result(15)
            except Exception:           # noqa: BLE001 - stopping anyway
                pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(15)
        if self._log_handler is not None:
            logging.getLogger("aiohttp.server").removeHandler(self._log_handler)
            self._log_handler.close()

    def kubeconfig(self, cluster: str = "k8snet", namespace: str = "default") -> dict:
        """A kubeconfig for this server (no credentials: plain HTTP on loopback)."""
        return {"apiVersion": "v1", "kind": "Config", "current-context": cluster,
                "clusters": [{"name": cluster, "cluster": {"server": self.url}}],
                "users": [{"name": cluster, "user": {}}],
                "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster,
                                                           "namespace": namespace}}],
                "preferences": {}}

    def write_kubeconfig(self, path: str | Path, cluster: str = "k8snet") -> Path:
        """Write ``kubeconfig()`` to ``path`` (mode 0600); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.kubeconfig(cluster), sort_keys=False))
        path.chmod(0o600)
        return path

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(store: Store, host: str = "127.0.0.1", port: int = 0,
          logs: LogSource | None = None, execs: ExecSource | None = None,
          log_path: Path | None = None) -> Server:
    """Serve ``store`` as the Kubernetes REST API; returns the running Server
    (``port`` 0 picks a free one, read back as ``.port``).  ``log_path``: one
    line per request and the server's errors go there."""
    return Server(Api(store, logs, execs=execs), host, port, log_path).start()
