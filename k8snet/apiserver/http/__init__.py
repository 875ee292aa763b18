"""The API store served as the Kubernetes REST API, for the real kubectl.

    from k8snet.apiserver.http import serve
    server = serve(store)                 # 127.0.0.1, a free port
    server.write_kubeconfig("/run/k8snet/lab/kubeconfig")
    ...
    server.stop()

Modules, one concern each: ``server`` (thread, loop, kubeconfig), ``app``
(routes and dispatch), ``discovery``, ``reads`` (get, list, selectors,
paging), ``table`` (Table responses), ``watch``, ``writes`` (create,
update, delete, deletecollection), ``patch`` and ``strategic`` (JSON,
merge, strategic merge, server-side apply), ``subresources`` (scale, log),
``execws`` and ``attachws`` (the WebSocket channel protocol), ``portforward``
and ``spdy`` (SPDY tunnelled in a WebSocket), ``fields`` (field selectors),
``status`` (errors as metav1.Status), ``resources`` (what is served, URL to kind), ``common``.
Source: https://kubernetes.io/docs/reference/using-api/api-concepts/
"""
from k8snet.apiserver.http.common import LogSource
from k8snet.apiserver.http.server import Server, serve

__all__ = ["LogSource", "Server", "serve"]
