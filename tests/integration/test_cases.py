"""Behaviour cases from real bug reports (tests/cases, copied from
../shared/cases with their sources in tests/cases/SOURCES.md), each run the
way a user runs it: ``k8snet run --topo single -f case.yaml --script
script.txt``, whose ``kubectl`` lines run the real kubectl; the expected
values of each case's expected.md are the assertions here."""
from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "cases"
SHARED = ROOT.parent / "shared" / "cases"       # where the cases come from, when present
IP = r"10\.244\.\d+\.\d+"


def run_case(name: str) -> str:
    case = CASES / name
    proc = subprocess.run(
        [sys.executable, "-m", "k8snet.main", "run", "--topo", "single", "-v", "output",
         "-f", str(case / "case.yaml"), "--script", str(case / "script.txt")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=400, cwd=ROOT)
    out = proc.stdout   # one stream: the CLI (stderr) and the pods' commands, in order
    assert proc.returncode == 0, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    return out


def section(out: str, title: str) -> list[str]:
    """The lines after ``=== title`` up to the next ``===``."""
    lines = out.split(f"=== {title}", 1)[1].splitlines()[1:]
    end = next((i for i, text in enumerate(lines) if text.startswith("===")), len(lines))
    return [text for text in lines[:end] if text.strip()]


def endpoints_row(out: str, name: str) -> list[str]:
    for line in out.splitlines():
        cells = line.split()
        if cells and cells[0] == name and (len(cells) == 2 or ":" in line or "<none>" in line):
            return re.findall(rf"{IP}:\d+", line)
    raise AssertionError(f"no endpoints row {name}")


def uniq_counts(lines: list[str]) -> Counter:
    return Counter({m.group(2): int(m.group(1)) for line in lines
                    if (m := re.match(r"\s*(\d+) (\S+)", line))})


def test_01_headless_publish_not_ready():
    out = run_case("01-headless-publish-not-ready")
    assert re.search(r"peer-0\s+0/1\s+Running", out) and re.search(r"peer-1\s+0/1\s+Running", out)
    assert len(endpoints_row(out, "peers")) == 2
    assert endpoints_row(out, "peers-ready-only") == []
    ips = section(out, "A peers")
    assert len(ips) == 2 and all(re.fullmatch(IP, ip) for ip in ips)
    assert len(section(out, "A peer-0.peers")) == 1
    srv = section(out, "SRV _gossip._tcp.peers")
    assert sorted(line.split()[2:] for line in srv) == [
        ["8080", "peer-0.peers.pnra.svc.cluster.local."],
        ["8080", "peer-1.peers.pnra.svc.cluster.local."]]
    assert section(out, "status peers-ready-only") == ["status: NXDOMAIN"]
    assert "peer-1 exit=0" in out


def test_02_pod_hostname_subdomain_srv():
    out = run_case("02-pod-hostname-subdomain-srv")
    assert len(endpoints_row(out, "workers")) == 3
    assert len(section(out, "A alpha.workers")) == 1
    assert len(section(out, "A beta.workers")) == 1
    assert len(section(out, "A workers")) == 3
    assert "status: NXDOMAIN" in "\n".join(
        section(out, "status of the pod-name record of the pod without hostname"))
    targets = sorted(line.split()[3] for line in section(out, "SRV _rpc._tcp.workers"))
    assert len(targets) == 3 and all(line.split()[2] == "7000"
                                     for line in section(out, "SRV _rpc._tcp.workers"))
    assert "alpha.workers.subdom.svc.cluster.local." in targets
    assert "beta.workers.subdom.svc.cluster.local." in targets
    other = [t for t in targets if not t.startswith(("alpha.", "beta."))][0]
    assert re.fullmatch(r"10-244-\d+-\d+\.workers\.subdom\.svc\.cluster\.local\.", other)
    assert section(out, "SRV under a hostname") == ["(end)"]


def test_06_named_target_port_resolved_per_pod():
    out = run_case("06-named-targetport-mismatch")
    ports = sorted(e.split(":")[1] for e in endpoints_row(out, "api"))
    assert ports == ["8080", "9090"]
    counts = uniq_counts(out.splitlines())
    assert set(counts) == {"api-v1", "api-v2"} and sum(counts.values()) == 30


def test_07_multiport_names_required_every_cause():
    out = run_case("07-multiport-names-required")
    # kubectl prints one cause a line under the Service's name, as against a real cluster.
    assert ('The Service "dual-unnamed" is invalid: \n* spec.ports[0].name: Required value\n'
            "* spec.ports[1].name: Required value\n") in out
    half = next(line for line in out.splitlines() if '"dual-half"' in line)
    assert "spec.ports[1].name: Required value" in half and "spec.ports[0]" not in half
    assert "dual-unnamed " not in out and "dual-half " not in out
    assert re.search(r"dual\s+ClusterIP\s+\S+\s+<none>\s+80/TCP,8081/TCP", out)
    assert out.count("dual-backend exit=0") == 2


def test_08_node_port_collision_names_the_index():
    out = run_case("08-nodeport-collision")
    assert ('Service "demo-b" is invalid: spec.ports[0].nodePort: Invalid value: 30090: '
            "provided port is already allocated") in out
    assert ('Service "demo-d" is invalid: spec.ports[1].nodePort: Invalid value: 30090: '
            "provided port is already allocated") in out
    assert "service/demo-c created" in out
    assert re.search(r"demo-a\s+NodePort\s+\S+\s+<none>\s+80:30090/TCP", out)
    assert re.search(r"demo-c\s+NodePort\s+\S+\s+<none>\s+80:30092/TCP", out)
    assert "demo-b " not in out.split("kubernetes")[0].split("NAME")[-1]
    assert "demo-a-pod exit=0" in out


def test_10_session_affinity_times_out():
    out = run_case("10-session-affinity-timeout")
    burst = uniq_counts(section(out, "burst: 12 requests back to back"))
    assert len(burst) == 1 and sum(burst.values()) == 12
    idle = uniq_counts(section(out, "8 requests, each after 5 s idle"))
    assert len(idle) >= 2 and sum(idle.values()) == 8
    close = uniq_counts(section(out, "6 requests 1 s apart"))
    assert len(close) == 1 and sum(close.values()) == 6


def test_11_external_traffic_policy_local():
    out = run_case("11-etp-local-nodeport")
    assert "edge-backend exit=0" in out
    assert re.search(r"203\.0\.113\.10:\d+ exit=0", out)
    assert out.count("exit=28") == 2


def test_12_internal_traffic_policy_local_drops():
    out = run_case("12-itp-local-drop")
    assert "local-backend exit=0" in out
    m = re.search(r"exit=28 after (\d+) ms", out)
    assert m and int(m.group(1)) >= 2500


def test_13_hairpin_to_own_service():
    out = run_case("13-hairpin-own-service")
    assert out.count("self-web exit=0") == 7
    assert re.search(r"10\.244\.\d+\.1:\d+ exit=0", out)


def test_14_udp_conntrack_follows_a_replaced_endpoint():
    out = run_case("14-udp-conntrack-endpoint-replaced")
    assert 'pod "echo-a" deleted' in out
    replies = [line for line in out.splitlines() if "reply" in line]
    last_a = max(i for i, line in enumerate(replies) if "reply from echo-a" in line)
    first_b = min(i for i, line in enumerate(replies) if "reply from echo-b" in line)
    assert last_a < first_b
    assert any("no reply" in line or "timeout" in line for line in replies[last_a:first_b])
    assert "reply from echo-b" in replies[-1]


def test_15_no_ready_endpoints_reject_at_once():
    out = run_case("15-no-ready-endpoints-reject")
    assert len(re.findall(r"www-\S+\s+0/1\s+Running", out)) == 2
    assert endpoints_row(out, "www") == []
    fast = [int(ms) for ms in re.findall(r"exit=7 after (\d+) ms", out)]
    assert len(fast) == 3 and max(fast) < 1000, fast
    assert re.search(r"svc=10\.9[6-9]\.\d+\.\d+", out)


PATHS = {"/": "landing /", "/index.html": "catchall /index.html", "/foo": "foo-exact /foo",
         "/foo/": "foo-prefix /foo/", "/foo/bar": "foo-prefix /foo/bar",
         "/foobar": "catchall /foobar", "/FOO": "catchall /FOO"}


def test_16_ingress_path_matching():
    out = run_case("16-ingress-path-matching")
    assert re.search(r"paths\s+nginx\s+paths\.example", out)
    for path, want in PATHS.items():
        assert re.search(rf"^{re.escape(path)} -> {re.escape(want)}\s*$", out, re.M), \
            f"{path}: {out[-1500:]}"


def test_17_ingress_default_backend():
    out = run_case("17-ingress-default-backend")
    phase1, phase2 = out.split("=== phase 2", 1)
    assert "example.dev /app/x -> example-svc /app/x" in phase1
    assert "example.dev /other -> default-svc /other" in phase1
    assert "ingress.networking.k8s.io/fallback created" in out
    assert "example.dev /app/x -> example-svc /app/x" in phase2
    assert "example.dev /other -> default-svc /other" in phase2
    assert "wrong.dev / -> default-svc /" in phase2
    assert "ingress-nginx-controller.ingress-nginx.svc.cluster.local / -> default-svc /" \
        in phase2


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_every_case_has_a_test(case):
    assert f"test_{case[:2]}_" in Path(__file__).read_text()


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/cases is not beside the checkout")
@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_the_shared_cases_run_unchanged(case):
    """The copies are the shared cases, but for the path a script applies
    files from (``../shared/cases/`` there, ``tests/cases/`` here)."""
    ours, theirs = CASES / case, SHARED / case
    for name in sorted(p.name for p in theirs.glob("*.yaml")):
        assert (ours / name).read_text() == (theirs / name).read_text(), name
    assert (ours / "script.txt").read_text() == (theirs / "script.txt").read_text().replace(
        "../shared/cases/", "tests/cases/")
