"""Probe matrices: who reached whom on one port, as cyclonus prints them.

A ``Matrix`` is the truth table of one probe (a port and a protocol): rows
are sources, columns destinations, each cell ``True`` (allowed/connected),
``False`` (blocked) or ``None`` (not probed/unknown).  Cells that could not
be tried at all (SCTP on a kernel without it) are ``not_run``, with the
reason.  Cells whose connection was refused (a TCP reset, an ICMP port
unreachable from the pod) are ``refused``: the packet went through the
NetworkPolicy and reached the pod, where nothing listens on the port, so
their verdict is ``True`` (the lab's policy never refuses: it rejects with
ICMP admin-prohibited).  Rendered::

    80/TCP
         x/a x/b x/c
    x/a   .   X   .
    x/b   .   R   ?

``.`` allowed, ``X`` blocked, ``R`` refused (reached, not served), ``?``
unknown, ``-`` not run.  ``compare`` lines an expected matrix (the oracle's or
a case's) up with an observed one (the prober's); not-run cells neither agree
nor disagree; a refused cell agrees with "allowed" and is a discrepancy
where "blocked" was expected (the policy let the packet through).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

MARKS = {True: ".", False: "X", None: "?"}
NOT_RUN = "-"        # the mark of a cell that could not be tried
REFUSED = "R"        # the mark of a cell that reached the pod, where nothing listens
REFUSED_LEGEND = (f"{REFUSED} refused: reached the pod, nothing listens there "
                  "(the policy let it through)")
WIDTH = 100          # columns available for side-by-side comparisons
GAP = "    "         # between the expected and the observed grid

Cell = tuple[str, str]
Discrepancy = tuple[str, str, bool | None, bool | None]


@dataclass
class Matrix:
    """One probe's truth table; ``cells[(src, dst)]`` is True, False or None;
    ``not_run[(src, dst)]`` says why a cell could not be tried (its verdict is None);
    ``refused`` holds the cells refused by the pod (their verdict is True)."""

    port: int | str
    protocol: str
    sources: list[str]
    destinations: list[str]
    cells: dict[Cell, bool | None] = field(default_factory=dict)
    not_run: dict[Cell, str] = field(default_factory=dict)
    refused: set[Cell] = field(default_factory=set)

    @property
    def title(self) -> str:
        """``80/TCP`` or ``serve-80-tcp/TCP``."""
        return f"{self.port}/{self.protocol}"

    def get(self, src: str, dst: str) -> bool | None:
        """The cell's verdict; None when it was not probed."""
        return self.cells.get((src, dst))

    @classmethod
    def from_table(cls, port: int | str, protocol: str,
                   table: Mapping[Cell, bool | None],
                   sources: Iterable[str] | None = None,
                   destinations: Iterable[str] | None = None,
                   not_run: Mapping[Cell, str] | None = None,
                   refused: Iterable[Cell] = ()) -> Matrix:
        """A matrix from ``{(src, dst): verdict}``.

        Rows and columns default to the sources and destinations named in
        ``table``, in first-seen order; cells missing from it are None, and
        so are the cells of ``not_run`` (``{(src, dst): reason}``); the cells
        of ``refused`` are True (reached the pod; nothing listened)."""
        srcs = list(sources) if sources is not None else _unique(s for s, _ in table)
        dsts = list(destinations) if destinations is not None else _unique(d for _, d in table)
        skipped = {(s, d): why for (s, d), why in (not_run or {}).items()
                   if s in srcs and d in dsts}
        turned = {(s, d) for s, d in refused
                  if s in srcs and d in dsts and (s, d) not in skipped}
        cells = {(s, d): None if (s, d) in skipped else True if (s, d) in turned
                 else table.get((s, d)) for s in srcs for d in dsts}
        return cls(port, protocol.upper(), srcs, dsts, cells, skipped, turned)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def mark(m: Matrix, src: str, dst: str) -> str:
    """The cell's mark: ``.``, ``X``, ``?``, ``-`` (not run) or ``R`` (refused)."""
    if (src, dst) in m.not_run:
        return NOT_RUN
    return REFUSED if (src, dst) in m.refused else MARKS[m.get(src, dst)]


def grid(m: Matrix, title: str | None = None) -> list[str]:
    """The lines of ``render(m)``, the first one ``title`` (default ``m.title``)."""
    row_w = max([len(s) for s in m.sources] + [1])
    col_w = [max(len(d), 1) for d in m.destinations]
    lines = [m.title if title is None else title]
    lines.append(" " * row_w + "".join(" " + d.rjust(w)
                                       for d, w in zip(m.destinations, col_w, strict=True)))
    for s in m.sources:
        lines.append(s.ljust(row_w) + "".join(
            " " + mark(m, s, d).center(w)
            for d, w in zip(m.destinations, col_w, strict=True)).rstrip())
    return lines


def render(m: Matrix) -> str:
    """The matrix as a grid: a title line, a header of destinations, a row per source."""
    return "\n".join(grid(m)) + "\n"


@dataclass
class Comparison:
    """Expected against observed, cell by cell over the expected matrix's rows and columns.

    A cell agrees when nothing is expected of it (None) or the observed
    verdict equals the expected one; ``discrepancies`` lists the others as
    ``(src, dst, expected, observed)``, observed None meaning not probed.
    Cells the observed matrix could not run are left out of ``total`` and
    counted in ``not_run``, their reasons (each once) in ``reasons``.
    ``refused`` counts the compared cells the pod refused: observed True
    (the policy let them through), so they agree where "allowed" was
    expected and are discrepancies where "blocked" was."""

    expected: Matrix
    observed: Matrix
    discrepancies: list[Discrepancy]
    total: int
    not_run: int = 0
    reasons: list[str] = field(default_factory=list)
    refused: int = 0

    @property
    def ok(self) -> bool:
        return not self.discrepancies

    @property
    def agree(self) -> int:
        return self.total - len(self.discrepancies)


def compare(expected: Matrix, observed: Matrix) -> Comparison:
    """Every cell of ``expected`` that ``observed`` does not match, in row
    order; the cells ``observed`` could not run are not compared."""
    diffs: list[Discrepancy] = []
    reasons: dict[str, None] = {}
    skipped = refused = 0
    for s in expected.sources:
        for d in expected.destinations:
            if (s, d) in observed.not_run:
                skipped += 1
                reasons[observed.not_run[(s, d)]] = None
                continue
            refused += (s, d) in observed.refused
            want, got = expected.get(s, d), observed.get(s, d)
            if want is not None and got != want:
                diffs.append((s, d, want, got))
    return Comparison(expected, observed, diffs,
                      len(expected.sources) * len(expected.destinations) - skipped,
                      skipped, list(reasons), refused)


def _word(verdict: bool | None) -> str:
    return {True: "allowed", False: "blocked", None: "not probed"}[verdict]


def describe(d: Discrepancy, refused: bool = False) -> str:
    """``x/a -> y/b: expected allowed, got blocked``; ``refused``: the cell
    was refused by the pod (``expected blocked, got refused: reached the pod``)."""
    src, dst, want, got = d
    word = "refused: reached the pod" if refused and got else _word(got)
    return f"{src} -> {dst}: expected {_word(want)}, got {word}"


def render_comparison(expected: Matrix, observed: Matrix) -> str:
    """Both grids side by side (one above the other when wider than 100
    columns), then ``n/m cells agree`` (``; k not run`` and a legend line
    per reason when cells could not be tried; ``; k refused`` and the ``R``
    legend when the pod refused cells) and one line per discrepancy."""
    left = grid(expected, f"expected {expected.title}")
    right = grid(observed, f"observed {observed.title}")
    left_w = max(len(line) for line in left)
    if left_w + len(GAP) + max(len(line) for line in right) <= WIDTH:
        rows = max(len(left), len(right))
        left += [""] * (rows - len(left))
        right += [""] * (rows - len(right))
        lines = [(lft.ljust(left_w) + GAP + rgt).rstrip()
                 for lft, rgt in zip(left, right, strict=True)]
    else:
        lines = left + [""] + right
    c = compare(expected, observed)
    lines.append("")
    skipped = f"{c.not_run} not run ({NOT_RUN})" if c.not_run else ""
    refused = f"{c.refused} refused ({REFUSED})" if c.refused else ""
    tail = "".join(f"; {part}" for part in (refused, skipped) if part)
    lines.append(f"{c.not_run} cells not run ({NOT_RUN})" if skipped and not c.total else
                 f"{c.agree}/{c.total} cells agree{tail}")
    if c.refused:
        lines.append(REFUSED_LEGEND)
    lines.extend(f"{NOT_RUN} not run: {why}" for why in c.reasons)
    lines.extend(describe(d, d[:2] in observed.refused) for d in c.discrepancies)
    return "\n".join(lines) + "\n"


def _nested(m: Matrix) -> dict[str, dict[str, bool | None]]:
    return {s: {d: m.get(s, d) for d in m.destinations} for s in m.sources}


def to_json(matrices: Sequence[Matrix],
            comparisons: Sequence[Comparison | None] | None = None) -> dict:
    """A JSON-ready report of observed matrices and, optionally, their comparisons.

    Shape (``comparisons[i]``, when given and not None, belongs to
    ``matrices[i]`` and adds ``expected`` and ``discrepancies``; ``not_run``
    appears when cells could not be tried, their verdicts null; ``refused``
    when the pod refused cells, their verdicts true)::

        {"probes": [{"port": 80, "protocol": "TCP",
                     "sources": ["x/a", ...], "destinations": ["x/a", ...],
                     "observed": {"x/a": {"x/b": true, "x/c": null, ...}, ...},
                     "expected": {"x/a": {"x/b": false, ...}, ...},
                     "discrepancies": [{"from": "x/a", "to": "x/b",
                                        "expected": false, "observed": true}],
                     "agree": 79, "total": 80,
                     "not_run": [{"from": "x/a", "to": "x/c", "reason": "..."}],
                     "refused": [{"from": "x/b", "to": "x/b"}]}]}

    Verdicts are true (allowed: connected, or refused by the pod), false
    (blocked) or null (not probed); a discrepancy on a refused cell has
    ``"refused": true``."""
    if comparisons is not None and len(comparisons) != len(matrices):
        raise ValueError("comparisons must match matrices one for one")
    probes = []
    for i, m in enumerate(matrices):
        entry: dict = {"port": m.port, "protocol": m.protocol, "sources": list(m.sources),
                       "destinations": list(m.destinations), "observed": _nested(m)}
        if m.not_run:
            entry["not_run"] = [{"from": s, "to": d, "reason": why}
                                for (s, d), why in m.not_run.items()]
        if m.refused:
            entry["refused"] = [{"from": s, "to": d} for s, d in _ordered(m, m.refused)]
        c = comparisons[i] if comparisons is not None else None
        if c is not None:
            entry["expected"] = _nested(c.expected)
            entry["discrepancies"] = [{"from": s, "to": d, "expected": w, "observed": g,
                                       **({"refused": True} if (s, d) in m.refused else {})}
                                      for s, d, w, g in c.discrepancies]
            entry["agree"], entry["total"] = c.agree, c.total
        probes.append(entry)
    return {"probes": probes}


def _ordered(m: Matrix, cells: Iterable[Cell]) -> list[Cell]:
    """``cells`` in row order."""
    chosen = set(cells)
    return [(s, d) for s in m.sources for d in m.destinations if (s, d) in chosen]


def _from_nested(port: int | str, protocol: str, sources: list[str],
                 destinations: list[str], nested: Mapping) -> Matrix:
    table = {(s, d): nested.get(s, {}).get(d) for s in sources for d in destinations}
    return Matrix(port, protocol, list(sources), list(destinations), table)


def from_json(data: Mapping) -> list[tuple[Matrix, Matrix | None]]:
    """The inverse of ``to_json``: ``(observed, expected or None)`` per probe."""
    out: list[tuple[Matrix, Matrix | None]] = []
    for p in data.get("probes") or []:
        args = (p["port"], p["protocol"], list(p["sources"]), list(p["destinations"]))
        observed = _from_nested(*args, p.get("observed") or {})
        observed.not_run = {(c["from"], c["to"]): c["reason"] for c in p.get("not_run") or []}
        observed.refused = {(c["from"], c["to"]) for c in p.get("refused") or []}
        expected = _from_nested(*args, p["expected"]) if "expected" in p else None
        out.append((observed, expected))
    return out
