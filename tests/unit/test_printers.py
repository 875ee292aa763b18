"""``kubectl get`` printers: columns, cells and the text, line by line as kubectl prints a
real API server's Table for the same objects (pkg/printers/internalversion/printers.go)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from k8snet.api import printers
from k8snet.api.printers import Column, age, columns, row, table
from k8snet.api.printers_base import format_label_selector, human_duration

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()
LB, FIELD = "172.18.0.200", "spec.containers{c0}"


def ago(seconds: float) -> str:
    return datetime.fromtimestamp(NOW - seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def obj(kind: str, name: str, seconds: float = 300, ns: str | None = "default",
        meta_extra: dict | None = None, **fields) -> dict:
    meta = {"name": name, "creationTimestamp": ago(seconds), **({"namespace": ns} if ns else {})}
    return {"kind": kind, "metadata": {**meta, **(meta_extra or {})}, **fields}


lines = str.splitlines


@pytest.mark.parametrize("seconds,text", [
    (0, "0s"), (45, "45s"), (119, "119s"), (120, "2m"), (312, "5m12s"), (599, "9m59s"),
    (600, "10m"), (3600, "60m"), (179 * 60 + 59, "179m"), (3 * 3600, "3h"), (11100, "3h5m"),
    (8 * 3600 - 60, "7h59m"), (8 * 3600, "8h"), (47 * 3600, "47h"), (48 * 3600, "2d"),
    (51 * 3600, "2d3h"), (8 * 86400 - 3600, "7d23h"), (8 * 86400, "8d"), (729 * 86400, "729d"),
    (730 * 86400, "2y"), (740 * 86400, "2y10d"), (8 * 365 * 86400, "8y"),
])
def test_age_is_human_duration(seconds, text):
    assert age(ago(seconds), NOW) == text == human_duration(seconds)


def test_age_edges():
    assert age("", NOW) == age("not a time", NOW) == "<unknown>"
    assert (age(ago(-1), NOW), age(ago(-5), NOW)) == ("0s", "<invalid>")   # 2s skew is "now"
    assert age("2026-03-01T11:59:30.250000Z", NOW) == "29s"


def pod(name: str, phase: str = "Running", statuses: list | None = None, node: str = "node1",
        ip: str = "10.244.1.5", containers: int = 1, seconds: float = 300, **meta) -> dict:
    ips = {"podIP": ip, "podIPs": [{"ip": ip}]} if ip else {}
    status = {"phase": phase, "containerStatuses": statuses or [], **ips}
    spec = {"containers": [{"name": f"c{i}"} for i in range(containers)], "nodeName": node}
    return obj("Pod", name, seconds, meta_extra=meta, spec=spec, status=status)


def cs(name: str = "c0", ready: bool = False, restarts: int = 0, **state) -> dict:
    return {"name": name, "ready": ready, "restartCount": restarts,
            "state": state or {"running": {"startedAt": ago(60)}}}


def test_pod_statuses():
    pods = [pod("unsched", "Pending", node="", ip=""),
            pod("new", "Pending", [cs(waiting={"reason": "ContainerCreating"})]),
            pod("job", "Succeeded", [cs(terminated={"exitCode": 0, "reason": "Completed"})]),
            pod("bad", "Failed", [cs(terminated={"exitCode": 2})]),
            pod("err", "Running", [cs(terminated={"exitCode": 1, "reason": "Error"})]),
            pod("half", "Running", [cs("c0", True), cs("c1")], containers=2),
            pod("old", "Running", [cs(ready=True)], deletionTimestamp=ago(5)),
            pod("p", statuses=[cs(ready=True, restarts=2)])]   # no finish time: no "ago"
    assert [row(p, NOW)[1:4] for p in pods] == [
        ["0/1", "Pending", "0"], ["0/1", "ContainerCreating", "0"], ["0/1", "Completed", "0"],
        ["0/1", "ExitCode:2", "0"], ["0/1", "Error", "0"], ["1/2", "Running", "0"],
        ["1/1", "Terminating", "0"], ["1/1", "Running", "2"]]
    init = pod("init", "Pending", [cs(waiting={"reason": "PodInitializing"})])
    init["spec"]["initContainers"] = [{"name": "i0"}, {"name": "i1"}]
    init["status"]["initContainerStatuses"] = [cs("i0", terminated={"exitCode": 0}), cs("i1")]
    assert row(init, NOW)[1:4] == ["0/1", "Init:1/2", "0"]
    gated = pod("gated", statuses=[cs(ready=True)])
    gated["spec"]["readinessGates"] = [{"conditionType": "a/lb"}, {"conditionType": "a/dns"}]
    gated["status"]["conditions"] = [{"type": "a/lb", "status": "True"}]
    assert row(gated, NOW)[-1] == "1/2"


def test_pod_table_crashloop_terminating_pending():
    crash = cs(restarts=3, waiting={"reason": "CrashLoopBackOff"}) | {
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(12)}}}
    pods = [pod("web-1", statuses=[cs(ready=True)], seconds=312),
            pod("web-2", statuses=[crash], ip="10.244.2.7", node="node2", seconds=3 * 3600),
            pod("web-3", statuses=[cs(ready=True)], deletionTimestamp=ago(2)),
            pod("web-4", "Pending", node="", ip="", seconds=40)]
    assert lines(table(pods, NOW)) == [
        "NAME    READY   STATUS             RESTARTS      AGE",
        "web-1   1/1     Running            0             5m12s",
        "web-2   0/1     CrashLoopBackOff   3 (12s ago)   3h",
        "web-3   1/1     Terminating        0             5m",
        "web-4   0/1     Pending            0             40s",
    ]
    assert lines(table(pods[1::2], NOW, wide=True, namespace_column=True)) == [
        "NAMESPACE   NAME    READY   STATUS             RESTARTS      AGE   IP           "
        "NODE     NOMINATED NODE   READINESS GATES",
        "default     web-2   0/1     CrashLoopBackOff   3 (12s ago)   3h    10.244.2.7   "
        "node2    <none>           <none>",
        "default     web-4   0/1     Pending            0             40s   <none>       "
        "<none>   <none>           <none>",
    ]


def node(name: str, ready: str = "True", ip: str = "172.18.0.11", **labels) -> dict:
    info = {"kubeletVersion": "v1.31.0", "osImage": "Debian GNU/Linux 12",
            "kernelVersion": "6.1.0-18-amd64", "containerRuntimeVersion": "containerd://1.7.13"}
    return obj("Node", name, 86400 * 3, None, {"labels": labels}, status={
        "conditions": [{"type": "Ready", "status": ready}], "nodeInfo": info,
        "addresses": [{"type": "InternalIP", "address": ip}]})


def test_nodes():
    cp = node("cp", **{"node-role.kubernetes.io/control-plane": ""})
    n1 = node("node1", ip="172.18.0.12")
    n2 = node("node2", "False", "172.18.0.13") | {"spec": {"unschedulable": True}}
    assert lines(table([cp, n1, n2], NOW, namespace_column=True)) == [
        "NAME    STATUS                        ROLES           AGE   VERSION",
        "cp      Ready                         control-plane   3d    v1.31.0",
        "node1   Ready                         <none>          3d    v1.31.0",
        "node2   NotReady,SchedulingDisabled   <none>          3d    v1.31.0",
    ]
    assert lines(table([n1], NOW, wide=True)) == [
        "NAME    STATUS   ROLES    AGE   VERSION   INTERNAL-IP   EXTERNAL-IP   OS-IMAGE        "
        "      KERNEL-VERSION   CONTAINER-RUNTIME",
        "node1   Ready    <none>   3d    v1.31.0   172.18.0.12   <none>        Debian GNU/Linux "
        "12   6.1.0-18-amd64   containerd://1.7.13",
    ]


def svc(name: str, type_: str = "ClusterIP", ip: str = "10.96.0.10", ports=(), **spec) -> dict:
    ips = {"clusterIP": ip, "clusterIPs": [ip]} if ip else {}
    return obj("Service", name, 600, spec={"type": type_, "ports": list(ports), **ips, **spec})


def test_services():
    web = svc("web", ports=[{"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}],
              selector={"tier": "frontend", "app": "web"})
    np = svc("np", "NodePort", "10.96.0.11", [{"port": 80, "nodePort": 30080},
                                              {"port": 53, "protocol": "UDP", "nodePort": 30053}])
    lb = svc("lb", "LoadBalancer", "10.96.0.12", [{"port": 80, "nodePort": 31000}])
    lb_up = svc("lb-up", "LoadBalancer", "10.96.0.13", [{"port": 80, "nodePort": 31001}],
                selector={"app": "db"}) | {"status": {"loadBalancer": {"ingress": [{"ip": LB}]}}}
    headless = svc("db", ip="None", ports=[{"port": 6379}])
    ext = svc("ext", "ExternalName", ip="", externalName="example.com")
    assert lines(table([web, np, lb, lb_up, headless, ext], NOW)) == [
        "NAME    TYPE           CLUSTER-IP   EXTERNAL-IP    PORT(S)                     AGE",
        "web     ClusterIP      10.96.0.10   <none>         80/TCP,443/TCP              10m",
        "np      NodePort       10.96.0.11   <none>         80:30080/TCP,53:30053/UDP   10m",
        "lb      LoadBalancer   10.96.0.12   <pending>      80:31000/TCP                10m",
        "lb-up   LoadBalancer   10.96.0.13   172.18.0.200   80:31001/TCP                10m",
        "db      ClusterIP      None         <none>         6379/TCP                    10m",
        "ext     ExternalName   <none>       example.com    <none>                      10m",
    ]
    assert lines(table([lb_up], NOW, wide=True))[1].endswith("80:31001/TCP   10m   app=db")
    web["spec"]["externalIPs"] = ["192.0.2.1"]
    assert [row(web, NOW)[3], row(web, NOW)[-1], row(ext, NOW)[-1]] == [
        "192.0.2.1", "app=web,tier=frontend", "<none>"]


def test_endpoints_and_slices():
    def ep(name: str, *subsets: dict) -> dict:
        return obj("Endpoints", name, 600, subsets=list(subsets))

    def addrs(*ips: str) -> list:
        return [{"ip": ip} for ip in ips]

    two = ep("web", {"addresses": addrs("10.244.1.2", "10.244.2.3"), "ports": [{"port": 8080}]})
    many = ep("big", {"addresses": addrs(*(f"10.244.{i}.2" for i in range(1, 5))),
                      "notReadyAddresses": addrs("10.244.9.9"),
                      "ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81}]})
    unready = ep("unready", {"notReadyAddresses": addrs("10.244.1.9"), "ports": [{"port": 80}]})
    headless = ep("hl", {"addresses": addrs("10.244.1.2", "fd00::2")})
    assert lines(table([two, many, ep("none"), unready, headless], NOW)) == [
        "NAME      ENDPOINTS                                               AGE",
        "web       10.244.1.2:8080,10.244.2.3:8080                         10m",
        "big       10.244.1.2:80,10.244.2.2:80,10.244.3.2:80 + 5 more...   10m",
        "none      <none>                                                  10m",
        "unready                                                           10m",
        "hl        10.244.1.2,fd00::2                                      10m",
    ]
    assert row(ep("v6", {"addresses": addrs("fd00::2"), "ports": [{"port": 80}]}), NOW)[1] \
        == "[fd00::2]:80"
    eps = obj("EndpointSlice", "web-abc", 60, addressType="IPv4",
              ports=[{"name": "http", "port": 8080}, {"name": "metrics"}],
              endpoints=[{"addresses": [f"10.1.{i}.4"]} for i in range(1, 6)])
    bare = obj("EndpointSlice", "web-x", 60, addressType="IPv6")
    assert lines(table([eps, bare], NOW)) == [
        "NAME      ADDRESSTYPE   PORTS          ENDPOINTS                                AGE",
        "web-abc   IPv4          8080,metrics   10.1.1.4,10.1.2.4,10.1.3.4 + 2 more...   60s",
        "web-x     IPv6          <unset>        <unset>                                  60s",
    ]


def workload(kind: str, name: str, spec: dict, status: dict) -> dict:
    template = {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": f"{name}:1.0"},
                                        {"name": "sidecar", "image": "busybox"}]}}
    return obj(kind, name, 600, apiVersion="apps/v1", status=status, spec={
        "selector": {"matchLabels": {"app": name}}, "template": template, **spec})


def test_workloads():
    dep = workload("Deployment", "web", {"replicas": 3},
                   {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2})
    assert lines(table([dep], NOW, wide=True)) == [
        "NAME   READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS    IMAGES            SELECTOR",
        "web    2/3     3            2           10m   web,sidecar   web:1.0,busybox   app=web",
    ]
    rs = workload("ReplicaSet", "web-5d8f7", {"replicas": 3}, {"replicas": 3, "readyReplicas": 3})
    assert lines(table([rs], NOW)) == ["NAME        DESIRED   CURRENT   READY   AGE",
                                       "web-5d8f7   3         3         3       10m"]
    sts = workload("StatefulSet", "db", {"replicas": 3}, {"readyReplicas": 1})
    assert lines(table([sts], NOW, wide=True)) == [
        "NAME   READY   AGE   CONTAINERS   IMAGES",
        "db     1/3     10m   db,sidecar   db:1.0,busybox"]
    ds = workload("DaemonSet", "agent", {}, {"desiredNumberScheduled": 3, "numberReady": 2,
        "currentNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 2})
    ds["spec"]["template"]["spec"]["nodeSelector"] = {"kubernetes.io/os": "linux"}
    assert lines(table([ds], NOW, namespace_column=True)) == [
        "NAMESPACE   NAME    DESIRED   CURRENT   READY   UP-TO-DATE   AVAILABLE   "
        "NODE SELECTOR            AGE",
        "default     agent   3         3         2       3            2           "
        "kubernetes.io/os=linux   10m"]
    assert row(ds, NOW)[-1] == "app=agent"
    bare = {"kind": "Deployment", "metadata": {"name": "x"}}   # 1 replica, selector "" (upstream)
    assert row(bare, NOW)[1] == "0/1" and row(bare, NOW)[-1] == ""
    owner = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "controller": True}
    cr = obj("ControllerRevision", "db-7c9d", 240, meta_extra={"ownerReferences": [owner]},
             revision=2)
    assert row(cr, NOW) == ["db-7c9d", "statefulset.apps/db", 2, "4m"]


def test_ingress_and_class():
    ing = obj("Ingress", "web", 180, spec={"ingressClassName": "nginx", "tls": [{}],
                                           "rules": [{"host": "a.io"}, {"host": "b.io"}]},
              status={"loadBalancer": {"ingress": [{"ip": "172.18.0.12"}, {"ip": "10.0.0.9"}]}})
    many = obj("Ingress", "many", 180, spec={"rules": [{"host": f"h{i}.io"} for i in range(5)]})
    catchall = obj("Ingress", "all", 180, spec={"rules": [{}]})
    assert lines(table([ing, many, catchall], NOW)) == [
        "NAME   CLASS    HOSTS                           ADDRESS                PORTS     AGE",
        "web    nginx    a.io,b.io                       10.0.0.9,172.18.0.12   80, 443   3m",
        "many   <none>   h0.io,h1.io,h2.io + 2 more...                          80        3m",
        "all    <none>   *                                                      80        3m",
    ]
    ic = obj("IngressClass", "nginx", 3600, None, spec={"controller": "k8s.io/ingress-nginx",
             "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters",
                            "name": "external"}})
    assert lines(table([ic], NOW, namespace_column=True)) == [
        "NAME    CONTROLLER             PARAMETERS                                   AGE",
        "nginx   k8s.io/ingress-nginx   IngressParameters.k8s.example.com/external   60m",
    ]


def test_network_policies_and_selectors():
    deny = obj("NetworkPolicy", "deny-all", 90, spec={"podSelector": {}})
    web = obj("NetworkPolicy", "allow-web", 90, spec={"podSelector": {
        "matchLabels": {"tier": "frontend", "app": "web"},
        "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]},
                             {"key": "canary", "operator": "DoesNotExist"}]}})
    assert lines(table([deny, web], NOW)) == [
        "NAME        POD-SELECTOR                                      AGE",
        "deny-all    <none>                                            90s",
        "allow-web   app=web,!canary,env in (dev,prod),tier=frontend   90s",
    ]
    assert format_label_selector(None) == "<none>"
    assert format_label_selector({"matchExpressions": [
        {"key": "a", "operator": "NotIn", "values": ["x"]}, {"key": "b", "operator": "Exists"}]}
    ) == "a notin (x),b"
    assert format_label_selector({"matchExpressions": [{"key": "a", "operator": "Gt"}]}) \
        == "<error>"


def test_simple_kinds():
    ns = obj("Namespace", "kube-system", 86400 * 10, None, status={"phase": "Active"})
    gone = obj("Namespace", "old", 60, None, status={"phase": "Terminating"})
    assert lines(table([ns, gone], NOW, namespace_column=True)) == [
        "NAME          STATUS        AGE", "kube-system   Active        10d",
        "old           Terminating   60s"]
    cm = obj("ConfigMap", "cfg", data={"a": "1", "b": "2"}, binaryData={"c": "AA=="})
    sec = obj("Secret", "tls", type="kubernetes.io/tls", data={"tls.crt": "x", "tls.key": "y"})
    assert row(cm, NOW) == ["cfg", 3, "5m"]
    assert lines(table([sec], NOW)) == ["NAME   TYPE                DATA   AGE",
                                        "tls    kubernetes.io/tls   2      5m"]
    assert lines(table([obj("ServiceAccount", "default", secrets=[])], NOW)) == [
        "NAME      SECRETS   AGE", "default   0         5m"]


def test_events():
    sched = obj("Event", "web-1.17a2b3c4d5e6f708", reason="Scheduled", type="Normal",
                involvedObject={"kind": "Pod", "name": "web-1"}, lastTimestamp=ago(65),
                message="Successfully assigned default/web-1 to node1")
    backoff = obj("Event", "web-2.17a2b3c4d5e6f709", reason="BackOff", type="Warning", count=7,
                  involvedObject={"kind": "Pod", "name": "web-2", "fieldPath": FIELD},
                  message="Back-off restarting failed container\n",
                  firstTimestamp=ago(400), lastTimestamp=ago(12),
                  source={"component": "kubelet", "host": "node2"})
    assert lines(table([sched, backoff], NOW)) == [
        "LAST SEEN   TYPE      REASON      OBJECT      MESSAGE",
        "65s         Normal    Scheduled   pod/web-1   Successfully assigned default/web-1 to "
        "node1",
        "12s         Warning   BackOff     pod/web-2   Back-off restarting failed container",
    ]
    assert row(backoff, NOW)[4:] == [FIELD, "kubelet, node2",
                                     "Back-off restarting failed container", "6m40s", 7,
                                     "web-2.17a2b3c4d5e6f709"]
    series = {"kind": "Event", "metadata": {"name": "e"}, "eventTime": ago(300),
              "series": {"count": 4, "lastObservedTime": "2026-03-01T11:59:50.000000Z"}}
    assert row(series, NOW)[0] == "10s" and row(series, NOW)[7:9] == ["5m", 4]


def test_persistent_volume_claims():
    pending = obj("PersistentVolumeClaim", "data", status={"phase": "Pending"}, spec={
        "accessModes": ["ReadWriteOnce"], "storageClassName": "standard"})
    bound = obj("PersistentVolumeClaim", "logs", spec={
        "volumeName": "pvc-1234", "storageClassName": "standard", "volumeMode": "Filesystem"},
        status={"phase": "Bound", "capacity": {"storage": "5Gi"},
                "accessModes": ["ReadWriteMany", "ReadWriteOnce"]})
    assert lines(table([pending, bound], NOW)) == [
        "NAME   STATUS    VOLUME     CAPACITY   ACCESS MODES   STORAGECLASS   "
        "VOLUMEATTRIBUTESCLASS   AGE",
        "data   Pending                                        standard       "
        "<unset>                 5m",
        "logs   Bound     pvc-1234   5Gi        RWO,RWX        standard       "
        "<unset>                 5m",
    ]
    assert row(bound, NOW)[-1] == "Filesystem"


def test_get_all_unknown_kinds_and_layout():
    dep = workload("Deployment", "web", {}, {"readyReplicas": 1, "updatedReplicas": 1,
                                              "availableReplicas": 1})
    objs = [pod("web-1", statuses=[cs(ready=True)]), svc("web", ports=[{"port": 80}]), dep,
            pod("web-2", statuses=[cs(ready=True)])]
    assert lines(table(objs, NOW, show_kind=True)) == [
        "NAME        READY   STATUS    RESTARTS   AGE",
        "pod/web-1   1/1     Running   0          5m",
        "pod/web-2   1/1     Running   0          5m",
        "",
        "NAME          TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE",
        "service/web   ClusterIP   10.96.0.10   <none>        80/TCP    10m",
        "",
        "NAME                  READY   UP-TO-DATE   AVAILABLE   AGE",
        "deployment.apps/web   1/1     1            1           10m",
    ]
    widget = obj("Widget", "w1", 45, apiVersion="example.com/v1")
    assert columns("Widget")[1].type == "date"
    assert lines(table([widget], NOW, namespace_column=True, show_kind=True)) == [
        "NAMESPACE   NAME                    AGE", "default     widget.example.com/w1   45s"]
    assert table([], NOW) == "" == printers.cell_text(None) and printers.cell_text(True) == "true"
    assert printers.cell_text("two\nlines") == "two..."
    assert printers.layout([["A", "B"], ["", "x"]]) == "A     B\n      x"


UPSTREAM_COLUMNS = """
Pod: NAME READY STATUS RESTARTS AGE | IP NODE NOMINATED_NODE READINESS_GATES
Node: NAME STATUS ROLES AGE VERSION | INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION
      CONTAINER-RUNTIME
Service: NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE | SELECTOR
Endpoints: NAME ENDPOINTS AGE |
EndpointSlice: NAME ADDRESSTYPE PORTS ENDPOINTS AGE |
Deployment: NAME READY UP-TO-DATE AVAILABLE AGE | CONTAINERS IMAGES SELECTOR
ReplicaSet: NAME DESIRED CURRENT READY AGE | CONTAINERS IMAGES SELECTOR
StatefulSet: NAME READY AGE | CONTAINERS IMAGES
DaemonSet: NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE_SELECTOR AGE
           | CONTAINERS IMAGES SELECTOR
ControllerRevision: NAME CONTROLLER REVISION AGE |
Ingress: NAME CLASS HOSTS ADDRESS PORTS AGE |
IngressClass: NAME CONTROLLER PARAMETERS AGE |
Namespace: NAME STATUS AGE |
ConfigMap: NAME DATA AGE |
Secret: NAME TYPE DATA AGE |
ServiceAccount: NAME SECRETS AGE |
Event: LAST_SEEN TYPE REASON OBJECT MESSAGE | SUBOBJECT SOURCE FIRST_SEEN COUNT NAME
NetworkPolicy: NAME POD-SELECTOR AGE |
PersistentVolumeClaim: NAME STATUS VOLUME CAPACITY ACCESS_MODES STORAGECLASS
                       VOLUMEATTRIBUTESCLASS AGE | VOLUMEMODE
Widget: NAME AGE |
"""   # kubectl's headers | the -o wide ones (spaces in a header as _)
EXPECTED = {kind: [part.split() for part in rest.split("|")] for kind, rest in (
    entry.split(":", 1) for entry in UPSTREAM_COLUMNS.replace("\n ", " ").split("\n") if entry)}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_columns_match_upstream_and_minimal_objects_never_raise(kind):
    cols = columns(kind)
    for priority, names in enumerate(EXPECTED[kind]):
        assert [c.name.upper().replace(" ", "_") for c in cols if c.priority == priority] == names
    assert all(isinstance(c, Column) and c.as_json()["description"] for c in cols)
    assert [c.format for c in cols].count("name") == 1
    assert kind == "Widget" or printers.has_printer(kind)
    for minimal in ({"kind": kind, "metadata": {"name": "x"}},
                    {"kind": kind, "metadata": {"name": "x"}, "spec": None, "status": "odd"}):
        cells = row(minimal, NOW)
        assert len(cells) == len(cols)
        assert cells[next(i for i, c in enumerate(cols) if c.format == "name")] == "x"
        assert table([minimal], NOW, wide=True, namespace_column=True, show_kind=True)
