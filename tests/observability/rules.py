"""Checks of the alert rules beyond promtool's (see check_files.py): the contract's alert names, each with a
`for`, a severity and annotations, written `SIGNAL > THRESHOLD`, and annotations that only use labels the
signal keeps."""

from __future__ import annotations

import re

import yaml

import promql
from common import DEPLOY, Checks

RULES = DEPLOY / "prometheus" / "alerts.yml"
ALERTS = {
    "SwitchboardChannelDown",
    "SwitchboardHeartbeatStale",
    "SwitchboardTokenExpiringSoon",
    "SwitchboardTopicsUnplaced",
    "SwitchboardGaps",
    "SwitchboardSinkFailing",
    "SwitchboardSpoolFilling",
    "SwitchboardActorFailed",
    "SwitchboardTenantUnowned",
}
SEVERITIES = {"critical", "warning", "info"}
OUTER_BY = re.compile(r"^\s*\w+\s+by\s*\(([^)]*)\)")


def check_rules(c: Checks) -> None:
    where = "deploy/prometheus/alerts.yml"
    doc = yaml.safe_load(RULES.read_text())
    rules = [r for g in doc["groups"] for r in g["rules"] if "alert" in r]
    names = [r["alert"] for r in rules]
    c.expect(set(names) == ALERTS, f"{where}: alerts {sorted(names)} are not the contract's {sorted(ALERTS)}")
    c.expect(len(set(names)) == len(names), f"{where}: repeated alert names")
    tests = yaml.safe_load((DEPLOY / "prometheus" / "alerts.test.yml").read_text())
    cases = [t for group in tests["tests"] for t in group.get("alert_rule_test", [])]
    tested = {t["alertname"] for t in cases if t.get("exp_alerts")}
    for r in rules:
        name = f"{where}: {r['alert']}"
        c.expect("for" in r, f"{name}: no `for:`")
        c.expect(r.get("labels", {}).get("severity") in SEVERITIES, f"{name}: severity not one of {sorted(SEVERITIES)}")
        annotations = r.get("annotations", {})
        c.expect({"summary", "description"} <= set(annotations), f"{name}: summary or description missing")
        c.expect(r["alert"] in tested, f"{name}: no unit test in alerts.test.yml expects it to fire")
        split = promql.split_threshold(r["expr"])
        if not c.expect(split is not None, f"{name}: not written SIGNAL <comparison> NUMBER"):
            continue
        by = OUTER_BY.match(split[0])
        if by:
            kept = {label.strip() for label in by.group(1).split(",")}
            used = set(re.findall(r"\$labels\.(\w+)", " ".join(annotations.values())))
            c.expect(used <= kept, f"{name}: annotations use {sorted(used - kept)}, which `by ({by.group(1)})` drops")
