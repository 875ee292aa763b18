"""Containers run sandboxed: a manifest's command cannot write the host, leave
its pod's network namespace, or open raw sockets without NET_RAW; with
``capabilities.add: [NET_RAW]`` it can ping.  Exec probes and kubectl exec
run in the same sandbox."""
from __future__ import annotations

from tests.integration.conftest import apply_yaml, wait_for

ATTEMPTS = r"""
echo start
if echo x > /etc/k8snet-sandbox-test 2>/dev/null; then echo wrote-etc; else echo etc-refused; fi
if nsenter --net=/proc/1/ns/net true 2>/dev/null; then echo nsenter-ok
else echo nsenter-refused; fi
if [ -n "$(ls /run/netns 2>/dev/null)" ]; then echo sees-netns; else echo no-netns; fi
if ping -c1 -W1 127.0.0.1 >/dev/null 2>&1; then echo ping-ok; else echo ping-refused; fi
if echo x > /tmp/mine 2>/dev/null; then echo tmp-writable; else echo tmp-refused; fi
echo tmp-mode=$(stat -c %a /tmp)
echo uid=$(id -u)
sleep 300
"""


def _pod(name: str, caps: str = "") -> str:
    sc = f"\n    securityContext: {{capabilities: {{add: [{caps}]}}}}" if caps else ""
    script = ATTEMPTS.replace("\n", "\n        ")
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: default}}
spec:
  containers:
  - name: main
    image: busybox
    command: [sh, -c]{sc}
    args:
      - |{script}
"""


def _log(cluster, name: str) -> str:
    def done():
        try:
            text = cluster.pods.logs(name, "default", None)
        except Exception:                     # noqa: BLE001 - not started yet
            return ""
        return text if "uid=" in text else ""
    return wait_for(done, 20, f"{name}'s attempts")


def test_a_container_cannot_write_the_host_leave_its_netns_or_open_raw_sockets(empty_cluster):
    c = empty_cluster
    apply_yaml(c, _pod("escaper"))
    log = _log(c, "escaper")
    assert "etc-refused" in log and "wrote-etc" not in log, log
    assert "nsenter-refused" in log, log
    assert "no-netns" in log, log
    assert "ping-refused" in log, log
    assert "uid=65534" in log, log
    # its own /tmp is writable by anyone, sticky, as in an image (iperf3 needs it)
    assert "tmp-writable" in log and "tmp-mode=1777" in log, log
    import os
    assert not os.path.exists("/etc/k8snet-sandbox-test")


def test_net_raw_lets_a_container_ping_and_exec_runs_in_the_sandbox(empty_cluster):
    c = empty_cluster
    apply_yaml(c, _pod("pinger", "NET_RAW"))
    log = _log(c, "pinger")
    assert "ping-ok" in log and "etc-refused" in log, log
    import subprocess
    way_in = c.pods.way_in(c.pods.find("pinger", "default"))
    out = subprocess.run([*way_in, "id", "-u"], capture_output=True, text=True)
    assert out.stdout.strip() == "65534", out


SHARED = """
apiVersion: v1
kind: Pod
metadata: {name: shared, namespace: default}
spec:
  volumes:
  - {name: cache, emptyDir: {}}
  - {name: host, hostPath: {path: /etc}}
  containers:
  - name: writer
    image: busybox
    command: [sh, -c, "echo from-writer > /cache/note && echo wrote; sleep 300"]
    volumeMounts: [{name: cache, mountPath: /cache}, {name: host, mountPath: /hostetc}]
  - name: reader
    image: busybox
    command: [sh, -c, "until [ -s /data/note ]; do sleep 0.1; done; cat /data/note;
      if echo x > /data/other 2>/dev/null; then echo ro-wrote; else echo ro-refused; fi;
      if echo x > /etc/k8snet-sandbox-test 2>/dev/null; then echo wrote-etc;
      else echo etc-refused; fi; sleep 300"]
    volumeMounts: [{name: cache, mountPath: /data, readOnly: true}]
"""


def test_an_empty_dir_is_shared_writable_and_read_only_where_asked(empty_cluster):
    import os
    c = empty_cluster
    apply_yaml(c, SHARED)

    def reader_log():
        try:
            text = c.pods.logs("shared", "default", "reader")
        except Exception:                     # noqa: BLE001 - not started yet
            return ""
        return text if "etc-refused" in text or "wrote-etc" in text else ""
    log = wait_for(reader_log, 20, "the reader's output")
    assert "from-writer" in log and "ro-refused" in log and "etc-refused" in log, log
    assert "wrote" in c.pods.logs("shared", "default", "writer")
    assert not os.path.exists("/etc/k8snet-sandbox-test")
    # hostPath is never served: a Warning says so, and the host's /etc is not there.
    event = wait_for(lambda: next((e for e in c.store.list("Event", "default")
                                   if e["involvedObject"]["name"] == "shared"
                                   and e["reason"] == "FailedMount"), None), 10,
                     "a FailedMount event")
    assert "hostPath volumes are not served" in event["message"], event["message"]
    rt = c.pods.runtime(c.pods.find("shared", "default"))
    assert os.path.isfile(os.path.join(rt.volume_dir, "cache", "note"))
    volume_dir = rt.volume_dir
    c.store.delete("Pod", "default", "shared", grace_seconds=0)
    wait_for(lambda: not os.path.exists(volume_dir), 20, "the emptyDir removed with the pod")


def _pinned(pid: int) -> list[str]:
    """Network namespace pins (nsfs mounts in /run/netns) in the mount table
    of ``pid``; /run/netns itself may be a mount (ip netns, k8snet's tmpfs)."""
    with open(f"/proc/{pid}/mountinfo") as f:
        return [line for line in f if " /run/netns/" in line and " - nsfs " in line]


def test_sandboxes_start_from_a_mount_namespace_without_the_pins(empty_cluster):
    """bwrap copies the table of the namespace it starts in: the lab's copy
    has no pod namespace pins however many pods run, the pod's resolv.conf
    is still bound over /etc, and the holder comes back when killed."""
    import os
    import signal
    c = empty_cluster
    holder = c.sandbox_mounts.proc.pid
    assert os.readlink(c.sandbox_mounts.link) == f"/proc/{holder}/ns/mnt"
    apply_yaml(c, """
apiVersion: v1
kind: Pod
metadata: {name: resolver, namespace: default}
spec:
  containers:
  - {name: main, image: busybox, command: [sh, -c, "cat /etc/resolv.conf; sleep 300"]}
""")
    def resolv() -> str:
        try:
            text = c.pods.logs("resolver", "default", None)
        except Exception:                     # noqa: BLE001 - not started yet
            return ""
        return text if "nameserver" in text else ""
    log = wait_for(resolv, 20, "the container's resolv.conf")
    assert "nameserver 10.96.0.10" in log and "svc.cluster.local" in log, log
    assert _pinned(os.getpid()), "the host pins every pod's namespace"
    assert _pinned(holder) == []
    os.kill(holder, signal.SIGKILL)
    wait_for(lambda: c.sandbox_mounts.alive() and c.sandbox_mounts.proc.pid != holder
             and os.readlink(c.sandbox_mounts.link) == f"/proc/{c.sandbox_mounts.proc.pid}/ns/mnt",
             10, "the supervisor's new holder, linked")
    assert _pinned(c.sandbox_mounts.proc.pid) == []
    apply_yaml(c, _pod("after-restart"))
    assert "etc-refused" in _log(c, "after-restart")
