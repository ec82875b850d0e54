"""Checks of the deployment files: the Dockerfile, the compose stack and the Kubernetes manifests (see
check_files.py)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import tomllib
import urllib.request
from pathlib import Path

import yaml

from common import (
    DEPLOY,
    GRAFANA,
    ROOT,
    Binary,
    Checks,
    admin_port,
    check_command,
    check_env,
    config_env_names,
    metrics_port,
)


def check_yaml_parses(c: Checks) -> None:
    for path in sorted(
        list(DEPLOY.rglob("*.yml")) + list(DEPLOY.rglob("*.yaml")) + list((GRAFANA / "provisioning").rglob("*.yml"))
    ):
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


# Shared libraries of debian:bookworm-slim's base (libc6, libgcc-s1). A binary that needs another one needs its
# Debian package installed in the Dockerfile's runtime stage, and its name here.
RUNTIME_LIBRARIES = {
    "linux-vdso.so.1",
    "ld-linux-x86-64.so.2",
    "libc.so.6",
    "libm.so.6",
    "libgcc_s.so.1",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    # zlib1g, installed by the runtime stage (the Kafka sink's librdkafka links it).
    "libz.so.1",
}


def check_runtime_libraries(c: Checks, b: Binary) -> None:
    """The binary runs on the image's runtime stage: every shared library it links is in debian-slim."""
    r = subprocess.run(["ldd", b.path], capture_output=True, text=True, check=False)
    if not c.expect(r.returncode == 0, f"ldd {b.path} failed: {r.stderr.strip()}"):
        return
    for line in r.stdout.splitlines():
        name = line.split()[0].rsplit("/", 1)[-1] if line.strip() else ""
        c.expect(
            name in RUNTIME_LIBRARIES,
            f"deploy/Dockerfile: switchboard links {name}, which debian:bookworm-slim lacks: install its package in "
            "the runtime stage and list it in tests/observability/deploy.py RUNTIME_LIBRARIES",
        )


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
    c.expect(
        bool(final) and re.match(r"debian:\S*-slim$", final[0].value[0]) is not None,
        f"{where}: the last stage is not debian-slim",
    )

    def of(kind: str) -> list:
        return [x for x in final if x.cmd.upper() == kind]

    users = of("USER")
    c.expect(
        bool(users) and users[-1].value[0] not in ("root", "0"),
        f"{where}: the runtime stage does not switch to a non-root USER",
    )
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
            c.expect(
                f"!{src.rstrip('/')}" in ignore or f"!{src.rstrip('/')}/" in ignore,
                f"deploy/Dockerfile.dockerignore: {src} is excluded from the build context",
            )
    exposed = [int(p.split("/")[0]) for e in of("EXPOSE") for p in e.value]
    for h in of("HEALTHCHECK"):
        for port, path in re.findall(r"https?://127\.0\.0\.1:(\d+)(/\w+)", " ".join(h.value)):
            c.expect(b.serves(path), f"{where}: HEALTHCHECK path {path} is not served by switchboard")
            c.expect(int(port) in exposed, f"{where}: HEALTHCHECK port {port} is not EXPOSEd")
    for e in of("ENV"):
        for name in e.value[::2]:
            c.expect(b.reads_env(name), f"{where}: ENV {name} is not read by switchboard")
    entry, cmd = of("ENTRYPOINT"), of("CMD")
    c.expect(
        bool(entry) and entry[-1].value[0].endswith("/switchboard"),
        f"{where}: the runtime's ENTRYPOINT is not switchboard",
    )
    if c.expect(bool(cmd) and cmd[-1].json, f"{where}: no CMD in exec form"):
        check_command(c, b, f"{where} CMD", list(cmd[-1].value))
    return exposed[0] if exposed else None


def check_compose(c: Checks, b: Binary, image_port: int | None, venv_bin: Path) -> None:
    path = DEPLOY / "compose.yml"
    r = subprocess.run(
        [str(venv_bin / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    c.expect(
        r.returncode == 0, f"deploy/compose.yml: not valid against the compose specification:\n{r.stdout}{r.stderr}"
    )
    doc = yaml.safe_load(path.read_text())
    services = doc.get("services", {})
    for name in ("switchboard", "sim", "prometheus", "grafana", "nats", "kafka", "postgres"):
        c.expect(name in services, f"deploy/compose.yml: no service {name}")
    # Two instances in cluster mode on the postgres service: distinct ids, one store.
    serving = {n: compose_env(svc) for n, svc in services.items() if svc.get("command", [])[:1] == ["serve"]}
    c.expect(len(serving) >= 2, f"deploy/compose.yml: {len(serving)} switchboard instance(s), not two")
    ids = [env.get("SWITCHBOARD_INSTANCE_ID") for env in serving.values()]
    c.expect(
        all(ids) and len(set(ids)) == len(ids), f"deploy/compose.yml: instance ids {ids} are not set and distinct"
    )
    stores = {env.get("SWITCHBOARD_STORE") for env in serving.values()}
    c.expect(
        len(stores) == 1 and all(s and s.startswith("postgres://") and "@postgres:" in s for s in stores),
        f"deploy/compose.yml: the instances do not share the postgres service as their store: {stores}",
    )
    data = [v for svc in services.values() if svc.get("command", [])[:1] == ["serve"] for v in svc.get("volumes", [])]
    data = [v.split(":")[0] for v in data if v.split(":")[1:2] == ["/var/lib/switchboard"]]
    c.expect(
        len(data) == len(serving) and len(set(data)) == len(data),
        f"deploy/compose.yml: each instance needs a data volume of its own at /var/lib/switchboard: {data}",
    )

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
        # Published ports and ports exposed to the stack's network only.
        ports = [*svc.get("ports", []), *svc.get("expose", [])]
        return {int(str(p).split(":")[-1].split("/")[0]) for p in ports}

    ports = {}
    # switchboard service → the port of its metrics listener (None: /metrics only on the admin listener).
    metrics_ports: dict[str, int | None] = {}
    for name, svc in services.items():
        ports[name] = container_ports(svc)
        build = svc.get("build", {})
        if build.get("dockerfile") == "deploy/Dockerfile" and not build.get("target"):
            where = f"deploy/compose.yml: {name}"
            c.expect(
                (path.parent / build.get("context", ".")).resolve() == ROOT,
                f"{where}: build context is not the repository root",
            )
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
                    c.expect(
                        port in ports[name],
                        f"{where}: admin port {port} ([admin] listen) is not among its ports {sorted(ports[name])}",
                    )
                    c.expect(port == image_port, f"{where}: admin port {port} is not the image's EXPOSEd {image_port}")
                    listen = tomllib.loads(text).get("admin", {}).get("listen", "")
                    c.expect(
                        listen.startswith("0.0.0.0:"),
                        f"{where}: [admin] listen {listen!r} is not reachable from other containers",
                    )
                    mport = metrics_port(text, env)
                    metrics_ports[name] = mport
                    if mport is not None:
                        c.expect(
                            mport in ports[name],
                            f"{where}: metrics port {mport} ([admin] metrics_listen) is not among its ports",
                        )
                        c.expect(mport != port, f"{where}: metrics_listen and listen share port {port}")
            elif argv[:1] == ["sim"]:
                host = m.get(cfg_path)
                if c.expect(host is not None, f"{where}: --config {cfg_path} is not a mounted file"):
                    listen = tomllib.loads(host.read_text()).get("listen", "127.0.0.1:8090")
                    c.expect(
                        listen.startswith("0.0.0.0:"),
                        f"{where}: listen {listen!r} is not reachable from other containers",
                    )
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
            c.expect(
                b.serves(sc.get("metrics_path", "/metrics")),
                f"prometheus.yml: {sc['job_name']}: metrics_path is not served",
            )
            # /metrics needs a token except on the metrics listener.
            for t in (t for s in sc.get("static_configs", []) for t in s["targets"]):
                host, port = t.rsplit(":", 1)
                if host in metrics_ports:
                    c.expect(
                        int(port) == metrics_ports[host] or "authorization" in sc,
                        f"prometheus.yml: {sc['job_name']}: target {t} is not the metrics listener "
                        f"({metrics_ports[host]}) and has no authorization (a read token)",
                    )
        for t in targets:
            host, port = t.rsplit(":", 1)
            c.expect(
                host in services and int(port) in ports.get(host, set()),
                f"prometheus.yml: target {t} is not a compose service port",
            )
        for rf in cfg.get("rule_files", []):
            c.expect(
                str(Path(prom_cfg_path).parent / rf) in pm,
                f"deploy/compose.yml: prometheus: rule file {rf} is not mounted beside the config",
            )
    # Grafana: provisioning and dashboards mounted where the provisioning files say; the datasource URL is the
    # prometheus service.
    gm = mounts(services.get("grafana", {}))
    c.expect(
        gm.get("/etc/grafana/provisioning") == GRAFANA / "provisioning",
        "deploy/compose.yml: grafana: grafana/provisioning is not mounted at /etc/grafana/provisioning",
    )
    prov = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "switchboard.yml").read_text())
    for p in prov["providers"]:
        c.expect(
            gm.get(p["options"]["path"]) == GRAFANA / "dashboards",
            f"deploy/compose.yml: grafana: dashboards are not mounted at {p['options']['path']}",
        )
    home = compose_env(services.get("grafana", {})).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        mount = next((m for m in gm if home.startswith(m + "/")), None)
        c.expect(
            mount is not None and (gm[mount] / home[len(mount) + 1 :]).exists(),
            f"deploy/compose.yml: grafana home dashboard {home} does not exist",
        )
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    for d in ds["datasources"]:
        m = re.match(r"https?://([\w-]+):(\d+)", d["url"])
        c.expect(
            m is not None and m.group(1) in services and int(m.group(2)) in ports.get(m.group(1), set()),
            f"grafana datasource url {d['url']} is not a compose service port",
        )
    c.expect(
        "-js" in services.get("nats", {}).get("command", []), "deploy/compose.yml: nats runs without JetStream (-js)"
    )
    kafka = services.get("kafka", {})
    c.expect(
        kafka.get("build", {}).get("target") == "tansu" and "target" in kafka.get("build", {}),
        "deploy/compose.yml: kafka is not the tansu stage of deploy/Dockerfile",
    )
    c.expect(
        re.search(r"^FROM\s+\S+\s+AS\s+tansu\s*$", (DEPLOY / "Dockerfile").read_text(), re.M | re.I) is not None,
        "deploy/Dockerfile: no tansu stage",
    )


def check_kubernetes(c: Checks, b: Binary, image_port: int | None, venv_bin: Path) -> None:
    k8s = DEPLOY / "k8s"
    files = sorted(k8s.glob("*.yaml"))
    objs = []
    for f in files:
        for d in yaml.safe_load_all(f.read_text()):
            if d:
                objs.append((f, d))
    kinds = {}
    for _, d in objs:
        kinds.setdefault(d["kind"], []).append(d)
    for kind in (
        "Deployment",
        "Service",
        "ConfigMap",
        "Secret",
        "ServiceMonitor",
        "PodDisruptionBudget",
        "Kustomization",
    ):
        c.expect(kind in kinds, f"deploy/k8s: no {kind}")
    builtin = [
        str(f)
        for f, d in objs
        if "." not in d["apiVersion"].split("/")[0] or d["apiVersion"].startswith(("apps/", "policy/"))
    ]
    r = subprocess.run(
        [str(venv_bin / "kubernetes-validate"), "--strict", "--quiet", *sorted(set(builtin))],
        capture_output=True,
        text=True,
        check=False,
    )
    c.expect(r.returncode == 0, f"deploy/k8s: kubernetes-validate --strict fails:\n{r.stdout}{r.stderr}")
    kust = kinds.get("Kustomization", [{}])[0]
    listed = set(kust.get("resources", []))
    # Every manifest but the Secret (created by hand, so that applying never overwrites real secrets).
    expected = {f.name for f, d in objs if d["kind"] not in ("Kustomization", "Secret")}
    c.expect(
        listed == expected, f"deploy/k8s/kustomization.yaml: resources {sorted(listed)} are not {sorted(expected)}"
    )
    if not all(k in kinds for k in ("Deployment", "Service", "ConfigMap", "Secret")):
        return
    dep = kinds["Deployment"][0]
    pod = dep["spec"]["template"]
    labels = pod["metadata"].get("labels", {})

    def selects(selector: dict, what: str) -> None:
        c.expect(
            bool(selector) and all(labels.get(k) == v for k, v in selector.items()),
            f"deploy/k8s: {what} selector {selector} does not match the pod labels {labels}",
        )

    selects(dep["spec"]["selector"]["matchLabels"], "Deployment")
    svc = kinds["Service"][0]
    selects(svc["spec"]["selector"], "Service")
    for pdb in kinds.get("PodDisruptionBudget", []):
        selects(pdb["spec"]["selector"]["matchLabels"], "PodDisruptionBudget")
    # Cluster mode: three replicas; a rolling update adds a ready pod before it stops one (make-before-break),
    # and a drain keeps two.
    strategy = dep["spec"].get("strategy", {})
    c.expect(
        dep["spec"]["replicas"] == 3 and strategy.get("type") == "RollingUpdate",
        "deploy/k8s: the Deployment must run three replicas with the RollingUpdate strategy",
    )
    c.expect(
        str(strategy.get("rollingUpdate", {}).get("maxUnavailable")) == "0",
        "deploy/k8s: a rolling update must not stop a pod before its replacement is ready (maxUnavailable 0)",
    )
    c.expect(
        [p["spec"].get("minAvailable") for p in kinds.get("PodDisruptionBudget", [])] == [2],
        "deploy/k8s: the PodDisruptionBudget must keep two replicas (minAvailable 2)",
    )
    container = pod["spec"]["containers"][0]
    cports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}

    def port_of(ref) -> int | None:
        return cports.get(ref) if isinstance(ref, str) else (ref if ref in cports.values() else None)

    for p in svc["spec"]["ports"]:
        c.expect(
            port_of(p.get("targetPort", p["port"])) is not None,
            f"deploy/k8s: Service port {p.get('name')} targetPort {p.get('targetPort')} is no container port",
        )
    for sm in kinds.get("ServiceMonitor", []):
        sel = sm["spec"]["selector"]["matchLabels"]
        c.expect(
            all(svc["metadata"].get("labels", {}).get(k) == v for k, v in sel.items()),
            "deploy/k8s: the ServiceMonitor selector does not match the Service's labels",
        )
        for ep in sm["spec"]["endpoints"]:
            c.expect(
                ep.get("port") in {p.get("name") for p in svc["spec"]["ports"]},
                f"deploy/k8s: ServiceMonitor port {ep.get('port')} is not a Service port name",
            )
            c.expect(
                ep.get("path", "/metrics") == "/metrics" and b.serves("/metrics"),
                "deploy/k8s: ServiceMonitor path is not /metrics",
            )
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container.get(probe, {}).get("httpGet", {})
        c.expect(get.get("path") == path and b.serves(path), f"deploy/k8s: {probe} is not an HTTP GET of {path}")
        c.expect(
            port_of(get.get("port")) is not None, f"deploy/k8s: {probe} port {get.get('port')} is no container port"
        )
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
            key = cfg_path[len(m["mountPath"].rstrip("/")) + 1 :]
            if c.expect(
                cm is not None and key in cm.get("data", {}),
                f"deploy/k8s: --config {cfg_path} is not a key of a ConfigMap mounted there",
            ):
                text = cm["data"][key]
        if v and "persistentVolumeClaim" in v:
            claims = {p["metadata"]["name"] for p in kinds.get("PersistentVolumeClaim", [])}
            c.expect(
                v["persistentVolumeClaim"]["claimName"] in claims,
                f"deploy/k8s: volume {m['name']} claims a PVC that is not defined",
            )
    if not c.expect(text is not None, "deploy/k8s: no configuration mounted at the Deployment's --config"):
        return
    # The environment: plain values and Secret keys (the Secret's example values stand in for real ones).
    secrets = {s["metadata"]["name"]: s.get("stringData", {}) for s in kinds["Secret"]}
    # Values the downward API gives a pod, as examples.
    fields = {"metadata.name": "switchboard-7d9f8c6b5-x2k4p", "status.podIP": "10.0.0.5"}
    # Variables only used by other variables' values, as $(NAME).
    referenced = {
        m for e in container.get("env", []) for m in re.findall(r"\$\((\w+)\)", str(e.get("value", "")))
    }
    env = {}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), str(e["value"]))
        field = e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        if field:
            c.expect(field in fields, f"deploy/k8s: env {e['name']}: fieldRef {field} is not one this check knows")
            env[e["name"]] = fields.get(field, "")
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            found = ref["key"] in secrets.get(ref["name"], {})
            c.expect(
                found or ref.get("optional", False),
                f"deploy/k8s: env {e['name']}: Secret {ref['name']} has no key {ref['key']}",
            )
            if found:
                env[e["name"]] = secrets[ref["name"]][ref["key"]]
        if (
            not b.reads_env(e["name"])
            and e["name"] not in config_env_names(text)
            and e["name"] not in referenced
            and e["name"] != "RUST_LOG"
        ):
            c.expect(False, f"deploy/k8s: env {e['name']} is read neither by switchboard nor by its configuration")
    for name in config_env_names(text):
        c.expect(
            any(e["name"] == name for e in container.get("env", [])),
            f"deploy/k8s: the configuration reads {name} but the Deployment does not set it",
        )
    env.pop("SWITCHBOARD_MASTER_KEY", None)  # an example placeholder; `check` does not read it
    # Cluster mode: a [cluster] table, the shared PostgreSQL store required, the instance id the pod's name.
    by_name = {e["name"]: e for e in container.get("env", [])}
    c.expect("cluster" in tomllib.loads(text), "deploy/k8s: the ConfigMap's configuration has no [cluster] table")
    store_ref = by_name.get("SWITCHBOARD_STORE", {}).get("valueFrom", {}).get("secretKeyRef", {})
    c.expect(
        bool(store_ref) and not store_ref.get("optional", False),
        "deploy/k8s: SWITCHBOARD_STORE (the shared PostgreSQL store) must be a required Secret key",
    )
    c.expect(
        env.get("SWITCHBOARD_STORE", "").startswith("postgres://"),
        "deploy/k8s: SWITCHBOARD_STORE is not a postgres:// URL",
    )
    c.expect(
        by_name.get("SWITCHBOARD_INSTANCE_ID", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        == "metadata.name",
        "deploy/k8s: SWITCHBOARD_INSTANCE_ID must be the pod's name (fieldRef metadata.name)",
    )
    c.expect(
        env.get("SWITCHBOARD_ADVERTISE_URL", "").startswith("http://10.0.0.5:"),
        "deploy/k8s: SWITCHBOARD_ADVERTISE_URL must be the pod's address ($(POD_IP) from status.podIP)",
    )
    ok, out = b.check_config(text, env)
    c.expect(ok, f"deploy/k8s: switchboard check on the ConfigMap's configuration fails:\n{out}")
    port = admin_port(text, env)
    c.expect(
        port in cports.values(), f"deploy/k8s: admin port {port} ([admin] listen) is not a container port {cports}"
    )
    c.expect(port == image_port, f"deploy/k8s: admin port {port} is not the image's EXPOSEd {image_port}")
    # The ServiceMonitor scrapes the metrics listener when there is one (no token), else the admin listener.
    mport = metrics_port(text, env)
    scraped = mport if mport is not None else port
    svc_target = {p.get("name"): port_of(p.get("targetPort", p["port"])) for p in svc["spec"]["ports"]}
    for sm in kinds.get("ServiceMonitor", []):
        for ep in sm["spec"]["endpoints"]:
            c.expect(
                svc_target.get(ep.get("port")) == scraped,
                f"deploy/k8s: the ServiceMonitor scrapes container port {svc_target.get(ep.get('port'))}, "
                f"not the {'metrics' if mport is not None else 'admin'} listener's {scraped}",
            )
    sc = pod["spec"].get("securityContext", {})
    c.expect(sc.get("runAsNonRoot") is True, "deploy/k8s: the pod does not run as non-root")
    # Writable volumes of the pod's own (the store is PostgreSQL: spools are per instance).
    data_mounts = [
        m["mountPath"]
        for m in container.get("volumeMounts", [])
        if {"persistentVolumeClaim", "emptyDir"} & set(volumes.get(m["name"], {}))
    ]
    cfg = tomllib.loads(text)
    for key in ("path", "spool_dir"):
        value = cfg.get("store", {}).get(key)
        if value:
            c.expect(
                any(value.startswith(m.rstrip("/") + "/") for m in data_mounts),
                f"deploy/k8s: [store] {key} {value} is not on a writable volume of the pod",
            )


def check_compose_org(c: Checks, b: Binary) -> None:
    """The users and queues that deploy/compose/switchboard.toml follows exist in the org of the compose
    simulator (deploy/compose/sim.toml fixes its ids with a seed), so that events flow in the stack."""
    where = "deploy/compose/switchboard.toml"
    sim = subprocess.Popen(
        [b.path, "sim", "--config", str(DEPLOY / "compose" / "sim.toml"), "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = sim.stdout.readline() if sim.stdout else ""
        if not c.expect(line.startswith("sim listening on "), f"{where}: the compose simulator did not start"):
            return
        base = line.split()[-1]
        with urllib.request.urlopen(f"{base}/sim/v1/org", timeout=10) as r:
            org = json.load(r)
        users = {u["id"] for u in org["users"]}
        queues = {q["id"] for q in org["queues"]}
        topics = tomllib.loads((DEPLOY / "compose" / "switchboard.toml").read_text())["tenants"][0]["topics"]
        c.expect(bool(topics), f"{where}: no topics")
        for t in topics:
            m = re.match(r"v2\.(users|routing\.queues)\.([^.?]+)", t)
            known = m is not None and m.group(2) in (users if m.group(1) == "users" else queues)
            c.expect(known, f"{where}: topic {t} names no user or queue of the compose simulator's org")
    finally:
        sim.send_signal(signal.SIGINT)
        try:
            sim.wait(timeout=15)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait()
