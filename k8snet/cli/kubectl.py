"""``kubectl`` in the CLI: the verbs a lab session needs, against the store.

Every verb changes the world only by changing objects, as kubectl does
through the API server; the controllers and kubelets do the rest.  Flags
follow kubectl's (``-n``, ``-A``, ``-o wide|yaml|json|name``, ``-l``,
``-f``, ``--replicas``, ``-c``, ``--previous``, ``--timeout``).  Bad input
raises ``K8snetError`` with kubectl's wording; the shell prints it as one
line.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable

import yaml

from k8snet.api import printers, selectors
from k8snet.api.kinds import Kind, kind_info, lookup
from k8snet.apiserver import apply as applier
from k8snet.apiserver.store import key_of, now_rfc3339
from k8snet.cli.create import ArgParser, create_object, run_pod
from k8snet.errors import K8snetError, StatusError
from k8snet.load.documents import load_paths

Out = Callable[[str], None]
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
VERBS = ("get", "apply", "delete", "scale", "rollout", "create", "run", "exec", "logs", "wait",
         "label", "events")


def parser(verb: str) -> ArgParser:
    p = ArgParser(prog=f"kubectl {verb}", add_help=False)
    p.add_argument("-n", "--namespace", default=None)
    return p


def resource(word: str, store=None) -> Kind:
    """A kind by what the user typed (built-in, or any kind stored, such as a
    custom resource); kubectl's error for unknown types."""
    kind = lookup(word)
    if kind is None and store is not None:
        low = word.lower().partition(".")[0]
        for name in store.kinds():
            obj = store.list(name)[0]
            info = kind_info(name, obj.get("apiVersion", "v1"))
            if low in (info.plural, info.singular, name.lower()):
                return info
    if kind is None:
        raise K8snetError(f'error: the server doesn\'t have a resource type "{word}"')
    return kind


class Kubectl:
    """The verbs, over ``cluster.store``; ``pods`` gives pod runtimes (exec, logs)."""

    def __init__(self, store, pods, out: Out) -> None:
        self.store = store
        self.pods = pods
        self.out = out

    def run(self, words: list[str]) -> None:
        if not words:
            raise K8snetError("kubectl: give a command: " + ", ".join(VERBS))
        verb, args = words[0], words[1:]
        if verb not in VERBS:
            raise K8snetError(f'error: unknown command "{verb}" for "kubectl"')
        getattr(self, f"do_{verb}")(args)

    # --- get -----------------------------------------------------------------------

    def do_get(self, args: list[str]) -> None:
        p = parser("get")
        p.add_argument("-A", "--all-namespaces", action="store_true")
        p.add_argument("-o", "--output", default="")
        p.add_argument("-l", "--selector", default="")
        p.add_argument("--show-kind", action="store_true")
        p.add_argument("what", nargs="*")
        a = p.parse_args(args)
        if not a.what:
            raise K8snetError("error: You must specify the type of resource to get.")
        if a.output not in ("", "wide", "yaml", "json", "name"):
            raise K8snetError(f"error: unable to match a printer suitable for the output "
                              f"format \"{a.output}\", allowed formats are: json,name,wide,yaml")
        try:
            selector = selectors.parse(a.selector) if a.selector else None
        except ValueError as exc:
            raise K8snetError(f"error: {exc}") from None
        ns = "" if a.all_namespaces else (a.namespace or "default")
        objs, names = self._select(a.what, ns)
        if selector is not None:
            objs = [o for o in objs if selectors.matches(selector, o["metadata"].get("labels"))]
        if a.output in ("yaml", "json"):
            doc = objs[0] if len(objs) == 1 and names else \
                {"apiVersion": "v1", "kind": "List", "items": objs, "metadata": {}}
            self.out(json.dumps(doc, indent=4) if a.output == "json"
                     else yaml.safe_dump(doc, sort_keys=False).rstrip())
            return
        if a.output == "name":
            for o in objs:
                self.out(resource(o["kind"], self.store).ref(o["metadata"]["name"]))
            return
        if not objs:
            where = f" in {ns} namespace" if ns else ""
            self.out(f"No resources found{where}.")
            return
        kinds = {o["kind"] for o in objs}
        self.out(printers.table(objs, time.time(), wide=a.output == "wide",
                                namespace_column=a.all_namespaces,
                                show_kind=a.show_kind or len(kinds) > 1 or "all" in a.what))

    def _select(self, what: list[str], ns: str) -> tuple[list[dict], bool]:
        """Objects for ``kubectl get`` arguments: ``pods``, ``pods a b``,
        ``pod/a``, ``svc,deploy``, ``all``."""
        if all("/" in w for w in what):
            objs = []
            for w in what:
                word, name = w.split("/", 1)
                objs.append(self._get(resource(word, self.store), name, ns or "default"))
            return objs, True
        kinds_word, names = what[0], what[1:]
        objs = []
        for word in kinds_word.split(","):
            if word == "all":
                kinds = [resource(k) for k in ("pods", "services", "daemonsets", "deployments",
                                               "replicasets", "statefulsets")]
            else:
                kinds = [resource(word, self.store)]
            for kind in kinds:
                if names:
                    objs += [self._get(kind, n, ns or "default") for n in names]
                else:
                    objs += self.store.list(kind.kind, ns if kind.namespaced else "")
        return objs, bool(names)

    def _get(self, kind: Kind, name: str, ns: str) -> dict:
        try:
            return self.store.get(kind.kind, ns if kind.namespaced else "", name)
        except StatusError as exc:
            raise K8snetError(exc.kubectl()) from None

    def do_events(self, args: list[str]) -> None:
        self.do_get(["events", *args])

    # --- apply / delete ------------------------------------------------------------------

    def _files(self, verb: str, args: list[str]) -> tuple[list[str], str | None, list[str]]:
        p = parser(verb)
        p.add_argument("-f", "--filename", action="append", default=[])
        p.add_argument("--dry-run", default="none")
        p.add_argument("rest", nargs="*")
        a = p.parse_args(args)
        return a.filename, a.namespace, [a.dry_run, *a.rest]

    def do_apply(self, args: list[str]) -> None:
        files, namespace, (dry_run, *rest) = self._files("apply", args)
        if not files or rest:
            raise K8snetError("error: must specify one of -f and -k")
        docs = load_paths(files)
        done = applier.apply(self.store, docs, namespace, dry_run=dry_run == "server")
        for line in done.notes + done.lines:
            self.out(line)

    def do_delete(self, args: list[str]) -> None:
        files, namespace, (_, *rest) = self._files("delete", args)
        if files:
            for line in applier.delete(self.store, load_paths(files), namespace):
                self.out(line)
            return
        if not rest:
            raise K8snetError("error: You must provide one or more resources by argument or "
                              "filename.")
        if all("/" in w for w in rest):
            targets = [(resource(w.split("/", 1)[0], self.store), w.split("/", 1)[1])
                       for w in rest]
        else:
            targets = [(resource(rest[0], self.store), n) for n in rest[1:]]
        if not targets:
            raise K8snetError("error: resource(s) were provided, but no name was specified")
        for kind, name in targets:
            ns = (namespace or "default") if kind.namespaced else ""
            try:
                self.store.delete(kind.kind, ns, name)
                self.out(f"{kind.quoted(name)} deleted")
            except StatusError as exc:
                self.out(exc.kubectl())

    # --- workloads -------------------------------------------------------------------------

    def _workload(self, words: list[str], ns: str, verbs: tuple[str, ...]) -> tuple[Kind, str]:
        if len(words) == 1 and "/" in words[0]:
            words = words[0].split("/", 1)
        if len(words) != 2:
            raise K8snetError("error: give KIND NAME or KIND/NAME")
        kind = resource(words[0])
        if kind.kind not in verbs:
            raise K8snetError(f'error: {kind.plural} "{words[1]}" cannot be used here '
                              f"(only {', '.join(verbs)})")
        self._get(kind, words[1], ns)
        return kind, words[1]

    def do_scale(self, args: list[str]) -> None:
        p = parser("scale")
        p.add_argument("--replicas", required=True, type=str)
        p.add_argument("what", nargs="+")
        a = p.parse_args(args)
        if not a.replicas.isdigit():
            raise K8snetError(f'error: invalid argument "{a.replicas}" for "--replicas" flag: '
                              "must be a non-negative integer")
        ns = a.namespace or "default"
        kind, name = self._workload(a.what, ns, ("Deployment", "ReplicaSet", "StatefulSet"))
        self.store.mutate(kind.kind, ns, name,
                          lambda o: o["spec"].__setitem__("replicas", int(a.replicas)))
        self.out(f"{kind.ref(name)} scaled")

    def do_rollout(self, args: list[str]) -> None:
        p = parser("rollout")
        p.add_argument("action", choices=("restart", "status"))
        p.add_argument("--timeout", type=float, default=120.0)
        p.add_argument("what", nargs="+")
        a = p.parse_args(args)
        ns = a.namespace or "default"
        kind, name = self._workload(a.what, ns, ("Deployment", "StatefulSet", "DaemonSet"))
        if a.action == "restart":
            def stamp(o: dict) -> None:
                meta = o["spec"]["template"].setdefault("metadata", {})
                meta.setdefault("annotations", {})[RESTARTED_AT] = now_rfc3339()
            self.store.mutate(kind.kind, ns, name, stamp)
            self.out(f"{kind.ref(name)} restarted")
            return
        self._rollout_status(kind, name, ns, a.timeout)

    def _rollout_status(self, kind: Kind, name: str, ns: str, timeout: float) -> None:
        deadline, last = time.monotonic() + timeout, ""
        while True:
            obj = self._get(kind, name, ns)
            spec, status = obj.get("spec") or {}, obj.get("status") or {}
            if kind.kind == "DaemonSet":
                want, updated = status.get("desiredNumberScheduled", 0), \
                    status.get("updatedNumberScheduled", 0)
                ready = status.get("numberAvailable", 0)
            else:
                want = spec.get("replicas", 1)
                updated, ready = status.get("updatedReplicas", 0), \
                    status.get("availableReplicas", status.get("readyReplicas", 0))
            total = status.get("replicas", 0)
            current = status.get("observedGeneration", 0) >= obj["metadata"]["generation"]
            if current and updated >= want and ready >= want and total <= want:
                self.out(f'{kind.singular} "{name}" successfully rolled out')
                return
            line = (f'Waiting for {kind.singular} "{name}" rollout to finish: {updated} of '
                    f"{want} updated replicas are available...")
            if line != last:
                self.out(line)
                last = line
            if time.monotonic() > deadline:
                raise K8snetError(f"error: timed out waiting for the condition on "
                                  f"{kind.plural}/{name}")
            time.sleep(0.1)

    def do_wait(self, args: list[str]) -> None:
        p = parser("wait")
        p.add_argument("--for", dest="cond", required=True)
        p.add_argument("--timeout", default="30s")
        p.add_argument("--all", action="store_true")
        p.add_argument("-l", "--selector", default="")
        p.add_argument("what", nargs="+")
        a = p.parse_args(args)
        ns = a.namespace or "default"
        timeout = float(a.timeout.rstrip("s") or 30)
        kind_word = a.what[0].split("/", 1)[0]
        kind = resource(kind_word, self.store)
        deadline = time.monotonic() + timeout
        while True:
            if "/" in a.what[0]:
                targets = [(kind, w.split("/", 1)[1]) for w in a.what]
            else:
                sel = selectors.parse(a.selector) if a.selector else {}
                names = a.what[1:] or [o["metadata"]["name"] for o in
                                       self.store.list(kind.kind, ns)
                                       if selectors.matches(sel, o["metadata"].get("labels"))]
                targets = [(kind, n) for n in names]
            pending = [n for k, n in targets if not self._met(k, n, ns, a.cond)]
            if not pending:
                for k, n in targets:
                    self.out(f"{k.ref(n)} condition met")
                return
            if time.monotonic() > deadline:
                raise K8snetError(f"error: timed out waiting for the condition on "
                                  f"{kind.plural}/{pending[0]}")
            time.sleep(0.1)

    def _met(self, kind: Kind, name: str, ns: str, cond: str) -> bool:
        obj = self.store.find(kind.kind, ns if kind.namespaced else "", name)
        if cond == "delete":
            return obj is None
        if obj is None:
            return False
        if not cond.startswith("condition="):
            raise K8snetError(f"error: unrecognized condition: {cond!r}")
        want, _, value = cond[len("condition="):].partition("=")
        value = value or "True"
        return any(c.get("type", "").lower() == want.lower() and c.get("status") == value
                   for c in (obj.get("status") or {}).get("conditions") or [])

    # --- creating objects from the command line ------------------------------------

    def _create(self, obj: dict) -> None:
        try:
            self.store.create(obj)
        except StatusError as exc:
            raise K8snetError(f"error: failed to create {obj['kind'].lower()}: {exc}") from None
        self.out(f"{resource(obj['kind']).ref(obj['metadata']['name'])} created")

    def do_create(self, args: list[str]) -> None:
        self._create(create_object(args))

    def do_run(self, args: list[str]) -> None:
        self._create(run_pod(args))

    def do_label(self, args: list[str]) -> None:
        p = parser("label")
        p.add_argument("--overwrite", action="store_true")
        p.add_argument("what", nargs="+")
        a = p.parse_args(args)
        pairs = [w for w in a.what if "=" in w or w.endswith("-")]
        target = [w for w in a.what if w not in pairs]
        ns = a.namespace or "default"
        if len(target) == 1 and "/" in target[0]:
            target = target[0].split("/", 1)
        if len(target) != 2 or not pairs:
            raise K8snetError("error: usage: kubectl label KIND NAME key=value|key- ...")
        kind = resource(target[0], self.store)
        obj = self._get(kind, target[1], ns)
        labels = dict(obj["metadata"].get("labels") or {})
        for pair in pairs:
            if pair.endswith("-"):
                labels.pop(pair[:-1], None)
                continue
            k, v = pair.split("=", 1)
            if k in labels and labels[k] != v and not a.overwrite:
                raise K8snetError(f"error: '{k}' already has a value ({labels[k]}), and "
                                  "--overwrite is false")
            labels[k] = v
        self.store.mutate(*key_of(obj), lambda o: o["metadata"].__setitem__("labels", labels))
        self.out(f"{kind.ref(target[1])} labeled")

    # --- into pods -----------------------------------------------------------------------

    def do_exec(self, args: list[str]) -> None:
        if "--" not in args:
            raise K8snetError("error: you must specify at least one command for the container "
                              "(kubectl exec POD [-c CONTAINER] -- COMMAND [ARGS...])")
        head, command = args[:args.index("--")], args[args.index("--") + 1:]
        p = parser("exec")
        p.add_argument("-c", "--container", default=None)
        p.add_argument("-i", "--stdin", action="store_true")
        p.add_argument("-t", "--tty", action="store_true")
        p.add_argument("pod", nargs=1)
        a = p.parse_args(head)
        if not command:
            raise K8snetError("error: you must specify at least one command for the container")
        self.pods.exec(self._pod_name(a.pod[0], a.namespace), a.namespace or "default",
                       a.container, command)

    def do_logs(self, args: list[str]) -> None:
        p = parser("logs")
        p.add_argument("-c", "--container", default=None)
        p.add_argument("-p", "--previous", action="store_true")
        p.add_argument("--tail", type=int, default=-1)
        p.add_argument("pod", nargs=1)
        a = p.parse_args(args)
        text = self.pods.logs(self._pod_name(a.pod[0], a.namespace), a.namespace or "default",
                              a.container, a.previous)
        lines = text.splitlines()
        if a.tail >= 0:
            lines = lines[-a.tail:] if a.tail else []
        for line in lines:
            self.out(line)

    def _pod_name(self, word: str, namespace: str | None) -> str:
        """``pod``, ``pod/x``, or ``deploy/x`` (its first pod, as kubectl picks one)."""
        if "/" not in word:
            return word
        kind_word, name = word.split("/", 1)
        kind = resource(kind_word, self.store)
        if kind.kind == "Pod":
            return name
        ns = namespace or "default"
        owner = self._get(kind, name, ns)
        sel = (owner.get("spec") or {}).get("selector") or {}
        pods = [o for o in self.store.list("Pod", ns)
                if selectors.matches(sel, o["metadata"].get("labels"))
                and not o["metadata"].get("deletionTimestamp")]
        if not pods:
            raise K8snetError(f"error: no pods found for {kind.plural}/{name}")
        return pods[0]["metadata"]["name"]
