"""Checks of the Grafana dashboards and their provisioning (see check_files.py)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

import promql
from common import GRAFANA, ROOT, Checks

PANEL_TYPES = {
    "row",
    "stat",
    "timeseries",
    "table",
    "bargauge",
    "gauge",
    "heatmap",
    "text",
    "piechart",
    "state-timeline",
}
BUILTIN_VARIABLES = set(promql.BUILTIN_INTERVALS) | {"__all", "__value", "__url_time_range", "__data", "__field"}


def check_dashboards(c: Checks) -> None:
    prov = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    ds_uids = {d["uid"] for d in prov["datasources"]}
    c.expect(len(ds_uids) == 1, f"provisioning: expected one datasource, found {sorted(ds_uids)}")
    dashboards = sorted((GRAFANA / "dashboards").glob("*.json"))
    c.expect(
        len(dashboards) >= 5,
        f"grafana/dashboards: {len(dashboards)} dashboards, expected overview, tenant, sinks, supervision, upstream",
    )
    loaded = {}
    for path in dashboards:
        rel = path.relative_to(ROOT)
        try:
            loaded[path] = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            c.expect(False, f"{rel}: not JSON: {e}")
    uids = [d.get("uid") for d in loaded.values()]
    c.expect(len(set(uids)) == len(uids), f"grafana/dashboards: repeated dashboard uids {uids}")
    for path, d in loaded.items():
        rel = path.relative_to(ROOT)
        c.expect(
            isinstance(d.get("schemaVersion"), int) and d["schemaVersion"] >= 36,
            f"{rel}: schemaVersion missing or older than 36",
        )
        c.expect(
            bool(re.fullmatch(r"[A-Za-z0-9_-]{1,40}", d.get("uid", ""))),
            f"{rel}: uid missing or not 1-40 of [A-Za-z0-9_-]",
        )
        c.expect(bool(d.get("title")), f"{rel}: no title")
        variables = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
        for v in variables.values():
            if v.get("type") == "query":
                c.expect(
                    v.get("datasource", {}).get("uid") in ds_uids,
                    f"{rel}: variable {v['name']}: datasource is not the provisioned one",
                )
                q = v.get("query")
                q = q.get("query") if isinstance(q, dict) else q
                c.expect(
                    promql.parse_label_values(q or "") is not None,
                    f"{rel}: variable {v['name']}: {q!r} is not label_values(...)",
                )
        panels = list(promql.walk_panels(d.get("panels", [])))
        ids = [p.get("id") for p in panels]
        c.expect(
            all(isinstance(i, int) for i in ids) and len(set(ids)) == len(ids),
            f"{rel}: panel ids missing or repeated: {ids}",
        )
        boxes = []
        for p in panels:
            where = f'{rel}: panel {p.get("id")} "{p.get("title", "")}"'
            c.expect(p.get("type") in PANEL_TYPES, f"{where}: unknown type {p.get('type')!r}")
            g = p.get("gridPos", {})
            ok = (
                all(isinstance(g.get(k), int) for k in "xywh")
                and g["w"] >= 1
                and g["h"] >= 1
                and g["x"] >= 0
                and g["x"] + g["w"] <= 24
            )
            if c.expect(ok, f"{where}: gridPos missing or outside the 24-column grid: {g}"):
                for other_where, o in boxes:
                    overlap = (
                        g["x"] < o["x"] + o["w"]
                        and o["x"] < g["x"] + g["w"]
                        and g["y"] < o["y"] + o["h"]
                        and o["y"] < g["y"] + g["h"]
                    )
                    c.expect(not overlap, f"{where}: overlaps {other_where}")
                boxes.append((where, g))
            if p.get("type") == "row":
                continue
            c.expect(
                p.get("datasource", {}).get("uid") in ds_uids,
                f"{where}: datasource is not the provisioned one ({sorted(ds_uids)})",
            )
            targets = p.get("targets", [])
            c.expect(bool(targets) or p.get("type") == "text", f"{where}: no query")
            refs = [t.get("refId") for t in targets]
            c.expect(len(set(refs)) == len(refs), f"{where}: repeated refIds {refs}")
            for t in targets:
                c.expect(
                    t.get("datasource", {}).get("uid", next(iter(ds_uids))) in ds_uids,
                    f"{where} ({t.get('refId')}): datasource is not the provisioned one",
                )
                unknown = promql.referenced_variables(t.get("expr", "")) - set(variables) - BUILTIN_VARIABLES
                c.expect(not unknown, f"{where} ({t.get('refId')}): undefined variables {sorted(unknown)}")
            text = json.dumps(p)
            for uid in re.findall(r"/d/([A-Za-z0-9_-]+)", text):
                c.expect(uid in uids, f"{where}: links to dashboard uid {uid}, which does not exist")
    by_uid = {d.get("uid"): d for d in loaded.values()}
    overview = by_uid.get("switchboard-overview", {})
    c.expect(
        any(
            p.get("type") == "table" and "issues" in p.get("title", "").lower()
            for p in promql.walk_panels(overview.get("panels", []))
        ),
        "switchboard-overview: no table of tenants and channels with issues",
    )
    tenant = by_uid.get("switchboard-tenant", {})
    c.expect(
        any(v["name"] == "tenant" for v in tenant.get("templating", {}).get("list", [])),
        "switchboard-tenant: no $tenant variable",
    )
    sinks = by_uid.get("switchboard-sinks", {})
    c.expect(
        any(v["name"] == "sink" for v in sinks.get("templating", {}).get("list", [])),
        "switchboard-sinks: no $sink variable",
    )


def check_grafana_schema(c: Checks, workdir: Path) -> None:
    """Type-checks each dashboard against @grafana/schema's Dashboard type (strict, no unknown properties), with
    the packages of tests/observability/grafana-schema installed in `workdir`."""
    tsc = workdir / "node_modules" / ".bin" / "tsc"
    if not c.expect(tsc.exists(), f"{workdir}: typescript is not installed (npm ci there)"):
        return
    shutil.copy(Path(__file__).parent / "grafana-schema" / "json.d.ts", workdir / "json.d.ts")
    out_dir = workdir / "dashboards"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir()
    sources = {}
    for path in sorted((GRAFANA / "dashboards").glob("*.json")):
        ts = out_dir / (path.stem.replace("-", "_") + ".ts")
        ts.write_text(
            "import type { Dashboard } from '@grafana/schema';\nimport type { Json } from '../json';\n"
            f"export const dashboard: Json<Dashboard> = {path.read_text()};\n"
        )
        sources[ts.name] = path.relative_to(ROOT)
    r = subprocess.run(
        [
            str(tsc),
            "--noEmit",
            "--strict",
            "--moduleResolution",
            "bundler",
            "--module",
            "esnext",
            "--target",
            "es2022",
            *sorted(str(p) for p in out_dir.glob("*.ts")),
        ],
        capture_output=True,
        text=True,
        cwd=workdir,
        check=False,
    )
    errors = [line for line in r.stdout.splitlines() if "error TS" in line]
    for line in errors:
        # dashboards/x.ts(LINE,COL): error ...: the dashboard's JSON starts on line 3 of the .ts file.
        m = re.match(r".*?([\w]+\.ts)\((\d+),(\d+)\): (.*)", line)
        where = f"{sources.get(m.group(1), m.group(1))}:{int(m.group(2)) - 2}" if m else "?"
        c.expect(False, f"{where}: not a Grafana Dashboard (@grafana/schema): {m.group(4) if m else line}")
    c.expect(r.returncode == 0 or bool(errors), f"tsc failed: {r.stdout}{r.stderr}")
    if r.returncode == 0:
        c.passed += len(sources)
