"""Runs every PromQL expression of the dashboards and the alert rules against a real Prometheus scraping a real
`switchboard demo`, and fails listing each expression that does not parse or returns nothing.

    python tests/observability/check_live.py --bin target/debug/switchboard

Dashboard expressions must return data as written (variables substituted: a multi-value or "All" variable by
`.*`, a single-value one by the first value its own query returns). An alert expression may return nothing on a
healthy run, but it must parse and its signal (the expression without its trailing `> THRESHOLD`) must return
data. A panel's legend may only name labels its query's result has. A dashboard query of cluster-mode metrics
alone (`switchboard_cluster_*`, exported only with `[cluster]`) must run but may be empty: the cluster tests
check that a cluster instance exports each one the dashboards name. For an empty result, the metric selectors
that match no series are named: after a metric is renamed, that list says what to fix.

With `--target HOST:PORT` it checks a switchboard already running there instead of starting a demo: its admin
listener with `--token-file` (a read token: /metrics needs one there), or its metrics listener (`[admin]
metrics_listen`) without. Prometheus authenticates the way the README says, with `authorization:
credentials_file`.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import promql

ROOT = Path(__file__).resolve().parents[2]
DEMO_TOKEN = "demo-admin-token"  # src/demo.rs: the demo's admin token
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
# Metrics a switchboard exports only with `[cluster]`: a dashboard query of these alone may be empty here.
CLUSTER_ONLY = "switchboard_cluster_"
SCRAPES_BEFORE_QUERYING = 10  # at 1 s: every rate()/increase() over 1m has many samples


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_until(what: str, check, deadline_s: float, procs: list[tuple[str, subprocess.Popen, Path]]):
    """Polls `check()` every 0.2 s until it returns a truthy value; fails (with the logs of any process that
    exited) after `deadline_s`."""
    end = time.monotonic() + deadline_s
    last_error = None
    while time.monotonic() < end:
        for name, p, log in procs:
            if p.poll() is not None:
                sys.exit(f"check_live: {name} exited ({p.returncode}) while waiting for {what}:\n{tail(log)}")
        try:
            value = check()
            if value:
                return value
        except (OSError, ValueError, KeyError, QueryError) as e:
            last_error = e
        time.sleep(0.2)
    sys.exit(
        f"check_live: timed out after {deadline_s:.0f} s waiting for {what}"
        + (f" ({last_error})" if last_error else "")
    )


def tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


class Prometheus:
    def __init__(self, base: str):
        self.base = base

    def api(self, path: str, **params) -> dict:
        url = f"{self.base}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        status, body = http_get(url, timeout=30)
        doc = json.loads(body)
        if doc.get("status") != "success":
            raise QueryError(f"{doc.get('errorType', status)}: {doc.get('error', body[:200])}")
        return doc["data"]

    def query(self, expr: str) -> list:
        return self.api("query", query=expr)["result"]


class QueryError(Exception):
    pass


def resolve_variables(prom: Prometheus, dashboard: Path, failures: list[str]) -> dict[str, str]:
    """The value each variable of `dashboard` gets; a variable whose query returns nothing is a failure."""
    values = {}
    rel = dashboard.relative_to(ROOT)
    for v in promql.dashboard_variables(dashboard):
        parsed = promql.parse_label_values(v.query)
        if parsed is None:
            failures.append(f"{rel}: variable ${v.name}: query {v.query!r} is not label_values(metric, label)")
            values[v.name] = ".*"
            continue
        metric, label = parsed
        params = {"match[]": metric} if metric else {}
        try:
            found = prom.api(f"label/{label}/values", **params)
        except QueryError as e:
            found = []
            failures.append(f"{rel}: variable ${v.name}: {v.query}: {e}")
        if not found:
            failures.append(f"{rel}: variable ${v.name}: {v.query} returns no value")
        values[v.name] = ".*" if v.multi_or_all or not found else found[0]
    return values


def diagnose(prom: Prometheus, expr: str) -> str:
    """Which selectors of `expr` match no series, and whether their metric exists at all."""
    empty = []
    for sel in promql.selectors(expr):
        try:
            if prom.query(sel):
                continue
            name = promql.metric_name(sel)
            exists = bool(prom.query(f"{name}"))
            empty.append(f"{sel} (metric {'exists, these labels match nothing' if exists else 'not exported'})")
        except QueryError as e:
            empty.append(f"{sel} ({e})")
    return "; ".join(empty) if empty else "every selector has series: the functions or operators leave nothing"


def check_expr(prom: Prometheus, e: promql.Expr, text: str, missing: set[str]) -> str | None:
    """None when `text` passes; otherwise why not."""
    try:
        result = prom.query(text)
    except QueryError as err:
        return f"does not run: {err}"
    if e.alert:
        split = promql.split_threshold(text)
        if split is None:
            return None if result else "empty, and not written SIGNAL > THRESHOLD, so its signal cannot be checked"
        signal = split[0]
        try:
            if prom.query(signal):
                return None
        except QueryError as err:
            return f"signal does not run: {err}"
        text = signal
        why = f"signal `{' '.join(signal.split())}` returns no series"
    elif result:
        # A legend names labels the query must keep (a `by (...)` that drops one leaves the legend blank).
        missing_labels = {
            label for series in result for label in promql.legend_labels(e.legend) if label not in series["metric"]
        }
        if missing_labels:
            return f"legend {e.legend!r} names labels the result lacks: {sorted(missing_labels)}"
        return None
    elif not e.alert and all(
        promql.metric_name(sel).startswith(CLUSTER_ONLY) for sel in promql.selectors(text)
    ) and promql.selectors(text):
        # Exported only in cluster mode, which the demo does not run: the query runs (above), and
        # tests/engine/cluster.rs checks that a cluster instance exports every such metric the dashboards name.
        return None
    else:
        why = "returns no series"
    for sel in promql.selectors(text):
        if not prom.query(promql.metric_name(sel)):
            missing.add(promql.metric_name(sel))
    return f"{why}: {diagnose(prom, text)}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = ap.add_mutually_exclusive_group(required=True)
    target.add_argument("--bin", help="the switchboard binary: its demo is started and checked")
    target.add_argument(
        "--target", help="HOST:PORT of a running switchboard's admin or metrics listener, to check instead"
    )
    ap.add_argument(
        "--token-file", type=Path, help="a file holding a read token for --target's admin listener (default: none)"
    )
    ap.add_argument("--prometheus", default="prometheus")
    ap.add_argument("--max-seconds", type=int, default=300, help="the demo stops by itself after this")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="switchboard-observability-"))
    prom_port = free_port()
    admin = args.target or f"127.0.0.1:{free_port()}"
    demo_log, prom_log = work / "demo.log", work / "prometheus.log"
    procs: list[tuple[str, subprocess.Popen, Path]] = []
    try:
        if args.bin:
            demo = subprocess.Popen(
                [args.bin, "demo", "--seconds", str(args.max_seconds), "--admin", admin, "--dir", str(work / "demo")],
                stdout=demo_log.open("wb"),
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            procs.append(("switchboard demo", demo, demo_log))
        wait_until(f"http://{admin}/healthz", lambda: http_get(f"http://{admin}/healthz")[0] == 200, 120, procs)

        # /metrics on the admin listener needs a read (or admin) token: Prometheus reads it from a file.
        token_file = args.token_file
        if args.bin:
            token_file = work / "token"
            token_file.write_text(DEMO_TOKEN)
        auth = (
            f"    authorization: {{type: Bearer, credentials_file: {json.dumps(str(token_file.resolve()))}}}\n"
            if token_file
            else ""
        )
        config = work / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: [{json.dumps(str(RULES))}]\n"
            "scrape_configs:\n"
            "  - job_name: switchboard\n"
            "    metrics_path: /metrics\n"
            f"{auth}"
            f"    static_configs: [{{targets: ['{admin}']}}]\n"
        )
        prom_proc = subprocess.Popen(
            [
                args.prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={work / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                "--log.level=warn",
            ],
            stdout=prom_log.open("wb"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        procs.append(("prometheus", prom_proc, prom_log))
        prom = Prometheus(f"http://127.0.0.1:{prom_port}")
        wait_until("Prometheus to be ready", lambda: http_get(f"{prom.base}/-/ready")[0] == 200, 60, procs)

        def scraped_enough():
            r = prom.query('count_over_time(up{job="switchboard"}[1m])')
            up = prom.query('up{job="switchboard"}')
            return r and up and float(up[0]["value"][1]) == 1 and float(r[0]["value"][1]) >= SCRAPES_BEFORE_QUERYING

        wait_until(f"{SCRAPES_BEFORE_QUERYING} successful scrapes of the demo", scraped_enough, 90, procs)

        failures: list[str] = []
        passed = 0
        # The demo's events must be flowing, or every rate() is rightly 0 and proves little.
        flowing = lambda: prom.query("sum(switchboard_events_received_total) > 0")  # noqa: E731
        try:
            wait_until("events to reach the demo's engine", flowing, 60, procs)
        except SystemExit as e:
            failures.append(str(e))

        # The rules load and evaluate in a real Prometheus.
        def rules_evaluated():
            groups = prom.api("rules")["groups"]
            rules = [r for g in groups for r in g["rules"]]
            done = rules and all(not r.get("lastEvaluation", "0001").startswith("0001") for r in rules)
            return rules if done else None

        rules = wait_until("the alert rules to be evaluated", rules_evaluated, 30, procs)
        for r in rules:
            if r.get("health") != "ok":
                failures.append(
                    f"{RULES.relative_to(ROOT)}: {r['name']}: evaluation {r.get('health')}: {r.get('lastError')}"
                )

        missing: set[str] = set()
        exprs = [e for d in DASHBOARDS for e in promql.dashboard_exprs(d, ROOT)] + promql.rule_exprs(RULES, ROOT)
        variables = {str(d.relative_to(ROOT)): resolve_variables(prom, d, failures) for d in DASHBOARDS}
        for e in exprs:
            text = promql.substitute(e.expr, variables.get(e.dashboard, {})) if e.dashboard else e.expr
            why = check_expr(prom, e, text, missing)
            if why is None:
                passed += 1
            else:
                failures.append(f"{e.source}\n      {' '.join(text.split())}\n      {why}")

        print(
            f"check_live: {len(exprs)} expressions ({len(DASHBOARDS)} dashboards, {RULES.relative_to(ROOT)}) "
            f"against {'switchboard demo' if args.bin else 'switchboard'} at {admin}, "
            f"Prometheus at 127.0.0.1:{prom_port}"
        )
        for f in failures:
            print(f"  FAIL {f}")
        if missing:
            print("  metrics referenced but not exported by this binary:\n    " + "\n    ".join(sorted(missing)))
        print(f"live PromQL: {passed} passed, {len(failures)} failed")
        return 1 if failures else 0
    finally:
        for _, p, _ in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGINT)  # the demo stops cleanly on Ctrl-C, Prometheus too
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    sys.exit(main())
