"""The PromQL expressions of the dashboards and the alert rules, and how to run them against a live Prometheus.

Grafana's variables are substituted the way Grafana does before a query is sent; an alert expression written
`SIGNAL <comparison> THRESHOLD` is split so that its signal can be required to return data even when the alert
itself (rightly) returns nothing on a healthy service.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

# What Grafana puts in place of its built-in interval variables, for a 1 s scrape interval and a short run.
BUILTIN_INTERVALS = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "5m",
    "__range_s": "300",
    "__range_ms": "300000",
}

METRIC = re.compile(r"\b(switchboard_[a-zA-Z0-9_:]*)\s*(\{[^}]*\})?")
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.+?)\s*,\s*)?(\w+)\s*\)\s*$")
NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
COMPARISONS = ("==", "!=", ">=", "<=", ">", "<")


@dataclass(frozen=True)
class Expr:
    """One expression and where it is written."""

    source: str  # e.g. 'grafana/dashboards/x.json: "Channels by state" (A)'
    expr: str  # as written, variables not substituted
    dashboard: str | None = None  # the dashboard's file, for its variables
    alert: bool = False
    legend: str = ""  # a panel query's legendFormat: its {{label}}s must be labels of the result


@dataclass(frozen=True)
class Variable:
    """A dashboard's query variable."""

    name: str
    query: str
    multi_or_all: bool


def walk_panels(panels: list[dict]):
    """Every panel, those inside collapsed rows included."""
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def dashboard_exprs(path: Path, root: Path) -> list[Expr]:
    dash = json.loads(path.read_text())
    rel = str(path.relative_to(root))
    out = []
    for p in walk_panels(dash.get("panels", [])):
        for t in p.get("targets", []):
            if t.get("expr", "").strip():
                source = f'{rel}: "{p.get("title", "")}" ({t.get("refId", "?")})'
                out.append(Expr(source, t["expr"], rel, legend=t.get("legendFormat", "")))
    return out


def dashboard_variables(path: Path) -> list[Variable]:
    dash = json.loads(path.read_text())
    out = []
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        query = q.get("query", "") if isinstance(q, dict) else (q or "")
        out.append(Variable(v["name"], query, bool(v.get("multi") or v.get("includeAll"))))
    return out


def rule_exprs(path: Path, root: Path) -> list[Expr]:
    doc = yaml.safe_load(path.read_text())
    rel = str(path.relative_to(root))
    out = []
    for g in doc.get("groups", []):
        for r in g.get("rules", []):
            name = r.get("alert") or r.get("record")
            out.append(Expr(f"{rel}: {'alert' if 'alert' in r else 'record'} {name}", r["expr"], alert="alert" in r))
    return out


def substitute(expr: str, values: dict[str, str]) -> str:
    """Grafana's substitution: `$name`, `${name}`, `${name:fmt}` and `[[name]]`; unknown names are left as they
    are (the query then fails to parse, which is reported).

    >>> substitute('rate(m{t=~"$tenant",s="${sink:raw}"}[$__rate_interval]) + $x', {"tenant": ".*", "sink": "s"})
    'rate(m{t=~".*",s="s"}[1m]) + $x'
    """

    def repl(m: re.Match) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        if name in values:
            return values[name]
        if name in BUILTIN_INTERVALS:
            return BUILTIN_INTERVALS[name]
        return m.group(0)

    return VARIABLE.sub(repl, expr)


def referenced_variables(expr: str) -> set[str]:
    return {m.group(1) or m.group(2) or m.group(3) for m in VARIABLE.finditer(expr)}


def _top_level_comparisons(expr: str) -> list[tuple[int, str]]:
    """Positions of the comparison operators outside brackets, braces, parentheses and strings."""
    found, depth, i, quote = [], 0, 0, None
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            for op in COMPARISONS:
                if expr.startswith(op, i):
                    found.append((i, op))
                    i += len(op) - 1
                    break
        i += 1
    return found


def split_threshold(expr: str) -> tuple[str, str, str] | None:
    """`SIGNAL op [bool] NUMBER` → (SIGNAL, op, NUMBER); None when the expression does not end that way.

    >>> split_threshold('min by (t) (m > 0) < 900')
    ('min by (t) (m > 0)', '<', '900')
    >>> split_threshold('sum(a{x=">1"}) / sum(b) >= bool 0.5')
    ('sum(a{x=">1"}) / sum(b)', '>=', '0.5')
    >>> split_threshold('a > b') is None, split_threshold('sum(m{x="<1"})') is None
    (True, True)
    """
    comparisons = _top_level_comparisons(expr)
    if not comparisons:
        return None
    pos, op = comparisons[-1]
    rhs = expr[pos + len(op) :].strip()
    if rhs.startswith("bool "):
        rhs = rhs[5:].strip()
    if not NUMBER.match(rhs):
        return None
    return expr[:pos].strip(), op, rhs


def selectors(expr: str) -> list[str]:
    """The switchboard metric selectors in an expression (`name{matchers}`), in order, without repeats.

    >>> selectors('sum(rate(switchboard_a_total{x="1"}[5m])) / sum(switchboard_b) + switchboard_b')
    ['switchboard_a_total{x="1"}', 'switchboard_b']
    """
    out = []
    for m in METRIC.finditer(expr):
        s = m.group(1) + (m.group(2) or "")
        if s not in out:
            out.append(s)
    return out


def legend_labels(legend: str) -> set[str]:
    """The labels a legendFormat names.

    >>> sorted(legend_labels("{{tenant}} {{ reason }} refresh"))
    ['reason', 'tenant']
    """
    return set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend))


def metric_name(selector: str) -> str:
    return selector.split("{", 1)[0]


def parse_label_values(query: str) -> tuple[str | None, str] | None:
    """`label_values(metric, label)` → (metric, label); `label_values(label)` → (None, label).

    >>> parse_label_values("label_values(switchboard_channels, tenant)"), parse_label_values("label_values(sink)")
    (('switchboard_channels', 'tenant'), (None, 'sink'))
    """
    m = LABEL_VALUES.match(query)
    return (m.group(1), m.group(2)) if m else None
