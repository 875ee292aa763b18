"""No injection: values that reach nginx.conf or a command are refused.

Three lines of defence, each tested on its own: validation with the API server's
rules and wording (plus the lab's Ingress path rule), nginx_conf refusing what
bypassed validation, and the topology loader refusing any value that would reach
Mininet's shell commands other than in a strict, canonical form.  A fixed list of
injections always runs; hypothesis, when installed, generates more.
"""
from __future__ import annotations

import re
import shutil
import socket
from pathlib import Path

import pytest
import yaml

from k8snet.addons import nginx_conf as nc
from k8snet.api.validation import validate
from k8snet.load.topofile import TopologyError, load, parse

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:                      # hypothesis is a dev extra
    given = None

ISSUE_HOST = "a.example; location / { alias /; autoindex on; } #"
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]"
    "([-a-z0-9]*[a-z0-9])?)*')")
# Break out of a token, a directive, a block or a line; every one names "pwned".
INJECTIONS = [
    ISSUE_HOST + " pwned",
    "a.example;pwned",
    "a.example pwned",
    "a.example\nlocation / { pwned; }",
    "a.example\r\npwned",
    'a.example"; pwned "',
    "a.example'; pwned '",
    "a.example{pwned}",
    "a.example}pwned{",
    "a.example#pwned",
    "a.example$pwned",
    "a.example${pwned}",
    "a.example\\;pwned",
    "a.example\tpwned",
    "a.example\x00pwned",
    "a.example`pwned`",
    "a.example$(pwned)",
    "a.example|pwned",
    "a.example&&pwned",
    "a.example>pwned",
    "*.a.example;pwned",
    "a.example%0apwned",
]
# What could end an nginx token, directive or block, or a line.
DANGEROUS = set(";{}#$\"'\\ \t\r\n\x00`|<>")
PATH_INJECTIONS = ["/" + text for text in INJECTIONS if DANGEROUS & set(text)] + [
    "/x; } server { listen 81; location /pwned { alias /; } #",
    '/x" pwned "',
    "/x'pwned'",
    "/x\nlocation /pwned {",
    "/x;pwned",
    "/x$pwned",
    "/x#pwned",
    "/x{pwned}",
    "/x\\pwned",
    "/x pwned",
]


def ingress(host: str | None = None, path: str = "/", path_type: str = "Prefix",
            service: str = "web") -> dict:
    rule: dict = {"http": {"paths": [{"path": path, "pathType": path_type, "backend": {
        "service": {"name": service, "port": {"number": 80}}}}]}}
    if host is not None:
        rule["host"] = host
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "i", "namespace": "default",
                         "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"rules": [rule]}}


SERVICES = {"default/web": {"metadata": {"name": "web", "namespace": "default"},
                            "spec": {"clusterIP": "10.96.0.10",
                                     "ports": [{"name": "http", "port": 80}]}}}


def errors(obj: dict) -> list[str]:
    return [str(e) for e in validate(obj)]


def assert_well_formed(text: str, marker: str | None = "pwned") -> None:
    """Every directive line ends a statement or opens/closes a block, braces balance,
    and nothing outside comments came from an injection (holds ``marker``)."""
    depth = 0
    for line in text.splitlines():
        code = line.strip()
        if not code or code.startswith("#"):
            continue
        assert marker is None or marker not in code, line
        assert code.endswith((";", "{", "}")), line
        unquoted = re.sub(r'"[^"]*"', '""', code)
        assert "#" not in unquoted, line
        depth += unquoted.count("{") - unquoted.count("}")
        assert depth >= 0, line
    assert depth == 0


# --- validation: the API server's rules and messages ----------------------------------


def test_the_issue_ingress_is_refused_with_the_api_servers_message():
    assert errors(ingress(ISSUE_HOST)) == [
        f'spec.rules[0].host: Invalid value: "{ISSUE_HOST}": {SUBDOMAIN_MSG}']


@pytest.mark.parametrize("host", INJECTIONS)
def test_injected_hosts_are_refused(host):
    found = errors(ingress(host))
    assert found and all(e.startswith("spec.rules[0].host: Invalid value: ") for e in found)


@pytest.mark.parametrize("path_type", ["Exact", "Prefix"])
@pytest.mark.parametrize("path", PATH_INJECTIONS)
def test_injected_exact_and_prefix_paths_are_refused(path, path_type):
    found = errors(ingress("a.example", path, path_type))
    assert any(e.startswith("spec.rules[0].http.paths[0].path: Invalid value: ")
               for e in found), found


def test_path_message_names_the_lab_rule():
    (message,) = errors(ingress("a.example", "/a;b", "Prefix"))
    assert message.startswith('spec.rules[0].http.paths[0].path: Invalid value: "/a;b": '
                              "may contain only letters, digits and the URL path characters")
    assert "nginx.conf" in message


@pytest.mark.parametrize(("path", "message"), [
    ("/a//b", "must not contain '//'"), ("/a/./b", "must not contain '/./'"),
    ("/a/../b", "must not contain '/../'"), ("/a%2fb", "must not contain '%2f'"),
    ("/a%2Fb", "must not contain '%2F'"), ("/a/..", "cannot end with '/..'"),
    ("/a/.", "cannot end with '/.'"), ("a", "must be an absolute path"),
])
def test_upstream_path_rules(path, message):
    assert f'spec.rules[0].http.paths[0].path: Invalid value: "{path}": {message}' in \
        errors(ingress("a.example", path, "Exact"))


def test_implementation_specific_paths_stay_free_form_as_upstream():
    """Blog manifests use regexes there; nginx_conf refuses them (below)."""
    assert errors(ingress("a.example", "/api(/|$)(.*)", "ImplementationSpecific")) == []
    assert errors(ingress("a.example", "/x;pwned", "ImplementationSpecific")) == []


def test_fine_hosts_and_paths_pass():
    for host, path in (("a.example", "/"), ("*.a.example", "/v1/api.json"),
                       ("x-1.b.example", "/~user/a:b@c/(x)*+,=!&")):
        assert errors(ingress(host, path, "Prefix")) == []


@pytest.mark.parametrize("obj", [
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
     "spec": {"ports": [{"port": 80}], "externalIPs": ["2001:db8::1%x;flush ruleset"]}},
    {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "s"},
     "addressType": "IPv6", "endpoints": [{"addresses": ["2001:db8::1%x;flush ruleset"]}]},
])
def test_ip_zones_are_refused_as_go_parse_ip_does(obj):
    found = errors(obj)
    assert any('Invalid value: "2001:db8::1%x;flush ruleset": must be a valid IP' in e
               for e in found), found


# --- nginx_conf: a second line of defence ----------------------------------------------


@pytest.mark.parametrize("host", INJECTIONS)
def test_nginx_conf_refuses_a_bypassing_host(host):
    r = nc.render([ingress(host)], SERVICES, "/run/ingress")
    (warning,) = r.warnings["default/i"]
    assert warning.startswith("spec.rules[0].host: ") and warning.endswith("rule ignored")
    assert_well_formed(r.text)


@pytest.mark.parametrize("path_type", ["Exact", "Prefix", "ImplementationSpecific"])
@pytest.mark.parametrize("path", PATH_INJECTIONS)
def test_nginx_conf_refuses_a_bypassing_path(path, path_type):
    r = nc.render([ingress("a.example", path, path_type)], SERVICES, "/run/ingress")
    (warning,) = r.warnings["default/i"]
    assert warning.startswith("spec.rules[0].http.paths[0].path: ")
    assert warning.endswith("path ignored")
    assert_well_formed(r.text)


@pytest.mark.parametrize("name", [text.replace("a.example", "web") for text in INJECTIONS])
def test_nginx_conf_refuses_a_bypassing_service_name(name):
    services = {**SERVICES, f"default/{name}": SERVICES["default/web"]}
    r = nc.render([ingress("a.example", "/x", "Prefix", name)], services, "/run/ingress")
    (warning,) = r.warnings["default/i"]
    assert warning.startswith("spec.rules[0].http.paths[0].backend.service.name: ")
    assert "is not a valid Service name" in warning
    assert_well_formed(r.text)
    assert "return 503;" in r.text


@pytest.mark.parametrize("kwargs", [{"address": "fe80::1%lo;}"},
                                    {"conf_dir": "/run/x\";pwned"}])
def test_nginx_conf_refuses_unsafe_parameters(kwargs):
    args = {"conf_dir": "/run/ingress", **kwargs}
    with pytest.raises(ValueError):
        nc.render([], SERVICES, **args)


def test_nginx_conf_never_writes_a_quote_or_newline_into_a_token():
    with pytest.raises(ValueError, match="refusing to write"):
        nc._arg('/x"; pwned')
    with pytest.raises(ValueError, match="refusing to write"):
        nc._arg("/x\npwned")


@pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
                    reason="nginx is not installed")
def test_nginx_accepts_what_is_rendered_from_every_injection(tmp_path):
    ingresses = [ingress(host, path, kind) for host, path, kind in (
        [(h, "/", "Prefix") for h in INJECTIONS]
        + [("a.example", p, k) for p in PATH_INJECTIONS for k in ("Exact", "Prefix")])]
    for i, ing in enumerate(ingresses):
        ing["metadata"]["name"] = f"i{i}"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = nc.render(ingresses, SERVICES, str(tmp_path), port=port, address="127.0.0.1")
    assert_well_formed(r.text)
    assert nc.check(r.text, nc.find_nginx()) is None


# --- topology files: nothing reaches a shell unchecked ------------------------------------

TOPOLOGY = {"name": "t", "fabric": {"kind": "single"},
            "nodes": [{"name": "n1", "labels": {"zone": "a"}}],
            "network": {"nodeCIDR": "172.18.0.0/24", "fabricGateway": "172.18.0.1",
                        "gatewayRouter": "172.18.0.2", "podCIDR": "10.244.0.0/16",
                        "nodeCIDRMaskSize": 24, "serviceCIDR": "10.96.0.0/12",
                        "loadBalancerPool": "198.51.100.0/24",
                        "externalCIDR": "203.0.113.0/24", "extIP": "203.0.113.10",
                        "extDNS": "203.0.113.53", "clusterDomain": "cluster.local"},
            "links": {"bw": 100, "delay": "5ms", "loss": 1}}
METACHARACTERS = [";touch /tmp/pwned", "$(touch /tmp/pwned)", "`touch /tmp/pwned`",
                  "|touch /tmp/pwned", "&&touch /tmp/pwned", "\ntouch /tmp/pwned",
                  " >/tmp/pwned", "'\"", "%eth0;touch /tmp/pwned"]
# (where in the mapping, the field path the message names)
STRING_FIELDS = [(("name",), "name"), (("fabric", "kind"), "fabric.kind"),
                 (("nodes", 0, "name"), "nodes[0].name"),
                 (("nodes", 0, "labels", "zone"), "nodes[0].labels.zone"),
                 (("links", "delay"), "links.delay"), (("links", "bw"), "links.bw"),
                 (("links", "loss"), "links.loss")] + [
                 (("network", key), f"network.{key}") for key in TOPOLOGY["network"]]


def with_value(keys: tuple, value) -> dict:
    data = yaml.safe_load(yaml.safe_dump(TOPOLOGY))
    holder = data
    for key in keys[:-1]:
        holder = holder[key]
    base = holder[keys[-1]]
    holder[keys[-1]] = f"{base}{value}"
    return data


def test_the_reference_topology_loads():
    spec = parse(yaml.safe_load(yaml.safe_dump(TOPOLOGY)), "ref.yaml")
    assert spec.nodes[0].labels == (("zone", "a"),)
    assert spec.link.delay == "5ms"


@pytest.mark.parametrize("meta", METACHARACTERS)
@pytest.mark.parametrize(("keys", "field"), STRING_FIELDS)
def test_a_shell_metacharacter_in_any_topology_field_is_refused(tmp_path, keys, field, meta):
    path = tmp_path / "topo.yaml"
    path.write_text(yaml.safe_dump(with_value(keys, meta)))
    with pytest.raises(TopologyError) as info:
        load(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}: {field}"), message
    assert "\n" not in message


@pytest.mark.parametrize("meta", METACHARACTERS)
def test_a_shell_metacharacter_in_a_label_key_is_refused(meta):
    data = yaml.safe_load(yaml.safe_dump(TOPOLOGY))
    data["nodes"][0]["labels"] = {f"zone{meta}": "a"}
    with pytest.raises(TopologyError, match=r"^t\.yaml: nodes\[0\]\.labels: key "):
        parse(data, "t.yaml")


@pytest.mark.parametrize("address", ["fe80::1%eth0;touch /tmp/pwned", "2001:db8::1",
                                     "203.0.113.10 ", "203.0.113.010"])
def test_addresses_are_ipv4_without_zone_or_padding(address):
    data = yaml.safe_load(yaml.safe_dump(TOPOLOGY))
    data["network"]["extIP"] = address
    with pytest.raises(TopologyError, match=r"network\.extIP: .*is not an IPv4 address"):
        parse(data, "t.yaml")


def test_values_are_handed_on_in_canonical_form():
    data = yaml.safe_load(yaml.safe_dump(TOPOLOGY))
    net = parse(data, "t.yaml").network
    assert net.pod_cidr == "10.244.0.0/16" and net.ext_dns_ip == "203.0.113.53"


@pytest.mark.parametrize(("where", "extra"), [
    ("fabric", {"kind": "single", "cmd": "x"}), ("links", {"shell": "x"}),
    ("nodes", [{"name": "n1", "ip": "1.2.3.4;x"}])])
def test_unknown_fields_are_refused_not_ignored(where, extra):
    data = yaml.safe_load(yaml.safe_dump(TOPOLOGY))
    data[where] = extra
    with pytest.raises(TopologyError, match="unknown field"):
        parse(data, "t.yaml")


@pytest.mark.parametrize("topo", ["single,3;touch pwned", "single,$(id)", "single,٣",
                                  "single,3\ntouch pwned"])
def test_topo_option_count_is_digits_only(topo):
    with pytest.raises(TopologyError, match="is not a number"):
        load(topo)


# --- generated inputs (hypothesis, a dev extra) -------------------------------------------

_SAFE_HOST = re.compile(r"(\*\.)?[a-z0-9.-]*")
_SAFE_PATH = re.compile(r"[A-Za-z0-9/._~!&()*+,=:@%-]*")

if given is not None:
    _texts = st.text(st.one_of(st.characters(codec="utf-8"),
                               st.sampled_from("ab1.-*/;{}#$\"'\\ \n\t`|<>%")), max_size=40)

    @settings(max_examples=300, deadline=None)
    @given(host=_texts)
    def test_generated_hosts_validation_admits_only_safe_text(host):
        if not errors(ingress(host or "a")):
            assert _SAFE_HOST.fullmatch(host or "a")

    @settings(max_examples=300, deadline=None)
    @given(path=_texts.map(lambda t: "/" + t),
           kind=st.sampled_from(["Exact", "Prefix"]))
    def test_generated_paths_validation_admits_only_safe_text(path, kind):
        if not errors(ingress("a.example", path, kind)):
            assert _SAFE_PATH.fullmatch(path)

    @settings(max_examples=300, deadline=None)
    @given(host=_texts, path=_texts, name=_texts,
           kind=st.sampled_from(["Exact", "Prefix", "ImplementationSpecific"]))
    def test_generated_values_never_break_nginx_conf(host, path, name, kind):
        marker = "pwned"
        ing = ingress(host + marker, "/" + path + marker, kind, name + marker)
        services = {**SERVICES, f"default/{name}{marker}": SERVICES["default/web"]}
        r = nc.render([ing], services, "/run/ingress")
        assert_well_formed(r.text, marker=None)
        code = [line.strip() for line in r.text.splitlines() if not line.strip().startswith("#")]
        if any(line.startswith("server_name") and marker in line for line in code):
            assert _SAFE_HOST.fullmatch(host + marker)
        if any(line.startswith("location") and marker in line for line in code):
            assert re.fullmatch(r"[A-Za-z0-9/._~!&()*+,=:@-]*", "/" + path + marker)
        if "proxy_pass" in r.text:
            assert re.fullmatch(r"[a-z][-a-z0-9]*", name + marker)

    @settings(max_examples=200, deadline=None)
    @given(keys=st.sampled_from(STRING_FIELDS), value=_texts)
    def test_generated_topology_values_are_refused_or_harmless(keys, value):
        try:
            spec = parse(with_value(keys[0], value), "t.yaml")
        except TopologyError as exc:
            assert str(exc).startswith(f"t.yaml: {keys[1]}")
            return
        net = spec.network
        for text in (spec.name, *(n.name for n in spec.nodes), net.node_cidr, net.pod_cidr,
                     net.service_cidr, net.lb_pool, net.external_cidr, net.fabric_gateway,
                     net.gateway_router, net.ext_ip, net.ext_dns_ip, net.cluster_domain,
                     spec.link.delay or ""):
            assert re.fullmatch(r"[a-z0-9./-]*", text), text
else:
    @pytest.mark.skip(reason="hypothesis is not installed (pip install -e .[dev])")
    def test_generated_inputs():
        pass
