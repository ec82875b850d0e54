"""Checks the Grafana dashboards and the deployment files without running them.

    python tests/observability/check_files.py --bin target/debug/switchboard --grafana-schema DIR

Dashboards: valid Grafana JSON as provisioned here (schemaVersion, unique uids and panel ids, gridPos inside the
24-column grid without overlaps, every datasource the provisioned one, every variable used defined, links to
existing dashboards), and type-checked against Grafana's published schema (@grafana/schema, with TypeScript). Deployment: every YAML file parses; the compose file validates against the compose
specification; the Kubernetes manifests against the Kubernetes schemas (kubernetes-validate, strict) and with
each other (selectors, ports, probes, Secret keys, ConfigMap mount); every subcommand, flag, environment
variable, port and path they give switchboard exists in the binary; and the configurations they mount pass
`switchboard check` with the environment they are given.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import yaml

import promql

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
GRAFANA = ROOT / "grafana"
ADMIN_PATHS = ("/healthz", "/readyz", "/metrics")
PANEL_TYPES = {"row", "stat", "timeseries", "table", "bargauge", "gauge", "heatmap", "text", "piechart", "state-timeline"}
BUILTIN_VARIABLES = set(promql.BUILTIN_INTERVALS) | {"__all", "__value", "__url_time_range", "__data", "__field"}


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed: list[str] = []

    def expect(self, ok: bool, what: str) -> bool:
        if ok:
            self.passed += 1
        else:
            self.failed.append(what)
        return ok


class Binary:
    """What the switchboard binary accepts: subcommands, flags, environment variables, admin routes."""

    def __init__(self, path: str):
        self.path = path
        self._help: dict[str, str] = {}
        self.source = "\n".join(p.read_text() for p in (ROOT / "src").rglob("*.rs"))

    def help(self, sub: str | None = None) -> str:
        key = sub or ""
        if key not in self._help:
            cmd = [self.path] + ([sub] if sub else []) + ["--help"]
            self._help[key] = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
        return self._help[key]

    def has_subcommand(self, sub: str) -> bool:
        return re.search(rf"^\s+{re.escape(sub)}\s", self.help(), re.M) is not None

    def has_flag(self, sub: str, flag: str) -> bool:
        return re.search(rf"(^|[\s,]){re.escape(flag)}([\s=<]|$)", self.help(sub), re.M) is not None

    def reads_env(self, name: str) -> bool:
        return f'"{name}"' in self.source

    def serves(self, path: str) -> bool:
        return f'.route("{path}"' in (ROOT / "src" / "api" / "mod.rs").read_text()

    def check_config(self, text: str, env: dict[str, str]) -> tuple[bool, str]:
        with tempfile.TemporaryDirectory() as d:
            f = Path(d) / "switchboard.toml"
            f.write_text(text)
            keep = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
            r = subprocess.run([self.path, "check", "--config", str(f)], capture_output=True, text=True,
                               env={**keep, **env}, check=False)
            return r.returncode == 0, (r.stdout + r.stderr).strip()


def check_command(c: Checks, b: Binary, where: str, argv: list[str]) -> None:
    """A switchboard command line: its subcommand and each of its flags exist."""
    if not c.expect(bool(argv) and b.has_subcommand(argv[0]), f"{where}: {argv[:1]} is not a switchboard subcommand"):
        return
    for a in argv[1:]:
        if a.startswith("--"):
            flag = a.split("=", 1)[0]
            c.expect(b.has_flag(argv[0], flag), f"{where}: `switchboard {argv[0]}` has no flag {flag}")


def config_env_names(text: str) -> set[str]:
    """Environment variables a switchboard configuration reads through secret_env / token_env."""
    return set(re.findall(r'^\s*(?:secret_env|token_env)\s*=\s*"([^"]+)"', text, re.M))


def admin_port(text: str, env: dict[str, str]) -> int | None:
    listen = env.get("SWITCHBOARD_ADMIN_LISTEN") or tomllib.loads(text).get("admin", {}).get("listen")
    return int(listen.rsplit(":", 1)[1]) if listen else None


def check_env(c: Checks, b: Binary, where: str, env: dict[str, str], config_text: str | None) -> None:
    needed = config_env_names(config_text or "")
    for name in env:
        known = b.reads_env(name) or name in needed or name == "RUST_LOG"
        c.expect(known, f"{where}: environment variable {name} is read neither by switchboard nor by its configuration")
    for name in needed:
        c.expect(name in env, f"{where}: the configuration reads {name} (secret_env/token_env) but it is not set")


# ------------------------------------------------------------------------------------------------ dashboards
def check_dashboards(c: Checks) -> None:
    prov = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    ds_uids = {d["uid"] for d in prov["datasources"]}
    c.expect(len(ds_uids) == 1, f"provisioning: expected one datasource, found {sorted(ds_uids)}")
    dashboards = sorted((GRAFANA / "dashboards").glob("*.json"))
    c.expect(len(dashboards) >= 5, f"grafana/dashboards: {len(dashboards)} dashboards, expected overview, tenant, sinks, supervision, upstream")
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
        c.expect(isinstance(d.get("schemaVersion"), int) and d["schemaVersion"] >= 36, f"{rel}: schemaVersion missing or older than 36")
        c.expect(bool(re.fullmatch(r"[A-Za-z0-9_-]{1,40}", d.get("uid", ""))), f"{rel}: uid missing or not 1-40 of [A-Za-z0-9_-]")
        c.expect(bool(d.get("title")), f"{rel}: no title")
        variables = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
        for v in variables.values():
            if v.get("type") == "query":
                c.expect(v.get("datasource", {}).get("uid") in ds_uids, f"{rel}: variable {v['name']}: datasource is not the provisioned one")
                q = v.get("query")
                q = q.get("query") if isinstance(q, dict) else q
                c.expect(promql.parse_label_values(q or "") is not None, f"{rel}: variable {v['name']}: {q!r} is not label_values(...)")
        panels = list(promql.walk_panels(d.get("panels", [])))
        ids = [p.get("id") for p in panels]
        c.expect(all(isinstance(i, int) for i in ids) and len(set(ids)) == len(ids), f"{rel}: panel ids missing or repeated: {ids}")
        boxes = []
        for p in panels:
            where = f"{rel}: panel {p.get('id')} \"{p.get('title', '')}\""
            c.expect(p.get("type") in PANEL_TYPES, f"{where}: unknown type {p.get('type')!r}")
            g = p.get("gridPos", {})
            ok = all(isinstance(g.get(k), int) for k in "xywh") and g["w"] >= 1 and g["h"] >= 1 and g["x"] >= 0 and g["x"] + g["w"] <= 24
            if c.expect(ok, f"{where}: gridPos missing or outside the 24-column grid: {g}"):
                for other_where, o in boxes:
                    overlap = g["x"] < o["x"] + o["w"] and o["x"] < g["x"] + g["w"] and g["y"] < o["y"] + o["h"] and o["y"] < g["y"] + g["h"]
                    c.expect(not overlap, f"{where}: overlaps {other_where}")
                boxes.append((where, g))
            if p.get("type") == "row":
                continue
            c.expect(p.get("datasource", {}).get("uid") in ds_uids, f"{where}: datasource is not the provisioned one ({sorted(ds_uids)})")
            targets = p.get("targets", [])
            c.expect(bool(targets) or p.get("type") == "text", f"{where}: no query")
            refs = [t.get("refId") for t in targets]
            c.expect(len(set(refs)) == len(refs), f"{where}: repeated refIds {refs}")
            for t in targets:
                c.expect(t.get("datasource", {}).get("uid", next(iter(ds_uids))) in ds_uids, f"{where} ({t.get('refId')}): datasource is not the provisioned one")
                unknown = promql.referenced_variables(t.get("expr", "")) - set(variables) - BUILTIN_VARIABLES
                c.expect(not unknown, f"{where} ({t.get('refId')}): undefined variables {sorted(unknown)}")
            text = json.dumps(p)
            for uid in re.findall(r"/d/([A-Za-z0-9_-]+)", text):
                c.expect(uid in uids, f"{where}: links to dashboard uid {uid}, which does not exist")
    by_uid = {d.get("uid"): d for d in loaded.values()}
    overview = by_uid.get("switchboard-overview", {})
    c.expect(any(p.get("type") == "table" and "issues" in p.get("title", "").lower() for p in promql.walk_panels(overview.get("panels", []))),
             "switchboard-overview: no table of tenants and channels with issues")
    tenant = by_uid.get("switchboard-tenant", {})
    c.expect(any(v["name"] == "tenant" for v in tenant.get("templating", {}).get("list", [])), "switchboard-tenant: no $tenant variable")
    sinks = by_uid.get("switchboard-sinks", {})
    c.expect(any(v["name"] == "sink" for v in sinks.get("templating", {}).get("list", [])), "switchboard-sinks: no $sink variable")


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
        ts.write_text("import type { Dashboard } from '@grafana/schema';\nimport type { Json } from '../json';\n"
                      f"export const dashboard: Json<Dashboard> = {path.read_text()};\n")
        sources[ts.name] = path.relative_to(ROOT)
    r = subprocess.run([str(tsc), "--noEmit", "--strict", "--moduleResolution", "bundler", "--module", "esnext",
                        "--target", "es2022", *sorted(str(p) for p in out_dir.glob("*.ts"))],
                       capture_output=True, text=True, cwd=workdir, check=False)
    errors = [line for line in r.stdout.splitlines() if "error TS" in line]
    for line in errors:
        # dashboards/x.ts(LINE,COL): error ...: the dashboard's JSON starts on line 3 of the .ts file.
        m = re.match(r".*?([\w]+\.ts)\((\d+),(\d+)\): (.*)", line)
        where = f"{sources.get(m.group(1), m.group(1))}:{int(m.group(2)) - 2}" if m else "?"
        c.expect(False, f"{where}: not a Grafana Dashboard (@grafana/schema): {m.group(4) if m else line}")
    c.expect(r.returncode == 0 or bool(errors), f"tsc failed: {r.stdout}{r.stderr}")
    if r.returncode == 0:
        c.passed += len(sources)


# ------------------------------------------------------------------------------------------------ deploy
def check_yaml_parses(c: Checks) -> None:
    for path in sorted(list(DEPLOY.rglob("*.yml")) + list(DEPLOY.rglob("*.yaml")) + list((GRAFANA / "provisioning").rglob("*.yml"))):
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
            c.expect(all(isinstance(x, dict) for x in docs), f"{path.relative_to(ROOT)}: a document is not a mapping")
        except yaml.YAMLError as e:
            c.expect(False, f"{path.relative_to(ROOT)}: not YAML: {e}")


def compose_env(service: dict) -> dict[str, str]:
    """A service's environment as the container gets it when the host sets nothing: `${X:-d}` → d, and a key
    with no value (passed through from the host) left out."""
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    out = {}
    for k, v in env.items():
        if v is None:
            continue
        out[k] = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(v))
    return out


def check_dockerfile(c: Checks, b: Binary) -> int | None:
    """deploy/Dockerfile, parsed by BuildKit's own parser (the `dockerfile` package): multi-stage, a Rust build
    stage, a debian-slim runtime last, as a non-root user; what it copies exists and is let through by its
    .dockerignore; its port, health check, environment and command exist in switchboard. Returns the runtime's
    exposed port."""
    import dockerfile

    where = "deploy/Dockerfile"
    try:
        cmds = dockerfile.parse_file(str(DEPLOY / "Dockerfile"))
    except dockerfile.GoParseError as e:
        c.expect(False, f"{where}: does not parse: {e}")
        return None
    stages: list[tuple[str, list]] = []
    for cmd in cmds:
        if cmd.cmd.upper() == "FROM":
            v = cmd.value
            stages.append((v[2] if len(v) >= 3 and v[1].upper() == "AS" else "", [cmd]))
        elif stages:
            stages[-1][1].append(cmd)
    names = [n for n, _ in stages if n]
    c.expect(len(stages) >= 2, f"{where}: not multi-stage")
    c.expect(len(set(names)) == len(names), f"{where}: repeated stage names {names}")
    c.expect(any(s[1][0].value[0].startswith("rust:") for s in stages), f"{where}: no Rust build stage")
    final = stages[-1][1] if stages else []
    c.expect(bool(final) and re.match(r"debian:\S*-slim$", final[0].value[0]) is not None, f"{where}: the last stage is not debian-slim")

    def of(kind: str) -> list:
        return [x for x in final if x.cmd.upper() == kind]

    users = of("USER")
    c.expect(bool(users) and users[-1].value[0] not in ("root", "0"), f"{where}: the runtime stage does not switch to a non-root USER")
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for cmd in cmds:
        if cmd.cmd.upper() != "COPY":
            continue
        src_from = [f for f in cmd.flags if f.startswith("--from=")]
        if src_from:
            c.expect(src_from[0].split("=", 1)[1] in names, f"{where}: COPY {cmd.flags[0]}: no such stage")
            continue
        for src in cmd.value[:-1]:
            c.expect((ROOT / src).exists(), f"{where}: COPY {src}: no such file in the repository")
            c.expect(f"!{src.rstrip('/')}" in ignore or f"!{src.rstrip('/')}/" in ignore,
                     f"deploy/Dockerfile.dockerignore: {src} is excluded from the build context")
    exposed = [int(p.split("/")[0]) for e in of("EXPOSE") for p in e.value]
    for h in of("HEALTHCHECK"):
        for port, path in re.findall(r"https?://127\.0\.0\.1:(\d+)(/\w+)", " ".join(h.value)):
            c.expect(b.serves(path), f"{where}: HEALTHCHECK path {path} is not served by switchboard")
            c.expect(int(port) in exposed, f"{where}: HEALTHCHECK port {port} is not EXPOSEd")
    for e in of("ENV"):
        for name in e.value[::2]:
            c.expect(b.reads_env(name), f"{where}: ENV {name} is not read by switchboard")
    entry, cmd = of("ENTRYPOINT"), of("CMD")
    c.expect(bool(entry) and entry[-1].value[0].endswith("/switchboard"), f"{where}: the runtime's ENTRYPOINT is not switchboard")
    if c.expect(bool(cmd) and cmd[-1].json, f"{where}: no CMD in exec form"):
        check_command(c, b, f"{where} CMD", list(cmd[-1].value))
    return exposed[0] if exposed else None


def check_compose(c: Checks, b: Binary, image_port: int | None, venv_bin: Path) -> None:
    path = DEPLOY / "compose.yml"
    r = subprocess.run([str(venv_bin / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
                       capture_output=True, text=True, check=False)
    c.expect(r.returncode == 0, f"deploy/compose.yml: not valid against the compose specification:\n{r.stdout}{r.stderr}")
    doc = yaml.safe_load(path.read_text())
    services = doc.get("services", {})
    for name in ("switchboard", "sim", "prometheus", "grafana", "nats", "kafka"):
        c.expect(name in services, f"deploy/compose.yml: no service {name}")

    def mounts(svc):
        out = {}
        for v in svc.get("volumes", []):
            parts = v.split(":")
            if parts[0].startswith("."):
                host = (path.parent / parts[0]).resolve()
                c.expect(host.exists(), f"deploy/compose.yml: volume {parts[0]}: no such file or directory")
                out[parts[1]] = host
        return out

    def container_ports(svc):
        return {int(str(p).split(":")[-1].split("/")[0]) for p in svc.get("ports", [])}

    ports = {}
    for name, svc in services.items():
        ports[name] = container_ports(svc)
        build = svc.get("build", {})
        if build.get("dockerfile") == "deploy/Dockerfile" and not build.get("target"):
            where = f"deploy/compose.yml: {name}"
            c.expect((path.parent / build.get("context", ".")).resolve() == ROOT, f"{where}: build context is not the repository root")
            argv = svc.get("command", [])
            check_command(c, b, where, argv)
            m = mounts(svc)
            env = compose_env(svc)
            cfg_path = argv[argv.index("--config") + 1] if "--config" in argv else None
            if argv[:1] == ["serve"]:
                host = m.get(cfg_path)
                if c.expect(host is not None, f"{where}: --config {cfg_path} is not a mounted file"):
                    text = host.read_text()
                    check_env(c, b, where, env, text)
                    ok, out = b.check_config(text, env)
                    c.expect(ok, f"{where}: switchboard check --config {host.relative_to(ROOT)} fails:\n{out}")
                    port = admin_port(text, env)
                    c.expect(port in ports[name], f"{where}: admin port {port} ([admin] listen) is not among its ports {sorted(ports[name])}")
                    c.expect(port == image_port, f"{where}: admin port {port} is not the image's EXPOSEd {image_port}")
                    listen = tomllib.loads(text).get("admin", {}).get("listen", "")
                    c.expect(listen.startswith("0.0.0.0:"), f"{where}: [admin] listen {listen!r} is not reachable from other containers")
            elif argv[:1] == ["sim"]:
                host = m.get(cfg_path)
                if c.expect(host is not None, f"{where}: --config {cfg_path} is not a mounted file"):
                    listen = tomllib.loads(host.read_text()).get("listen", "127.0.0.1:8090")
                    c.expect(listen.startswith("0.0.0.0:"), f"{where}: listen {listen!r} is not reachable from other containers")
                    c.expect(int(listen.rsplit(":", 1)[1]) in ports[name], f"{where}: listen port not among its ports")
                check_env(c, b, where, env, None)
    # Prometheus scrapes the switchboard service on its admin port, and loads the rules mounted beside it.
    prom = services.get("prometheus", {})
    pm = mounts(prom)
    prom_cfg_path = next((a.split("=", 1)[1] for a in prom.get("command", []) if a.startswith("--config.file=")), None)
    if c.expect(prom_cfg_path in pm, "deploy/compose.yml: prometheus: --config.file is not a mounted file"):
        cfg = yaml.safe_load(pm[prom_cfg_path].read_text())
        targets = [t for sc in cfg["scrape_configs"] for s in sc.get("static_configs", []) for t in s["targets"]]
        for sc in cfg["scrape_configs"]:
            c.expect(b.serves(sc.get("metrics_path", "/metrics")), f"prometheus.yml: {sc['job_name']}: metrics_path is not served")
        for t in targets:
            host, port = t.rsplit(":", 1)
            c.expect(host in services and int(port) in ports.get(host, set()), f"prometheus.yml: target {t} is not a compose service port")
        for rf in cfg.get("rule_files", []):
            c.expect(str(Path(prom_cfg_path).parent / rf) in pm, f"deploy/compose.yml: prometheus: rule file {rf} is not mounted beside the config")
    # Grafana: provisioning and dashboards mounted where the provisioning files say; the datasource URL is the
    # prometheus service.
    gm = mounts(services.get("grafana", {}))
    c.expect(gm.get("/etc/grafana/provisioning") == GRAFANA / "provisioning", "deploy/compose.yml: grafana: grafana/provisioning is not mounted at /etc/grafana/provisioning")
    prov = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "switchboard.yml").read_text())
    for p in prov["providers"]:
        c.expect(gm.get(p["options"]["path"]) == GRAFANA / "dashboards", f"deploy/compose.yml: grafana: dashboards are not mounted at {p['options']['path']}")
    home = compose_env(services.get("grafana", {})).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        mount = next((m for m in gm if home.startswith(m + "/")), None)
        c.expect(mount is not None and (gm[mount] / home[len(mount) + 1:]).exists(), f"deploy/compose.yml: grafana home dashboard {home} does not exist")
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    for d in ds["datasources"]:
        m = re.match(r"https?://([\w-]+):(\d+)", d["url"])
        c.expect(m is not None and m.group(1) in services and int(m.group(2)) in ports.get(m.group(1), set()),
                 f"grafana datasource url {d['url']} is not a compose service port")
    c.expect("-js" in services.get("nats", {}).get("command", []), "deploy/compose.yml: nats runs without JetStream (-js)")
    kafka = services.get("kafka", {})
    c.expect(kafka.get("build", {}).get("target") == "tansu" and "target" in kafka.get("build", {}), "deploy/compose.yml: kafka is not the tansu stage of deploy/Dockerfile")
    c.expect(re.search(r"^FROM\s+\S+\s+AS\s+tansu\s*$", (DEPLOY / "Dockerfile").read_text(), re.M | re.I) is not None,
             "deploy/Dockerfile: no tansu stage")


def check_kubernetes(c: Checks, b: Binary, image_port: int | None, venv_bin: Path) -> None:
    k8s = DEPLOY / "k8s"
    files = sorted(k8s.glob("*.yaml"))
    objs = []
    for f in files:
        for d in yaml.safe_load_all(f.read_text()):
            if d:
                objs.append((f, d))
    kinds = {}
    for f, d in objs:
        kinds.setdefault(d["kind"], []).append(d)
    for kind in ("Deployment", "Service", "ConfigMap", "Secret", "ServiceMonitor", "PodDisruptionBudget", "Kustomization"):
        c.expect(kind in kinds, f"deploy/k8s: no {kind}")
    builtin = [str(f) for f, d in objs if "." not in d["apiVersion"].split("/")[0] or d["apiVersion"].startswith(("apps/", "policy/"))]
    r = subprocess.run([str(venv_bin / "kubernetes-validate"), "--strict", "--quiet", *sorted(set(builtin))],
                       capture_output=True, text=True, check=False)
    c.expect(r.returncode == 0, f"deploy/k8s: kubernetes-validate --strict fails:\n{r.stdout}{r.stderr}")
    kust = kinds.get("Kustomization", [{}])[0]
    listed = set(kust.get("resources", []))
    # Every manifest but the Secret (created by hand, so that applying never overwrites real secrets).
    expected = {f.name for f, d in objs if d["kind"] not in ("Kustomization", "Secret")}
    c.expect(listed == expected, f"deploy/k8s/kustomization.yaml: resources {sorted(listed)} are not {sorted(expected)}")
    if not all(k in kinds for k in ("Deployment", "Service", "ConfigMap", "Secret")):
        return
    dep = kinds["Deployment"][0]
    pod = dep["spec"]["template"]
    labels = pod["metadata"].get("labels", {})

    def selects(selector: dict, what: str) -> None:
        c.expect(bool(selector) and all(labels.get(k) == v for k, v in selector.items()), f"deploy/k8s: {what} selector {selector} does not match the pod labels {labels}")

    selects(dep["spec"]["selector"]["matchLabels"], "Deployment")
    svc = kinds["Service"][0]
    selects(svc["spec"]["selector"], "Service")
    for pdb in kinds.get("PodDisruptionBudget", []):
        selects(pdb["spec"]["selector"]["matchLabels"], "PodDisruptionBudget")
    c.expect(dep["spec"]["replicas"] == 1 and dep["spec"].get("strategy", {}).get("type") == "Recreate",
             "deploy/k8s: the Deployment must run one replica with the Recreate strategy (one owner per tenant)")
    container = pod["spec"]["containers"][0]
    cports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}

    def port_of(ref) -> int | None:
        return cports.get(ref) if isinstance(ref, str) else (ref if ref in cports.values() else None)

    for p in svc["spec"]["ports"]:
        c.expect(port_of(p.get("targetPort", p["port"])) is not None, f"deploy/k8s: Service port {p.get('name')} targetPort {p.get('targetPort')} is no container port")
    for sm in kinds.get("ServiceMonitor", []):
        sel = sm["spec"]["selector"]["matchLabels"]
        c.expect(all(svc["metadata"].get("labels", {}).get(k) == v for k, v in sel.items()), "deploy/k8s: the ServiceMonitor selector does not match the Service's labels")
        for ep in sm["spec"]["endpoints"]:
            c.expect(ep.get("port") in {p.get("name") for p in svc["spec"]["ports"]}, f"deploy/k8s: ServiceMonitor port {ep.get('port')} is not a Service port name")
            c.expect(ep.get("path", "/metrics") == "/metrics" and b.serves("/metrics"), "deploy/k8s: ServiceMonitor path is not /metrics")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container.get(probe, {}).get("httpGet", {})
        c.expect(get.get("path") == path and b.serves(path), f"deploy/k8s: {probe} is not an HTTP GET of {path}")
        c.expect(port_of(get.get("port")) is not None, f"deploy/k8s: {probe} port {get.get('port')} is no container port")
    for sp in ("startupProbe",):
        if sp in container:
            c.expect(b.serves(container[sp].get("httpGet", {}).get("path", "")), f"deploy/k8s: {sp} path is not served")
    argv = container.get("args", [])
    check_command(c, b, "deploy/k8s Deployment args", argv)
    # The config: the ConfigMap key mounted at --config.
    cfg_path = argv[argv.index("--config") + 1] if "--config" in argv else None
    text = None
    volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
    for m in container.get("volumeMounts", []):
        v = volumes.get(m["name"])
        c.expect(v is not None, f"deploy/k8s: volumeMount {m['name']} has no volume")
        if v and "configMap" in v and cfg_path and cfg_path.startswith(m["mountPath"].rstrip("/") + "/"):
            cm = next((x for x in kinds["ConfigMap"] if x["metadata"]["name"] == v["configMap"]["name"]), None)
            key = cfg_path[len(m["mountPath"].rstrip("/")) + 1:]
            if c.expect(cm is not None and key in cm.get("data", {}), f"deploy/k8s: --config {cfg_path} is not a key of a ConfigMap mounted there"):
                text = cm["data"][key]
        if v and "persistentVolumeClaim" in v:
            claims = {p["metadata"]["name"] for p in kinds.get("PersistentVolumeClaim", [])}
            c.expect(v["persistentVolumeClaim"]["claimName"] in claims, f"deploy/k8s: volume {m['name']} claims a PVC that is not defined")
    if not c.expect(text is not None, "deploy/k8s: no configuration mounted at the Deployment's --config"):
        return
    # The environment: plain values and Secret keys (the Secret's example values stand in for real ones).
    secrets = {s["metadata"]["name"]: s.get("stringData", {}) for s in kinds["Secret"]}
    env = {}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            found = ref["key"] in secrets.get(ref["name"], {})
            c.expect(found or ref.get("optional", False), f"deploy/k8s: env {e['name']}: Secret {ref['name']} has no key {ref['key']}")
            if found:
                env[e["name"]] = secrets[ref["name"]][ref["key"]]
        if not b.reads_env(e["name"]) and e["name"] not in config_env_names(text) and e["name"] != "RUST_LOG":
            c.expect(False, f"deploy/k8s: env {e['name']} is read neither by switchboard nor by its configuration")
    for name in config_env_names(text):
        c.expect(any(e["name"] == name for e in container.get("env", [])), f"deploy/k8s: the configuration reads {name} but the Deployment does not set it")
    env.pop("SWITCHBOARD_MASTER_KEY", None)  # an example placeholder; `check` does not read it
    ok, out = b.check_config(text, env)
    c.expect(ok, f"deploy/k8s: switchboard check on the ConfigMap's configuration fails:\n{out}")
    port = admin_port(text, env)
    c.expect(port in cports.values(), f"deploy/k8s: admin port {port} ([admin] listen) is not a container port {cports}")
    c.expect(port == image_port, f"deploy/k8s: admin port {port} is not the image's EXPOSEd {image_port}")
    sc = pod["spec"].get("securityContext", {})
    c.expect(sc.get("runAsNonRoot") is True, "deploy/k8s: the pod does not run as non-root")
    data_mounts = [m["mountPath"] for m in container.get("volumeMounts", []) if "persistentVolumeClaim" in volumes.get(m["name"], {})]
    cfg = tomllib.loads(text)
    for key in ("path", "spool_dir"):
        value = cfg.get("store", {}).get(key)
        if value:
            c.expect(any(value.startswith(m.rstrip("/") + "/") for m in data_mounts), f"deploy/k8s: [store] {key} {value} is not on the persistent volume")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="the switchboard binary")
    ap.add_argument("--grafana-schema", type=Path, required=True,
                    help="a folder where tests/observability/grafana-schema's packages are installed")
    args = ap.parse_args()
    venv_bin = Path(sys.executable).parent
    for tool in ("check-jsonschema", "kubernetes-validate"):
        if not (venv_bin / tool).exists() and not shutil.which(tool):
            sys.exit(f"check_files: {tool} is not installed (tests/clients/requirements.txt)")
    b = Binary(args.bin)
    c = Checks()
    for path in ADMIN_PATHS:
        c.expect(b.serves(path), f"switchboard does not serve {path}")
    check_dashboards(c)
    check_grafana_schema(c, args.grafana_schema.resolve())
    check_yaml_parses(c)
    image_port = check_dockerfile(c, b)
    check_compose(c, b, image_port, venv_bin)
    check_kubernetes(c, b, image_port, venv_bin)
    for f in c.failed:
        print(f"  FAIL {f}")
    print(f"dashboards and deploy files: {c.passed} passed, {len(c.failed)} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
