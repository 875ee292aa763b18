"""k8snet's log lines go to the run's agents.log and never to the console,
whatever the order of imports: importing ``mininet.log`` makes every later
logger a ``MininetLogger`` with a console handler of its own, which printed
a controller's warnings into the CLI's output with no newline (the
new-user trial's Ingress warnings glued to ``ingress.networking.k8s.io/mine
created``)."""
from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from k8snet import logs
from k8snet.apiserver.controller import Controller
from k8snet.apiserver.store import Store

mininet_log = pytest.importorskip("mininet.log")
REPO = Path(__file__).resolve().parents[2]


class _Warner(Controller):
    name = "test-warner"


@pytest.fixture
def agents_log(tmp_path):
    """``logs.to_file`` on a file of the test's; the k8snet logger as it was after."""
    root = logging.getLogger(logs.ROOT)
    saved = root.handlers[:], root.level, root.propagate
    path = tmp_path / "agents.log"
    logs.to_file(path)
    yield path
    logs.close()
    root.handlers, root.level, root.propagate = saved[0], saved[1], saved[2]


def test_a_controller_made_under_mininets_logger_class_writes_to_agents_log_only(
        agents_log, capfd):
    """Mininet's class in force when the controller is made (``mininet.log``
    imported after ``k8snet.logs``, or a library setting it again)."""
    before = logging.getLoggerClass()
    logging.setLoggerClass(mininet_log.MininetLogger)
    try:
        controller = _Warner(Store())
    finally:
        logging.setLoggerClass(before)
    controller.log.warning("default/mine: service %r not found", "default/nosuchsvc")
    controller.log.info("an info line")
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    text = agents_log.read_text()
    assert "k8snet.test-warner WARNING default/mine: service 'default/nosuchsvc' not found\n" \
        in text
    assert "k8snet.test-warner INFO an info line\n" in text


def test_to_file_quiets_k8snet_loggers_made_before_it(tmp_path, capfd):
    """A module-level ``k8snet.x`` logger made while Mininet's class was in
    force (as ``k8snet.supervisor`` is, imported after ``mininet.log``)."""
    before = logging.getLoggerClass()
    logging.setLoggerClass(mininet_log.MininetLogger)
    try:
        early = logging.getLogger("k8snet.test-early")
        other = logging.getLogger("test-not-k8snet")
    finally:
        logging.setLoggerClass(before)
    root = logging.getLogger(logs.ROOT)
    saved = root.handlers[:], root.level, root.propagate
    try:
        logs.to_file(tmp_path / "agents.log")
        early.warning("early warning")
        logs.close()
    finally:
        root.handlers, root.level, root.propagate = saved[0], saved[1], saved[2]
    assert capfd.readouterr() == ("", "")
    assert "k8snet.test-early WARNING early warning\n" in (tmp_path / "agents.log").read_text()
    assert other.handlers == [other.ch]          # only k8snet's own loggers are touched


SCRIPT = """
import sys
{imports}
from k8snet import logs
from k8snet.apiserver.controller import Controller
from k8snet.apiserver.store import Store
import k8snet.cluster.supervisor as supervisor

class Ingress(Controller):
    name = "ingress-nginx"

logs.to_file(sys.argv[1])
agent = Ingress(Store())
agent.log.warning("default/mine: %s", "nosuchsvc not found")
agent.log.warning("default/mine: %s", "no port named nosuchport")
supervisor.log.warning("a supervisor warning")
logs.close()
"""


@pytest.mark.parametrize("imports", [
    "import mininet.log",                                       # the CLI's order
    "import k8snet.apiserver.controller\nimport mininet.log",   # k8snet first
    "",                                                         # k8snet.logs brings it
], ids=["mininet-first", "k8snet-first", "logs-only"])
def test_no_import_order_lets_a_warning_reach_the_console(tmp_path, imports):
    """A fresh interpreter each: the order in which modules are first
    imported is the point."""
    path = tmp_path / "agents.log"
    code = SCRIPT.format(imports=imports)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code), str(path)],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")
    lines = path.read_text().splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        "k8snet.ingress-nginx WARNING default/mine: nosuchsvc not found",
        "k8snet.ingress-nginx WARNING default/mine: no port named nosuchport",
        "k8snet.supervisor WARNING a supervisor warning",
    ]
