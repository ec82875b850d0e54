"""Checks the Grafana dashboards and the deployment files without running them.

    python tests/observability/check_files.py --bin target/debug/switchboard --grafana-schema DIR

Dashboards: valid Grafana JSON as provisioned here (schemaVersion, unique uids and panel ids, gridPos inside the
24-column grid without overlaps, every datasource the provisioned one, every variable used defined, links to
existing dashboards), and type-checked against Grafana's published schema (@grafana/schema, with TypeScript).
Alert rules: the contract's names, each with `for`, severity, summary and description, a unit test, the form
`SIGNAL > THRESHOLD`, and annotations that use only labels the signal keeps. Deployment: every YAML file parses;
the Dockerfile passes BuildKit's parser and the checks of deploy.py; the compose file validates against the
compose specification; the Kubernetes manifests against the Kubernetes schemas (kubernetes-validate, strict)
and with each other (selectors, ports, probes, Secret keys, ConfigMap mount); every subcommand, flag,
environment variable, port and path they give switchboard exists in the binary; and the configurations they
mount pass `switchboard check` with the environment they are given.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import dashboards
import deploy
import rules
from common import Binary, Checks

ADMIN_PATHS = ("/healthz", "/readyz", "/metrics")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="the switchboard binary")
    ap.add_argument(
        "--grafana-schema",
        type=Path,
        required=True,
        help="a folder where tests/observability/grafana-schema's packages are installed",
    )
    args = ap.parse_args()
    venv_bin = Path(sys.executable).parent
    for tool in ("check-jsonschema", "kubernetes-validate"):
        if not (venv_bin / tool).exists() and not shutil.which(tool):
            sys.exit(f"check_files: {tool} is not installed (tests/clients/requirements.txt)")
    b = Binary(args.bin)
    c = Checks()
    for path in ADMIN_PATHS:
        c.expect(b.serves(path), f"switchboard does not serve {path}")
    dashboards.check_dashboards(c)
    dashboards.check_grafana_schema(c, args.grafana_schema.resolve())
    rules.check_rules(c)
    deploy.check_yaml_parses(c)
    image_port = deploy.check_dockerfile(c, b)
    deploy.check_runtime_libraries(c, b)
    deploy.check_compose(c, b, image_port, venv_bin)
    deploy.check_compose_org(c, b)
    deploy.check_kubernetes(c, b, image_port, venv_bin)
    for f in c.failed:
        print(f"  FAIL {f}")
    print(f"dashboards and deploy files: {c.passed} passed, {len(c.failed)} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
