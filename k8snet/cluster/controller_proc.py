"""Start, stop and talk to the fabric controller process on loopback."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from controllers.fabric_state import FabricState
from k8snet.errors import K8snetError


class ControllerProcess:
    def __init__(self, state_file: Path, log_file: Path,
                 ofp_port: int = 6653, api_port: int = 6654) -> None:
        self.state_file, self.log_file = state_file, log_file
        self.ofp_port, self.api_port = ofp_port, api_port
        self.proc: subprocess.Popen | None = None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, state: FabricState, on_pid: Callable[[int], None] = lambda pid: None
              ) -> int:
        """Start the controller with ``state``; ``on_pid`` learns its PID before
        it is waited for, so a start that fails is still cleaned up.

        Raises K8snetError if one is already running (there is one OpenFlow port)
        or if it does not answer within 15 s.
        """
        if self.running():
            raise K8snetError(f"controller already running (pid {self.proc.pid})")
        self.state_file.write_text(state.to_json())
        with open(self.log_file, "ab") as log:
            self.proc = proc = subprocess.Popen(
                [sys.executable, "-m", "controllers.run",
                 "--state", str(self.state_file),
                 "--api-port", str(self.api_port),
                 "--ofp-port", str(self.ofp_port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        on_pid(proc.pid)
        self.wait_ready()
        return proc.pid

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise K8snetError(f"controller exited with {self.proc.returncode};"
                                  f" see {self.log_file}")
            try:
                self.request({"op": "ping"}, timeout=1.0)
                return
            except OSError:
                time.sleep(0.1)
        raise K8snetError(f"controller did not answer on 127.0.0.1:{self.api_port}"
                          f" within {timeout:.0f}s; see {self.log_file}")

    def request(self, message: dict, timeout: float = 10.0) -> dict:
        with socket.create_connection(("127.0.0.1", self.api_port),
                                      timeout=timeout) as sock:
            sock.sendall((json.dumps(message) + "\n").encode())
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        reply = json.loads(data or b"{}")
        if not reply.get("ok"):
            raise K8snetError(f"controller: {reply.get('error', 'no reply')}")
        return reply

    def set_state(self, state: FabricState) -> dict:
        self.state_file.write_text(state.to_json())
        return self.request({"op": "set_state",
                             "state": json.loads(state.to_json())})

    def wait_switches(self, dpids: set[int], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if dpids <= set(self.request({"op": "ping"})["switches"]):
                return
            time.sleep(0.1)
        raise K8snetError("switches did not connect to the controller within "
                          f"{timeout:.0f}s; see {self.log_file}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
