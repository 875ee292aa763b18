"""The sandbox's identity and argv (k8snet.node.sandbox), from pod specs."""
from __future__ import annotations

from k8snet.node import sandbox


def test_default_is_nobody_without_capabilities():
    ident = sandbox.identity({}, {"name": "c"})
    assert (ident.uid, ident.gid, ident.caps) == (65534, 65534, ())
    argv = sandbox.prefix(ident, "web-1")
    assert argv[:4] == ["bwrap", "--ro-bind", "/", "/"]          # the host, read-only
    assert "--unshare-pid" in argv and argv[argv.index("/proc") + 1:][:4] == [
        "--perms", "1777", "--tmpfs", "/tmp"]
    assert "--bounding-set=-all" in argv and argv[-1] == "--"
    assert argv[argv.index("--hostname") + 1] == "web-1"


def test_security_context_user_and_capabilities_container_over_pod():
    pod = {"securityContext": {"runAsUser": 1000, "runAsGroup": 2000}}
    c = {"securityContext": {"runAsUser": 0,
                             "capabilities": {"add": ["NET_RAW", "CAP_NET_ADMIN",
                                                      "SYS_ADMIN"]}}}
    ident = sandbox.identity(pod, c)
    assert ident.uid == 0 and ident.gid == 2000
    assert ident.caps == ("NET_RAW", "NET_ADMIN") and ident.refused == ("SYS_ADMIN",)
    argv = sandbox.prefix(ident)
    assert "--ambient-caps=-all,+net_raw,+net_admin" in argv
    assert "--bounding-set=-all,+net_raw,+net_admin" in argv


def test_the_builtin_server_runs_as_root_with_no_capabilities():
    ident = sandbox.identity({}, {}, builtin=True)
    assert (ident.uid, ident.caps) == (0, ())


def test_the_pods_etc_files_are_bound_over_the_hosts_etc(tmp_path):
    (tmp_path / "resolv.conf").write_text("nameserver 10.96.0.10\n")
    (tmp_path / "hosts").write_text("127.0.0.1 localhost\n")
    (tmp_path / ".hosts.tmp").write_text("half-written\n")
    argv = sandbox.prefix(sandbox.identity({}, {}), etc_dir=tmp_path)
    host_etc = argv.index("/")                            # --ro-bind / /
    binds = [argv[i:i + 3] for i, a in enumerate(argv) if a == "--ro-bind"
             and argv[i + 1].startswith(str(tmp_path))]
    assert binds == [["--ro-bind", str(tmp_path / "hosts"), "/etc/hosts"],
                     ["--ro-bind", str(tmp_path / "resolv.conf"), "/etc/resolv.conf"]]
    assert all(argv.index(b[1]) > host_etc for b in binds)   # over the host's, not under
    assert sandbox.enter("/var/run/netns/p1") == ["nsenter", "--net=/var/run/netns/p1"]


def test_no_etc_dir_binds_nothing_extra(tmp_path):
    argv = sandbox.prefix(sandbox.identity({}, {}), etc_dir=tmp_path / "absent")
    assert not any(a.startswith("/etc/") for a in argv)


def test_a_volume_at_a_new_top_level_path_gets_a_root_of_its_own(tmp_path):
    """The host has no /k8snet-cache: the sandbox's root is its own tmpfs with
    the host's top-level entries bound read-only, so bwrap can make the
    mount point; a volume under /tmp or an existing directory keeps the one
    recursive bind of /."""
    from k8snet.node.volumes import Mount
    ident = sandbox.identity({}, {})
    new_top = sandbox.prefix(ident, mounts=(Mount(str(tmp_path), "/k8snet-cache/data"),))
    assert ["--ro-bind", "/", "/"] != new_top[1:4]
    assert ["--ro-bind", "/etc", "/etc"] == \
        new_top[new_top.index("/etc") - 1:new_top.index("/etc") + 2]
    assert new_top[new_top.index("/k8snet-cache/data") - 2] == "--bind"
    for target in ("/tmp/cache", "/run/x", "/var/cache/app"):
        argv = sandbox.prefix(ident, mounts=(Mount(str(tmp_path), target),))
        assert argv[1:4] == ["--ro-bind", "/", "/"], target


def test_named_etc_files_are_bound_without_looking_at_the_directory(tmp_path):
    """The kubelet names the files it wrote (resolv.conf, hosts): they are
    bound as named, in order, whatever the directory holds."""
    etc = tmp_path / "not-listed"
    argv = sandbox.prefix(sandbox.identity({}, {}), etc_dir=etc,
                          etc_names=("resolv.conf", "hosts"))
    binds = [argv[i:i + 3] for i, a in enumerate(argv) if a == "--ro-bind"
             and argv[i + 1].startswith(str(etc))]
    assert binds == [["--ro-bind", str(etc / "hosts"), "/etc/hosts"],
                     ["--ro-bind", str(etc / "resolv.conf"), "/etc/resolv.conf"]]
