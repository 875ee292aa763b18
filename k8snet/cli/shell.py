"""The k8snet CLI: Mininet's CLI plus ``kubectl``, ``POD CMD`` and ``pingpods``.

Every Mininet command keeps working.  As Mininet does for host names, pod
and node names in a pod command are replaced by their IPs.  No command,
however wrong, ends the cluster: any error is one ``error:`` line.

Ctrl-C (SIGINT) stops the current command only, as in Mininet.  SIGTERM to
the k8snet process (``terminate``, installed by k8snet.main) stops the
current command the same way and then ends the CLI, interactive or
``--script``, by raising ``Terminated``; the caller tears the cluster down.
"""
from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import traceback

from mininet.cli import CLI
from mininet.log import output

from k8snet import naming
from k8snet.cli import faults, jobcontrol, kubectl, netpol, reach, streams
from k8snet.cli import trace as tracecli
from k8snet.errors import K8snetError

SH_GRACE = 2.0     # seconds an `sh` command gets to end after Ctrl-C before it is killed
SH_KILL_AFTER = 1  # ... and after a signal from outside (make clean's SIGTERM): see sh_argv


class Terminated(KeyboardInterrupt):
    """SIGTERM: the current command is stopped as Ctrl-C stops it (whatever
    stops its child on KeyboardInterrupt stops it on this too), then the CLI
    ends instead of reading its next line."""


_TERMINATED = threading.Event()


def terminate(*_) -> None:
    """SIGTERM's handler in the k8snet process: the first SIGTERM raises
    ``Terminated`` (and is remembered, so a command that swallows the
    interrupt, as Mininet's node commands do, still ends the CLI); later
    ones are only noted, so the stop of the current command and the
    teardown are not cut short."""
    if _TERMINATED.is_set():
        return
    _TERMINATED.set()
    raise Terminated


def terminated() -> bool:
    """Whether SIGTERM has asked the run to end."""
    return _TERMINATED.is_set()


def sh_argv(line: str) -> list[str]:
    """The argv of ``sh LINE``: ``sh -c LINE`` as Mininet runs it, under
    coreutils' ``timeout`` with no time limit, which leads the command's
    process group and passes any SIGINT, SIGTERM or SIGHUP it gets on to
    the whole group (then SIGKILL after ``SH_KILL_AFTER`` s).  Its PID is
    the one written to the run directory: ``make clean`` after a crash
    SIGTERMs it, and with it ``sleep 200`` under ``sh -c``, which killing
    the shell alone would leave running."""
    return ["timeout", f"--kill-after={SH_KILL_AFTER}", "0", "sh", "-c", line]


def stop_group(proc: subprocess.Popen, sig: int, grace: float = SH_GRACE) -> None:
    """Signal the process group ``proc`` leads, give it ``grace`` seconds to
    end, then SIGKILL the group.  A second Ctrl-C during the grace period
    kills it at once (it never cancels the kill)."""
    for s in (sig, signal.SIGKILL):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, s)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
            return
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            pass
    while True:
        try:
            proc.wait()
            return
        except KeyboardInterrupt:         # SIGKILLed: this wait is short
            pass


def substitute(words: list[str], names: dict[str, str]) -> list[str]:
    """Replace pod and node names by their IPs, as Mininet does for hosts.

    A name counts as a whole word or inside a URL or ``host:port``
    (``http://web-1:8080/``), never as part of a longer name (``web-10``).
    """
    if not names:
        return list(words)
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w.-])({alternatives})(?![\w.-]*\w)")
    return [pattern.sub(lambda m: names[m.group(1)], word) for word in words]


def matrix_probes(cluster) -> list[reach.Probe]:
    """Every running pod to every other and to ext; each node to every other
    node (Mininet's pingall: its hosts are the nodes) and to its own pods."""
    rows = []
    for pod in cluster.store.list("Pod"):
        ip = (pod.get("status") or {}).get("podIP")
        node = (pod.get("spec") or {}).get("nodeName", "")
        if ip and not pod["metadata"].get("deletionTimestamp"):
            rows.append((node, pod["metadata"]["name"], ip,
                         naming.pod_netns(cluster.spec.name, pod["metadata"]["namespace"],
                                          pod["metadata"]["name"])))
    rows.sort()
    ext_ip = cluster.spec.network.ext_ip
    probes = [reach.Probe(name, netns, tuple((n, i) for _, n, i, _ in rows if n != name)
                          + (("ext", ext_ip),))
              for _, name, _, netns in rows]
    nodes = sorted((n.name, n.ip) for n in cluster.network.nodes.values())
    for node, _ in nodes:
        others = tuple((n, i) for n, i in nodes if n != node)
        mine = tuple((n, i) for nd, n, i, _ in rows if nd == node)
        probes.append(reach.Probe(node, naming.node_netns(cluster.spec.name, node),
                                  others + mine))
    return probes


def ping_pods(cluster, out=output) -> float:
    """Run the matrix, print it Mininet style, return the percent dropped."""
    out("*** Ping: testing reachability (node <-> node, pod <-> pod, node -> own pods, "
        "pod -> ext)\n")
    results = [reach.run_probe(p) for p in matrix_probes(cluster)]
    for result in results:
        out(reach.format_line(result) + "\n")
    dropped, received, sent = reach.summary(results)
    out(f"*** Results: {dropped:.0f}% dropped ({received}/{sent} received)\n")
    return dropped


class K8sCLI(CLI):
    prompt = "k8snet> "

    def __init__(self, mininet, cluster, **kwargs):
        """Run the CLI (interactive, or ``script=FILE``) until it ends; raises
        ``Terminated`` when SIGTERM ended it."""
        self.cluster = cluster
        super().__init__(mininet, **kwargs)
        if terminated():
            raise Terminated

    def cmdloop(self, intro=None):
        """Mininet's ``run`` takes any KeyboardInterrupt for Ctrl-C and reads
        on; SIGTERM's ends the loop (``__init__`` raises it again)."""
        if terminated():               # came outside the loop (Mininet's stty): no more input
            return
        try:
            super().cmdloop(intro)
        except Terminated:
            pass

    def onecmd(self, line):
        """Any failure of any command is one line; the cluster keeps running.
        ``CMD --help`` (or ``-h``) of the lab's own commands is ``help CMD``.
        Ctrl-C ends the command; SIGTERM ends it and raises ``Terminated``."""
        try:
            cmd, arg, _ = self.parseline(line)
            if cmd and cmd not in ("kubectl", "sh") and f"do_{cmd}" in K8sCLI.__dict__ \
                    and {"--help", "-h"} & set((arg or "").split()):
                return self.do_help(cmd)        # kubectl's and sh's --help are their own
            stop = super().onecmd(line)
        except K8snetError as exc:
            output(f"{exc if str(exc).startswith(('error', 'Error')) else f'error: {exc}'}\n")
            stop = False
        except KeyboardInterrupt:
            if terminated():
                raise Terminated from None
            output("\nInterrupt\n")
            stop = False
        except Exception as exc:  # noqa: BLE001 - a bug in one command must not end the lab
            output(f"error: {type(exc).__name__}: {exc} (a k8snet bug: please report it)\n")
            with open(self.cluster.rundir.path / "cli-errors.log", "a") as log:
                log.write(f"{line}\n{traceback.format_exc()}\n")
            stop = False
        if terminated():                         # a command swallowed SIGTERM's interrupt
            raise Terminated
        return stop

    def parseline(self, line):
        """``NS/POD CMD`` and ``POD CMD`` are a pod's command, never Mininet's
        command named by the namespace or by the name's first part (the e2e
        model's namespace ``x`` would run ``do_x``, Mininet's xterm, with
        ``/a ...`` as its argument; pod ``iperf-server`` Mininet's iperf)."""
        first = line.strip().partition(" ")[0]
        if "/" in first and not first.startswith("/"):
            return None, None, line.strip()
        if first[:1] in self.identchars and any(c not in self.identchars for c in first):
            # ``iperf-server hostname``: a pod (or node) named with a dash or a
            # dot, never Mininet's ``iperf`` with ``-server`` as its argument
            return None, None, line.strip()
        return super().parseline(line)

    # --- pods as CLI targets -------------------------------------------------------

    def name_map(self, namespace: str | None = None) -> dict[str, str]:
        """Node, pod, ``gw`` and ``ext`` names to IPs (Mininet's hosts, as its
        CLI substitutes them), for a command in a pod of ``namespace``: a pod
        or a Service of the name there comes first (k8snet.api.podnames)."""
        cluster = self.cluster
        names = {n.name: n.ip for n in cluster.network.nodes.values()}
        names.update(cluster.pods.ips(namespace))
        plan = cluster.spec.network
        for host, ip in (("gw", plan.gateway_router), ("ext", plan.ext_ip)):
            if host not in names and not (
                    namespace and cluster.store.find("Service", namespace, host)):
                names[host] = ip
        return names

    def run_in_pod(self, pod_name: str, words: list[str]) -> int:
        pods = self.cluster.pods
        pod = pods.find(pod_name)
        rt = pods.runtime(pod)
        command = " ".join(substitute(words, self.name_map(pod["metadata"]["namespace"])))
        sys.stdout.flush()
        proc, pump = streams.popen(["ip", "netns", "exec", rt.netns, "sh", "-c", command],
                                   env=pods.env(pod))
        try:
            return proc.wait()
        except KeyboardInterrupt:            # Ctrl-C: the child got the SIGINT too
            if terminated() and proc.poll() is None:
                proc.send_signal(signal.SIGINT)   # SIGTERM came to k8snet alone
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:  # it ignores SIGINT
                proc.kill()
                proc.wait()
            output("\n")
            return 130
        finally:
            streams.finish(pump)

    def _pod_names(self) -> set[str]:
        names = set()
        for pod in self.cluster.store.list("Pod"):
            names.add(pod["metadata"]["name"])
            names.add(f"{pod['metadata']['namespace']}/{pod['metadata']['name']}")
        return names

    def default(self, line):
        first, _, rest = line.partition(" ")
        if first and first in self._pod_names():
            if not rest.strip():
                output(f"*** Enter a command for pod: {first} <cmd>\n")
                return
            try:
                words = shlex.split(rest, posix=False)
            except ValueError as exc:
                raise K8snetError(f"cannot parse the command: {exc}") from None
            self.run_in_pod(first, words)
            return
        if first and first not in self.mn:
            raise K8snetError(f'unknown command or pod "{first}" (`help` lists the commands, '
                              "`kubectl get pods -A` the pods)")
        super().default(line)

    def waitForNode(self, node):
        """Mininet's, and when the CLI's output is not a terminal (a script, a
        pipe) the newline a command's output lacks is added, so the next
        output starts a line of its own (``ext curl -s .../hostname``)."""
        last = [""]
        monitor = node.monitor

        def watched(*args, **kwargs):
            data = monitor(*args, **kwargs)
            last[0] = data[-1:] or last[0]
            return data
        node.monitor = watched
        try:
            super().waitForNode(node)
        finally:
            del node.monitor                    # the class's method again
        if last[0] not in ("", "\n") and streams.piped():
            output("\n")

    def completenames(self, text, *ignored):
        return sorted(set(super().completenames(text, *ignored))
                      | {p for p in self._pod_names() if p.startswith(text)})

    # --- commands --------------------------------------------------------------------

    def do_sh(self, line):
        """Run an external shell command
           Usage: sh [cmd args]
           (in a process group of its own, written down in the run directory:
           `make clean` stops it after a crash; Ctrl-C stops the group; at the
           prompt it has the terminal, as a job-control shell's command does)"""
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        terminal = jobcontrol.Terminal(getattr(self, "stdin", None))
        with terminal.starting():
            proc, pump = streams.popen(sh_argv(line), **terminal.popen_kwargs())
        try:
            terminal.lend(proc.pid)
            self.cluster.rundir.record_pid(proc.pid)
            proc.wait()        # its exit status is the command's own business, as in Mininet
        except BaseException:  # Ctrl-C (the CLI's own where the terminal is not lent), SIGTERM
            stop_group(proc, signal.SIGINT)
            raise
        finally:
            terminal.take_back()
            streams.finish(pump)

    def do_pingpods(self, _line):
        """Ping every pod from every pod, each node's pods from the node,
           and ext from every pod; print Mininet-style results."""
        ping_pods(self.cluster)

    def do_probe(self, line):
        """Connect every chosen pod to every chosen pod for real; print the truth
           table (. allowed, X blocked, - not run: a protocol this kernel lacks)
           beside the NetworkPolicy oracle's:
           probe [NS/POD...] [-n NS]... [-l SEL] [--ports 80,81|NAME]
                 [--protocols tcp,udp,sctp] [--via pod|service] [--timeout S] [-o json]"""
        netpol.probe_command(self.cluster, self._words(line), output)

    def do_netpol(self, line):
        """NetworkPolicy exercises on the e2e suite's model:
           netpol model [--protocols tcp,udp]   namespaces x, y, z with pods a, b, c
           netpol cases [upstream|generated|FILE] [NAME...] [--via pod|service] [--sample N]
           netpol clear                        delete the policies of x, y, z"""
        netpol.netpol_command(self.cluster, self._words(line), output)

    def do_trace(self, line):
        """Send a real packet and show its path hop by hop (DNS, veth, kproxy's
           rule and DNAT, NetworkPolicy, route, OpenFlow flows, the pod):
           trace SRC DST[:PORT]|http://HOST[:PORT]/PATH [--udp] [--svg FILE] [-o json]
                 [--simulate]   (walk the rendered rules and flows; send nothing)
           SRC is a pod, a node or ext; DST an IP, a pod, a node or a name the
           source's resolver answers (a Service, an FQDN, an ingress host)."""
        tracecli.trace_command(self.cluster, self._words(line), output)

    def do_draw(self, line):
        """Draw the cluster (nodes, pods and their veths, switches, gw, ext, Services):
           draw FILE.svg|FILE.png"""
        tracecli.draw_command(self.cluster, self._words(line), output)

    def do_controller(self, line):
        """controller stop|start|status: kill the OpenFlow controller (the switches
           keep their flows) and start it again; changes made meanwhile apply then."""
        faults.controller_command(self.cluster, self._words(line), output)

    def do_loss(self, line):
        """loss NODE PERCENT: random loss on the node's uplink (0 removes it)."""
        faults.loss_command(self.cluster, self._words(line), output)

    def do_mtu(self, line):
        """mtu NODE BYTES: the switch port facing NODE takes frames up to BYTES
           (an MTU mismatch: small requests work, large transfers stall);
           mtu NODE 1500 restores it."""
        faults.mtu_command(self.cluster, self._words(line), output)

    def do_node(self, line):
        """node [status]: each node's Ready status, its fabric links, its Lease.
           node NODE down|up: the node's links to the fabric down (its kubelet can't
           reach the API server: NotReady after the grace period, its pods out of
           the EndpointSlices) or up again."""
        faults.node_command(self.cluster, self._words(line), output)

    def do_link(self, line):
        """link end1 end2 up|down: Mininet's; between a node and its switch it is
           `node NODE up|down` for that node (its routes, which the kernel drops
           with the link, come back with it)."""
        if faults.node_link(self.cluster, self._words(line), output):
            return
        super().do_link(line)

    def do_dnsrace(self, line):
        """The DNS 5-second delay lab: glibc lookups (A and AAAA in parallel)
           through the DNS ClusterIP, then with single-request-reopen, side by side
           (slow lookups, p50/p99, conntrack insert_failed on the pod's node):
           dnsrace [POD] [-n N] [--name NAME] [-p PARALLEL] [--timeout S]"""
        faults.dnsrace_command(self.cluster, self._words(line), output)

    @staticmethod
    def _words(line: str) -> list[str]:
        try:
            return shlex.split(line)
        except ValueError as exc:
            raise K8snetError(f"error: cannot parse the command: {exc}") from None

    def do_kubectl(self, line):
        """kubectl ...: the real kubectl (pinned in the venv) against this cluster
           (KUBECONFIG is set); `kubectl help` and `kubectl CMD -h` are its own help.
           Its output streams here; get, apply, describe, ... get 60 s at most;
           -w, logs -f, exec -it, attach, port-forward, rollout status and wait
           run until Ctrl-C.  A pipe or redirection (kubectl get pods | grep web)
           runs through sh -c.  Lab shorthand: kubectl run NAME [--port=N/UDP]
           [--node=NODE] (no --image: the built-in server on the declared ports)."""
        env = kubectl.environment(self.cluster.kubeconfig,
                                  self.cluster.rundir.path / "kube-cache")
        words = kubectl.shell_words(line)
        if words is not None:                  # kubectl get pods | grep web
            kubectl.run_shell(line, words, env)
            return
        kubectl.run(self._words(line), env, lambda text: output(text + "\n"))

    def complete_kubectl(self, text, line, begidx, endidx):
        """kubectl's own completion of the word under the cursor."""
        words = line[:endidx].split(" ")[1:]
        env = kubectl.environment(self.cluster.kubeconfig,
                                  self.cluster.rundir.path / "kube-cache")
        head = len(words[-1]) - len(text) if words else 0
        return [c[head:] for c in kubectl.complete([w for w in words[:-1] if w] + words[-1:], env)
                if c.startswith(words[-1] if words else "")]
