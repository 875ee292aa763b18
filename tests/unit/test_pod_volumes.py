"""emptyDir volumes for the sandbox: made, bound, refused, removed (pure parts)."""
from __future__ import annotations

import os
import stat

from k8snet.node import sandbox, volumes


def test_empty_dirs_are_made_world_writable_and_other_types_refused(tmp_path):
    spec = {"volumes": [{"name": "cache", "emptyDir": {}},
                        {"name": "etc", "hostPath": {"path": "/etc"}},
                        {"name": "cfg", "configMap": {"name": "x"}}]}
    paths, problems = volumes.prepare(spec, str(tmp_path / "pod"))
    assert list(paths) == ["cache"]
    assert stat.S_IMODE(os.stat(paths["cache"]).st_mode) == 0o777
    assert problems == [
        'volume "etc": hostPath volumes are not served in this lab (emptyDir only); '
        "its mounts are left out",
        'volume "cfg": configMap volumes are not served in this lab (emptyDir only); '
        "its mounts are left out"]


def test_mounts_follow_volume_mounts(tmp_path):
    paths = {"cache": str(tmp_path)}
    spec = {"volumeMounts": [{"name": "cache", "mountPath": "/cache"},
                             {"name": "cache", "mountPath": "/tmp/x/", "readOnly": True},
                             {"name": "cache", "mountPath": "/data", "subPath": "a/b"},
                             {"name": "other", "mountPath": "/o"}]}
    mounts, problems = volumes.mounts_for(spec, paths)
    assert problems == []
    assert mounts == [volumes.Mount(str(tmp_path), "/cache"),
                      volumes.Mount(str(tmp_path), "/tmp/x", True),
                      volumes.Mount(str(tmp_path / "a" / "b"), "/data")]
    assert os.path.isdir(tmp_path / "a" / "b")
    assert mounts[1].bwrap_args() == ["--ro-bind", str(tmp_path), "/tmp/x"]


def test_unplaceable_mounts_and_escapes_are_problems(tmp_path):
    spec = {"volumeMounts": [{"name": "c", "mountPath": "/usr/no/such/dir"},
                             {"name": "c", "mountPath": "relative"},
                             {"name": "c", "mountPath": "/"},
                             {"name": "c", "mountPath": "/x", "subPath": "../../etc"}]}
    mounts, problems = volumes.mounts_for(spec, {"c": str(tmp_path)})
    assert mounts == []
    assert len(problems) == 4
    assert "/usr/no/such is part of the read-only host filesystem" in problems[0]
    assert 'subPath must not contain ".."' in problems[3]


def test_the_sandbox_binds_the_host_read_only_under_its_own_root(tmp_path):
    argv = sandbox.prefix(sandbox.Identity(65534, 65534), "pod",
                          [volumes.Mount(str(tmp_path), "/cache")])
    assert ["--ro-bind", "/usr", "/usr"] == argv[argv.index("/usr") - 1:argv.index("/usr") + 2]
    assert "--bind" in argv and argv[argv.index("--bind") + 2] == "/cache"
    assert ["--ro-bind", "/", "/"] not in [argv[i:i + 3] for i in range(len(argv))]
    assert not any(a in ("/proc", "/tmp") and argv[i - 1] == "--ro-bind"
                   for i, a in enumerate(argv))


def test_remove_deletes_the_pods_volumes(tmp_path):
    paths, _ = volumes.prepare({"volumes": [{"name": "v", "emptyDir": {}}]},
                               str(tmp_path / "pod"))
    open(os.path.join(paths["v"], "f"), "w").close()
    volumes.remove(str(tmp_path / "pod"))
    assert not os.path.exists(tmp_path / "pod")
