"""Running and finding the nginx binary: :func:`check` (``nginx -t``) and :func:`find_nginx`.

Used for the nginx.conf that ``k8snet.addons.nginx_conf.render`` writes; as
non-root, listen ports below 1024 are tested on free ports of 127.0.0.1.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile

from k8snet.errors import K8snetError

NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
# "2026/01/02 03:04:05 [emerg] 123#123: " as nginx logs to stderr with -e
_LOG_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: ", re.M)
_LISTEN = re.compile(r"^(\s*listen\s+)([^\s;]+)", re.M)


class NginxMissing(K8snetError):
    """The nginx program is not installed (or not where it was said to be)."""


def find_nginx(path: str | None = None) -> str:
    """The nginx program: ``path`` if given, else from PATH or the usual sbin places.

    Raises :class:`NginxMissing` naming what was looked for.
    """
    if path:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        raise NginxMissing(f"nginx not found: {path} is not an executable file")
    found = shutil.which("nginx")
    if found:
        return found
    for candidate in NGINX_CANDIDATES:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise NginxMissing("nginx not found (looked in PATH and " + ", ".join(NGINX_CANDIDATES)
                       + "); install it, e.g. apt-get install nginx-light")


def check(text: str, nginx: str | None = None, timeout: float = 30.0) -> str | None:
    """Test an nginx.conf with ``nginx -t``; None if nginx accepts it, else nginx's error text.

    ``text`` is written to a temporary directory, which is also the prefix
    (``-p``); errors go to stderr (``-e stderr``, nginx 1.19.5 or later), so
    no root is needed.  Files the text names (pid, logs, temp paths) must be
    creatable, as they are when it was rendered for a directory that exists.
    In the messages the temporary file reads ``nginx.conf`` and each line
    starts ``nginx: [level]`` (no time or pid), e.g. ``nginx: [emerg] unknown
    directive "x" in nginx.conf:3``.
    Raises :class:`NginxMissing` (see :func:`find_nginx`) and
    ``subprocess.TimeoutExpired``.

    ``nginx -t`` binds the listen sockets (a port in use is tolerated).  As
    non-root, a listen port below 1024 cannot be bound, so each is tested as
    a free port of 127.0.0.1 instead; the rest of the text is tested as is.
    """
    program = find_nginx(nginx)
    if os.geteuid() != 0:
        text = _unprivileged(text)
    with tempfile.TemporaryDirectory(prefix="k8snet-nginx-t-") as tmp:
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(text)
        res = subprocess.run([program, "-t", "-q", "-e", "stderr", "-p", tmp + "/", "-c", conf],
                             capture_output=True, text=True, timeout=timeout, check=False)
    if res.returncode == 0:
        return None
    out = (res.stderr + res.stdout).replace(conf, "nginx.conf")
    out = _LOG_PREFIX.sub(r"nginx: [\1] ", out).strip()
    return out or f"nginx -t failed with exit status {res.returncode}"


def _unprivileged(text: str) -> str:
    """``listen`` directives with a port below 1024 moved to free ports of 127.0.0.1."""
    moved: dict[str, str] = {}

    def move(m: re.Match) -> str:
        where = m.group(2)
        port = where.rsplit(":", 1)[-1]
        if not port.isdigit() or int(port) >= 1024:
            return m.group(0)
        if where not in moved:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                moved[where] = f"127.0.0.1:{s.getsockname()[1]}"
        return m.group(1) + moved[where]

    return _LISTEN.sub(move, text)
