"""ControllerProcess never starts a second copy over a live one."""
from __future__ import annotations

import subprocess

import pytest

from controllers.fabric_state import FabricState
from k8snet.cluster.controller_proc import ControllerProcess
from k8snet.errors import K8snetError


def test_start_refuses_while_one_runs(tmp_path):
    ctl = ControllerProcess(tmp_path / "state.json", tmp_path / "c.log")
    ctl.proc = subprocess.Popen(["sleep", "30"])
    try:
        with pytest.raises(K8snetError, match=f"already running \\(pid {ctl.proc.pid}\\)"):
            ctl.start(FabricState("10.0.0.1", "00:00:00:00:00:01", (), (), (), ()))
        assert not (tmp_path / "state.json").exists()
    finally:
        ctl.proc.kill()
        ctl.proc.wait()
    assert not ctl.running()
