"""The Mininet CLI's line parsing with pods as targets: ``NS/POD CMD`` is the
pod's command, even when NS is also the name of a Mininet command (``x``)."""
from __future__ import annotations

from k8snet.cli.shell import K8sCLI


def _cli() -> K8sCLI:
    return object.__new__(K8sCLI)          # no Mininet: only the parsing is tested


def test_a_namespaced_pod_is_never_read_as_a_mininet_command() -> None:
    cli = _cli()
    line = "x/a curl -s --max-time 1 s-y-b.y:80/hostname"
    assert cli.parseline(line) == (None, None, line)       # -> default(): the pod
    assert cli.parseline("  y/b echo hi ") == (None, None, "y/b echo hi")


def test_a_pod_named_with_a_dash_or_dot_is_never_a_mininet_command() -> None:
    """``iperf-server hostname`` (the demo's own pod) ran Mininet's iperf with
    ``-server`` as its argument; ``py-app`` ran ``py``; ``exit-test`` ended the CLI."""
    cli = _cli()
    for line in ("iperf-server hostname", "py-app hostname", "exit-test hostname",
                 "web.v2 hostname"):
        assert cli.parseline(line) == (None, None, line)     # -> default(): pod or node


def test_plain_commands_parse_as_before() -> None:
    cli = _cli()
    assert cli.parseline("x h1") == ("x", "h1", "x h1")         # Mininet's xterm
    assert cli.parseline("trace client web:80")[:2] == ("trace", "client web:80")
    assert cli.parseline("sh ls /tmp")[:2] == ("sh", "ls /tmp")
    assert cli.parseline("/bin/true")[0] == ""                  # not a pod: as cmd.Cmd does


def test_help_flags_of_the_labs_commands_show_their_help() -> None:
    cli = _cli()
    shown, ran = [], []
    cli.do_help = shown.append
    cli.do_kubectl = ran.append
    cli.do_probe = ran.append
    for line in ("probe --help", "trace -h", "netpol cases --help"):
        cli.onecmd(line)
    assert shown == ["probe", "trace", "netpol"] and ran == []
    cli.onecmd("kubectl get pods --help")              # kubectl's own help
    cli.onecmd("probe x/a -n y")                       # no help flag: the command runs
    assert ran == ["get pods --help", "x/a -n y"] and shown == ["probe", "trace", "netpol"]


def test_a_line_that_is_no_command_pod_or_node_is_one_error_line(monkeypatch) -> None:
    cli = _cli()
    cli.mn = {"node1": object()}                         # Mininet's hosts, by name
    cli._pod_names = lambda: {"web-1", "default/web-1"}
    said = []
    monkeypatch.setattr("k8snet.cli.shell.output", said.append)
    cli.onecmd("web-9 curl -s web")
    assert said == ['error: unknown command or pod "web-9" (`help` lists the commands, '
                    '`kubectl get pods -A` the pods)\n']
