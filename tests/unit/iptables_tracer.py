"""A packet tracer over kproxy's rendered ``iptables-restore --noflush`` text.

After kube-proxy's ``tracePacket`` (pkg/proxy/iptables/proxier_test.go): the
tests do not compare rendered rules with expected rules, they load the *text*
that would be fed to ``iptables-restore``, push a packet through it and check
what comes out (verdict, DNAT target, masquerade).

Loading models ``iptables-restore --noflush`` closely enough to catch what it
would refuse: ``*table`` blocks ended by ``COMMIT``; ``:CHAIN - [0:0]``
creates a chain or flushes an existing one (declaring a built-in chain
flushes it too: that is recorded in ``Ruleset.flushed_builtins``); ``-A`` and
``-I CHAIN N`` need an existing chain (and N at most one past its end) and a
``-j`` target that is a known target or an existing user chain of the same
table; ``-D CHAIN RULE`` needs that rule, written the same way, in the
chain; ``-X`` needs an existing, empty, unreferenced user chain (libiptc's
ENOTEMPTY/EBUSY).  ``load(text, base)`` applies the text
on top of what an earlier restore left.  Anything not understood raises
:class:`IptSyntaxError`: the tracer never skips text it cannot evaluate.

What the tracer evaluates -- exactly the forms ``kproxy.iptables`` emits:

* matches: ``[!] -s|-d ADDR[/LEN]``, ``-p tcp|udp``, ``-m tcp|udp [!] --dport N``
  (needs the same ``-p``), ``-m comment --comment TEXT`` (ignored),
  ``-m addrtype [!] --src-type|--dst-type LOCAL`` (``local_ips``, ``node_ip``
  and 127.0.0.0/8), ``-m mark [!] --mark V[/M]``,
  ``-m statistic --mode random --probability P``,
  ``-m recent --name N --mask 255.255.255.255 --rsource`` with either
  ``--rcheck [--seconds S [--reap]]`` or ``--set``;
* targets: ``-j CHAIN`` (a jump: ``RETURN`` or the end of the chain comes
  back), ``RETURN``, ``ACCEPT``, ``DROP``, ``REJECT``,
  ``MARK --or-mark|--xor-mark V``, ``DNAT --to-destination IP[:PORT]``,
  ``MASQUERADE [--random-fully|--random]``.

Randomness is deterministic.  ``numgen=i`` means: the i-th (0-based)
``statistic`` draw of the whole trace succeeds and every other draw fails.
kproxy gives N endpoints N-1 probabilistic rules and a final unconditional
one, so ``numgen`` 0..N-2 picks endpoints 0..N-2 and any ``numgen >= N-1``
the last one.  ``TraceResult.probability`` is the product of the
probabilities of the draws made (p for a success, 1-p for a failure): the
chance that a real packet takes the traced path, 1/N per endpoint when the
probabilities are right.  ``recent`` is the set of ``recent`` list names
(kproxy's SEP chain names) that already hold the client's source address:
``--rcheck`` matches iff the list is in it (entries count as fresh).

Hooks run in kernel order, the built-in chains holding the jumps of
``kproxy.iptables.jump_rules()`` inserted at the top one after another (as
``kproxy.apply`` does with ``iptables -I CHAIN 1``), policy ACCEPT.
``path="prerouting"`` (a packet arriving at the node): nat PREROUTING; then,
on the post-DNAT destination, filter INPUT if it is local (local delivery
never reaches POSTROUTING), else filter FORWARD then nat POSTROUTING.
``path="output"`` (a packet the node sends): nat OUTPUT, filter OUTPUT, nat
POSTROUTING; if the destination is then local the packet loops back through
filter INPUT (NAT is not re-evaluated: conntrack already holds the binding).
Targets are checked against where iptables allows them: DNAT only in nat
PREROUTING/OUTPUT, MASQUERADE only in nat POSTROUTING, REJECT only in filter
INPUT/FORWARD/OUTPUT, DROP and ACCEPT only in filter.
"""
from __future__ import annotations

import copy
import functools
import ipaddress
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

from kproxy.iptables import jump_rules

ACCEPT, DROP, REJECT = "ACCEPT", "DROP", "REJECT"
PATHS = ("prerouting", "output")
BUILTINS = {"nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
            "filter": ("INPUT", "FORWARD", "OUTPUT")}
TARGETS = {"RETURN", "ACCEPT", "DROP", "REJECT", "MARK", "DNAT", "MASQUERADE"}
# target -> (table, built-in chains whose packets it may see)
LEGAL = {
    "DNAT": ("nat", {"PREROUTING", "OUTPUT"}),
    "MASQUERADE": ("nat", {"POSTROUTING"}),
    "REJECT": ("filter", {"INPUT", "FORWARD", "OUTPUT"}),
    "DROP": ("filter", set(BUILTINS["filter"])),
    "ACCEPT": ("filter", set(BUILTINS["filter"])),
}
CHAIN_NAME_MAX = 28          # XT_EXTENSION_MAXNAMELEN - 1
COMMENT_MAX = 256            # XT_MAX_COMMENT_LEN
MAX_DEPTH = 64
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


class IptError(Exception):
    """Base class for everything this module raises."""


class IptSyntaxError(IptError):
    """Text the tracer does not understand: never silently skipped."""


class IptRestoreError(IptError):
    """A command ``iptables-restore`` would refuse."""


class IptTraceError(IptError):
    """Evaluation went somewhere iptables would not allow (or loops)."""


# ----------------------------------------------------------------------- model

@dataclass(frozen=True)
class Match:
    kind: str        # src, dst, proto, dport, addrtype, mark, statistic, recent
    negate: bool
    args: tuple


@dataclass(frozen=True)
class Rule:
    text: str
    matches: tuple[Match, ...]
    target: str
    target_args: tuple = ()
    comment: str | None = None


@dataclass
class Ruleset:
    # table -> chain -> rules; built-in chains always exist
    tables: dict[str, dict[str, list[Rule]]] = field(default_factory=lambda: {
        t: {c: [] for c in chains} for t, chains in BUILTINS.items()})
    declared: dict[str, list[str]] = field(default_factory=dict)
    deleted: dict[str, list[str]] = field(default_factory=dict)
    flushed_builtins: list[str] = field(default_factory=list)

    def user_chains(self, table: str) -> list[str]:
        return [c for c in self.tables[table] if c not in BUILTINS[table]]

    def references(self, table: str) -> dict[str, int]:
        refs: dict[str, int] = {}
        for rules in self.tables[table].values():
            for rule in rules:
                if rule.target not in TARGETS:
                    refs[rule.target] = refs.get(rule.target, 0) + 1
        return refs


# --------------------------------------------------------------------- parsing

def _net(tok: str, where: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(tok, strict=False)
    except ValueError:
        raise IptSyntaxError(f"{where}: bad address {tok!r}") from None


def _int(tok: str, where: str, lo: int = 0, hi: int = 0xFFFFFFFF) -> int:
    try:
        value = int(tok, 0)
    except ValueError:
        raise IptSyntaxError(f"{where}: bad number {tok!r}") from None
    if not lo <= value <= hi:
        raise IptSyntaxError(f"{where}: {value} out of range")
    return value


MODULE_OPTIONS = {
    "tcp": {"--dport"}, "udp": {"--dport"}, "comment": {"--comment"},
    "addrtype": {"--src-type", "--dst-type"}, "mark": {"--mark"},
    "statistic": {"--mode", "--probability"},
    "recent": {"--name", "--mask", "--rsource", "--rcheck", "--set", "--seconds", "--reap"},
}
NEGATABLE = {"-s", "-d", "-p", "--dport", "--src-type", "--dst-type", "--mark"}
FLAG_OPTIONS = {"--rsource", "--rcheck", "--set", "--reap"}


def parse_rule(tokens: list[str], where: str) -> Rule:
    """The match and target part of a rule (everything after ``-A CHAIN``)."""
    text = shlex.join(tokens)
    matches: list[Match | None] = []
    slots: dict[str, int] = {}     # statistic/recent are evaluated where -m put them
    comment = None
    proto = None
    modules: dict[str, dict[str, str | bool]] = {}
    current = None
    negate = False
    i = 0

    def value() -> str:
        nonlocal i
        if i >= len(tokens):
            raise IptSyntaxError(f"{where}: {tokens[i - 1]} needs a value")
        i += 1
        return tokens[i - 1]

    target = None
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if tok == "!":
            if negate or i >= len(tokens) or tokens[i] not in NEGATABLE:
                raise IptSyntaxError(f"{where}: misplaced '!'")
            negate = True
            continue
        if tok in ("-s", "-d"):
            matches.append(Match("src" if tok == "-s" else "dst", negate,
                                 (_net(value(), where),)))
        elif tok == "-p":
            proto = value()
            if proto not in ("tcp", "udp") or negate:
                raise IptSyntaxError(f"{where}: unsupported protocol match {proto!r}")
            matches.append(Match("proto", False, (proto,)))
        elif tok == "-m":
            current = value()
            if current not in MODULE_OPTIONS:
                raise IptSyntaxError(f"{where}: unknown match module {current!r}")
            if current in modules:
                raise IptSyntaxError(f"{where}: -m {current} twice")
            if current in ("tcp", "udp") and proto != current:
                raise IptSyntaxError(f"{where}: -m {current} needs -p {current} first")
            modules[current] = {}
            if current in ("statistic", "recent"):
                slots[current] = len(matches)
                matches.append(None)
        elif tok == "-j":
            target = value()
            break
        elif tok.startswith("--"):
            if current is None or tok not in MODULE_OPTIONS[current]:
                raise IptSyntaxError(f"{where}: option {tok} is not one of "
                                     f"-m {current}'s")
            opts = modules[current]
            if tok in opts:
                raise IptSyntaxError(f"{where}: {tok} given twice")
            if negate and tok not in NEGATABLE:
                raise IptSyntaxError(f"{where}: {tok} cannot be negated")
            opts[tok] = True if tok in FLAG_OPTIONS else value()
            if current == "tcp" or current == "udp":
                matches.append(Match("dport", negate, (proto, _int(opts[tok], where, 0, 65535))))
            elif current == "comment":
                comment = str(opts[tok])
                if not comment or len(comment) > COMMENT_MAX:
                    raise IptSyntaxError(f"{where}: comment must be 1-{COMMENT_MAX} characters")
            elif current == "addrtype":
                if opts[tok] != "LOCAL":
                    raise IptSyntaxError(f"{where}: only addrtype LOCAL is understood")
                matches.append(Match("addrtype", negate, (tok[2:5],)))
            elif current == "mark":
                v, _, m = str(opts[tok]).partition("/")
                matches.append(Match("mark", negate,
                                     (_int(v, where), _int(m, where) if m else 0xFFFFFFFF)))
            negate = False
            continue
        else:
            raise IptSyntaxError(f"{where}: unknown option {tok!r}")
        negate = False
    if negate:
        raise IptSyntaxError(f"{where}: dangling '!'")
    if target is None:
        raise IptSyntaxError(f"{where}: a rule without -j")

    for name, opts in modules.items():   # whole-module matches, in module order
        if name == "comment" and "--comment" not in opts:
            raise IptSyntaxError(f"{where}: -m comment without --comment")
        if name == "addrtype" and not opts:
            raise IptSyntaxError(f"{where}: -m addrtype needs --src-type or --dst-type")
        if name == "mark" and "--mark" not in opts:
            raise IptSyntaxError(f"{where}: -m mark without --mark")
        if name == "statistic":
            if opts.get("--mode") != "random" or "--probability" not in opts:
                raise IptSyntaxError(f"{where}: only --mode random --probability P")
            try:
                p = float(opts["--probability"])
            except ValueError:
                raise IptSyntaxError(f"{where}: bad probability") from None
            if not 0.0 <= p <= 1.0:
                raise IptSyntaxError(f"{where}: probability {p} out of [0, 1]")
            matches[slots[name]] = Match("statistic", False, (p,))
        if name == "recent":
            ops = [op for op in ("--rcheck", "--set") if op in opts]
            if len(ops) != 1 or "--name" not in opts or "--rsource" not in opts:
                raise IptSyntaxError(f"{where}: recent needs --name, --rsource and "
                                     "exactly one of --rcheck/--set")
            if opts.get("--mask", "255.255.255.255") != "255.255.255.255":
                raise IptSyntaxError(f"{where}: only --mask 255.255.255.255 is understood")
            if ("--seconds" in opts or "--reap" in opts) and ops != ["--rcheck"]:
                raise IptSyntaxError(f"{where}: --seconds/--reap only with --rcheck")
            if "--reap" in opts and "--seconds" not in opts:
                raise IptSyntaxError(f"{where}: --reap needs --seconds")
            if "--seconds" in opts:
                _int(str(opts["--seconds"]), where, 1)
            matches[slots[name]] = Match("recent", False, (ops[0][2:], opts["--name"]))

    rest = tokens[i:]
    args: tuple = ()
    if target == "MARK":
        if len(rest) != 2 or rest[0] not in ("--or-mark", "--xor-mark"):
            raise IptSyntaxError(f"{where}: MARK needs --or-mark or --xor-mark V")
        args = (rest[0][2:-5], _int(rest[1], where))
    elif target == "DNAT":
        if len(rest) != 2 or rest[0] != "--to-destination":
            raise IptSyntaxError(f"{where}: DNAT needs --to-destination IP[:PORT]")
        ip, _, port = rest[1].partition(":")
        try:
            addr = ipaddress.IPv4Address(ip)
        except ValueError:
            raise IptSyntaxError(f"{where}: bad DNAT address {ip!r}") from None
        if port and proto not in ("tcp", "udp"):
            raise IptSyntaxError(f"{where}: DNAT to a port needs -p tcp or udp")
        args = (addr, _int(port, where, 1, 65535) if port else None)
    elif target == "MASQUERADE":
        if any(r not in ("--random-fully", "--random") for r in rest):
            raise IptSyntaxError(f"{where}: MASQUERADE options {rest}")
    elif rest:
        raise IptSyntaxError(f"{where}: {target} takes no options here: {rest}")
    return Rule(text, tuple(m for m in matches if m is not None), target, args, comment)


def load(text: str, base: Ruleset | None = None) -> Ruleset:
    """Apply ``iptables-restore --noflush`` input to ``base`` (a copy)."""
    rs = copy.deepcopy(base) if base is not None else Ruleset()
    rs.declared, rs.deleted, rs.flushed_builtins = {}, {}, []
    table = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        where = f"line {lineno}: {line}"
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            if table is not None:
                raise IptRestoreError(f"{where}: table {table} not committed")
            table = line[1:]
            if table not in BUILTINS:
                raise IptSyntaxError(f"{where}: unknown table")
            continue
        if table is None:
            raise IptRestoreError(f"{where}: outside a table")
        chains = rs.tables[table]
        if line == "COMMIT":
            table = None
            continue
        if line.startswith(":"):
            parts = line[1:].split()
            if len(parts) != 3 or parts[2] != "[0:0]":
                raise IptSyntaxError(f"{where}: expected ':CHAIN POLICY [0:0]'")
            name, policy = parts[0], parts[1]
            if name in BUILTINS[table]:
                if policy not in ("ACCEPT", "DROP"):
                    raise IptRestoreError(f"{where}: a built-in chain needs a policy")
                rs.flushed_builtins.append(f"{table}:{name}")
            elif policy != "-":
                raise IptRestoreError(f"{where}: a user chain has no policy")
            if len(name) > CHAIN_NAME_MAX:
                raise IptRestoreError(f"{where}: chain name longer than {CHAIN_NAME_MAX}")
            chains[name] = []
            rs.declared.setdefault(table, []).append(name)
            continue
        try:
            tokens = shlex.split(line)
        except ValueError as exc:
            raise IptSyntaxError(f"{where}: {exc}") from None
        insert = tokens[0] == "-I" and len(tokens) > 3 and tokens[2].isdigit()
        if (tokens[0] == "-A" and len(tokens) > 2) or insert:
            if tokens[1] not in chains:
                raise IptRestoreError(f"{where}: no chain {tokens[1]} in {table}")
            rule = parse_rule(tokens[3 if insert else 2:], where)
            if rule.target not in TARGETS:
                if rule.target not in chains:
                    raise IptRestoreError(f"{where}: no chain/target {rule.target}")
                if rule.target in BUILTINS[table]:
                    raise IptRestoreError(f"{where}: cannot jump to a built-in chain")
            if not insert:
                chains[tokens[1]].append(rule)
            elif not 1 <= int(tokens[2]) <= len(chains[tokens[1]]) + 1:
                raise IptRestoreError(f"{where}: index of insertion too big")
            else:
                chains[tokens[1]].insert(int(tokens[2]) - 1, rule)
        elif tokens[0] == "-D" and len(tokens) > 2:
            if tokens[1] not in chains:
                raise IptRestoreError(f"{where}: no chain {tokens[1]} in {table}")
            text_of = shlex.join(tokens[2:])
            hit = next((i for i, r in enumerate(chains[tokens[1]]) if r.text == text_of), None)
            if hit is None:
                raise IptRestoreError(f"{where}: bad rule (does a matching rule exist in "
                                      "that chain?)")
            del chains[tokens[1]][hit]
        elif tokens[0] == "-X" and len(tokens) == 2:
            name = tokens[1]
            if name not in chains or name in BUILTINS[table]:
                raise IptRestoreError(f"{where}: no user chain {name}")
            if chains[name]:
                raise IptRestoreError(f"{where}: chain {name} is not empty (ENOTEMPTY)")
            if rs.references(table).get(name):
                raise IptRestoreError(f"{where}: chain {name} is still referenced (EBUSY)")
            del chains[name]
            rs.deleted.setdefault(table, []).append(name)
        else:
            raise IptSyntaxError(f"{where}: unsupported command")
    if table is not None:
        raise IptRestoreError(f"table {table} not committed")
    return rs


@functools.lru_cache(maxsize=64)
def _prepared(text: str) -> Ruleset:
    return with_jumps(load(text))


def with_jumps(rs: Ruleset, jumps: list[list[str]] | None = None) -> Ruleset:
    """``rs`` plus the jumps from built-in chains, each inserted at the top."""
    out = copy.deepcopy(rs)
    for argv in jump_rules() if jumps is None else jumps:
        if argv[0] != "-t" or argv[1] not in BUILTINS or argv[2] not in BUILTINS[argv[1]]:
            raise IptSyntaxError(f"jump rule {argv}: expected -t TABLE BUILTIN ...")
        rule = parse_rule(argv[3:], f"jump {argv}")
        if rule.target not in out.tables[argv[1]]:
            raise IptRestoreError(f"jump {argv}: no chain {rule.target}")
        out.tables[argv[1]][argv[2]].insert(0, rule)
    return out


# ------------------------------------------------------------------ validation

def reachable(rs: Ruleset, table: str, start: str) -> list[str]:
    seen, todo = [], [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in rs.tables[table]:
            continue
        seen.append(name)
        todo += [r.target for r in rs.tables[table][name] if r.target not in TARGETS]
    return seen


def unreferenced_chains(rs: Ruleset) -> list[str]:
    """``table:chain`` for user chains no built-in chain (with the jumps) reaches."""
    full = with_jumps(rs)
    out = []
    for table, chains in full.tables.items():
        live = {c for b in BUILTINS[table] for c in reachable(full, table, b)}
        out += [f"{table}:{c}" for c in chains if c not in live]
    return sorted(out)


def check_jump_targets(text: str, base: Ruleset | None = None) -> Ruleset:
    """Assert the restore loads and every ``-j`` goes somewhere real and legal.

    Every target is a known target or a user chain of the same table; no
    chain deleted with ``-X`` gets rules or is jumped to anywhere in the text
    (a stale chain is only declared, to flush it, then deleted); no built-in
    chain is declared (that would flush it); and targets are legal in every
    built-in chain that can reach them (with ``jump_rules()`` installed).
    """
    try:
        rs = load(text, base)
    except IptRestoreError as exc:
        raise AssertionError(f"restore iptables-restore would refuse: {exc}") from None
    assert not rs.flushed_builtins, f"built-in chains flushed: {rs.flushed_builtins}"
    for table, chains in rs.tables.items():
        for name, rules in chains.items():
            for rule in rules:
                assert rule.target in TARGETS or (rule.target in chains
                                                  and rule.target not in BUILTINS[table]), \
                    f"{table}:{name}: -j {rule.target} is neither a target nor a chain"
    # Stale chains: the text itself must not use them.
    table = None
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
            continue
        if not line.startswith(("-A ", "-I ")):
            continue
        tokens = shlex.split(line)
        gone = set(rs.deleted.get(table, ()))
        assert tokens[1] not in gone, f"rules added to deleted chain {tokens[1]}"
        assert tokens[-1] not in gone and not any(
            tokens[k] == "-j" and tokens[k + 1] in gone for k in range(len(tokens) - 1)), \
            f"jump to deleted chain: {line}"
    full = with_jumps(rs)
    for table, builtins in BUILTINS.items():
        for builtin in builtins:
            for name in reachable(full, table, builtin):
                for rule in full.tables[table][name]:
                    legal = LEGAL.get(rule.target)
                    assert legal is None or (table == legal[0] and builtin in legal[1]), \
                        f"-j {rule.target} reached from {table} {builtin}: {name}: {rule.text}"
    return rs


# --------------------------------------------------------------------- tracing

@dataclass
class TraceResult:
    verdict: str                    # ACCEPT, DROP, REJECT
    dnat: str | None                # "ip:port" (or "ip") of the DNAT, None if none
    masqueraded: bool
    chains: list[str]               # "table:CHAIN" for every chain entered, in order
    src_ip: str = ""                # the packet as it leaves (after NAT)
    dst_ip: str = ""
    dport: int = 0
    mark: int = 0
    recent_set: list[str] = field(default_factory=list)   # lists --set added the client to
    draws: int = 0                  # statistic draws made
    probability: float = 1.0        # the chance of the traced path (see the module doc)


class _Tracer:
    def __init__(self, rs: Ruleset, src: str, dst: str, proto: str, dport: int,
                 local: set, node_ip: str, numgen: int, recent: set[str]) -> None:
        if proto not in ("tcp", "udp"):
            raise ValueError(f"proto must be tcp or udp, not {proto!r}")
        self.rs = rs
        self.src, self.dst = ipaddress.IPv4Address(src), ipaddress.IPv4Address(dst)
        self.proto, self.dport = proto, int(dport)
        self.local, self.node_ip = local, node_ip
        self.numgen, self.recent = numgen, recent
        self.mark = 0
        self.dnat: str | None = None
        self.masq = False
        self.chains: list[str] = []
        self.recent_set: list[str] = []
        self.draws = 0
        self.probability = 1.0

    def is_local(self, addr: ipaddress.IPv4Address) -> bool:
        return addr in self.local or addr in LOOPBACK

    def test(self, m: Match) -> bool:
        k = m.kind
        if k == "src":
            hit = self.src in m.args[0]
        elif k == "dst":
            hit = self.dst in m.args[0]
        elif k == "proto":
            hit = self.proto == m.args[0]
        elif k == "dport":
            hit = self.proto == m.args[0] and self.dport == m.args[1]
        elif k == "addrtype":
            hit = self.is_local(self.src if m.args[0] == "src" else self.dst)
        elif k == "mark":
            hit = self.mark & m.args[1] == m.args[0]
        elif k == "statistic":
            p = m.args[0]
            hit = self.draws == self.numgen
            self.draws += 1
            self.probability *= p if hit else 1.0 - p
        elif k == "recent":
            op, name = m.args
            if op == "set":
                self.recent.add(name)
                self.recent_set.append(name)
                hit = True
            else:
                hit = name in self.recent
        else:
            raise IptTraceError(f"cannot evaluate {m}")
        return hit != m.negate

    def chain(self, table: str, name: str, builtin: str, depth: int = 0) -> str | None:
        """Run a chain: ACCEPT/DROP/REJECT, or None when it returns or ends."""
        if depth > MAX_DEPTH:
            raise IptTraceError(f"jumps nest too deep (a loop?) at {self.chains[-10:]}")
        self.chains.append(f"{table}:{name}")
        for rule in self.rs.tables[table][name]:
            if not all(self.test(m) for m in rule.matches):
                continue
            t = rule.target
            legal = LEGAL.get(t)
            if legal and (table != legal[0] or builtin not in legal[1]):
                raise IptTraceError(f"-j {t} in {table} {builtin}: {name}: {rule.text}")
            if t == "RETURN":
                return None
            if t in (ACCEPT, DROP, REJECT):
                return t
            if t == "MARK":
                op, value = rule.target_args
                self.mark = self.mark | value if op == "or" else self.mark ^ value
            elif t == "DNAT":
                ip, port = rule.target_args
                self.dst = ip
                if port is not None:
                    self.dport = port
                self.dnat = f"{ip}:{port}" if port is not None else str(ip)
                return ACCEPT
            elif t == "MASQUERADE":
                self.masq = True
                self.src = ipaddress.IPv4Address(self.node_ip)
                return ACCEPT
            else:
                out = self.chain(table, t, builtin, depth + 1)
                if out is not None:
                    return out
        return None

    def hook(self, table: str, builtin: str) -> str | None:
        """A built-in chain: DROP/REJECT, or None to go on (policy ACCEPT)."""
        out = self.chain(table, builtin, builtin)
        return out if out in (DROP, REJECT) else None

    def run(self, path: str) -> str:
        if path == "prerouting":
            self.hook("nat", "PREROUTING")
            if self.is_local(self.dst):
                return self.hook("filter", "INPUT") or ACCEPT
            return self.hook("filter", "FORWARD") or self.hook("nat", "POSTROUTING") or ACCEPT
        if path == "output":
            self.hook("nat", "OUTPUT")
            stop = self.hook("filter", "OUTPUT") or self.hook("nat", "POSTROUTING")
            if stop:
                return stop
            if self.is_local(self.dst):   # looped back: filter only, NAT is bound
                return self.hook("filter", "INPUT") or ACCEPT
            return ACCEPT
        raise ValueError(f"path must be one of {PATHS}, not {path!r}")


def trace(text: str | Ruleset, *, src_ip: str, dst_ip: str, proto: str, dport: int,
          path: str, local_ips: Iterable[str], node_ip: str, numgen: int = 0,
          recent: Iterable[str] | None = None) -> TraceResult:
    """Trace one new-connection packet through the restore text plus ``jump_rules()``.

    ``recent``: the recent lists (SEP chain names) already holding ``src_ip``;
    not modified.  ``numgen``: which statistic draw succeeds (module doc).
    """
    rs = _prepared(text) if isinstance(text, str) else with_jumps(text)
    local = {ipaddress.IPv4Address(ip) for ip in local_ips} | {ipaddress.IPv4Address(node_ip)}
    known = set(rs.tables["nat"])
    lists = set(recent or ())
    if lists - known:
        raise KeyError(f"recent lists that name no chain: {sorted(lists - known)}")
    tracer = _Tracer(rs, src_ip, dst_ip, proto, dport, local, node_ip, numgen, lists)
    verdict = tracer.run(path)
    return TraceResult(verdict, tracer.dnat, tracer.masq, tracer.chains, str(tracer.src),
                       str(tracer.dst), tracer.dport, tracer.mark, tracer.recent_set,
                       tracer.draws, tracer.probability)
