#!/usr/bin/env bash
# Checks the dashboards, the alert rules and the deployment files (README: "Dashboards", "Deploy", "Alerts"):
#   1. promtool: the scrape config, the alert rules, and the rules' unit tests (deploy/prometheus/alerts.test.yml);
#   2. tests/observability/check_files.py: Grafana JSON (also type-checked against @grafana/schema) and its
#      provisioning, the Dockerfile, compose file and Kubernetes manifests against their schemas, each other
#      and the binary (subcommands, flags, env vars, ports, paths), and `switchboard check` on the
#      configurations they mount;
#   3. tests/observability/check_live.py: every PromQL expression of the dashboards and rules against a real
#      Prometheus scraping `switchboard demo`.
# Installs what it needs (Debian's prometheus package, Python packages in target/client-tests-venv, npm packages
# in target/grafana-schema) and fails if it cannot. SWITCHBOARD_BIN picks the binary (default: cargo build,
# then the debug binary).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  echo "== installing Prometheus (Debian's prometheus package: prometheus and promtool)"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }; then
    echo "check-observability.sh: could not install Debian's prometheus package; promtool and prometheus are required" >&2
    exit 1
  fi
fi
command -v promtool >/dev/null && command -v prometheus >/dev/null || {
  echo "check-observability.sh: promtool and prometheus are still missing after installing the prometheus package" >&2
  exit 1
}

venv=target/client-tests-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/clients/requirements.txt

# @grafana/schema and TypeScript (pinned in tests/observability/grafana-schema) type-check the dashboards.
command -v npm >/dev/null 2>&1 || { echo "check-observability.sh: npm (Node.js) is required to type-check the dashboards" >&2; exit 1; }
schema=target/grafana-schema
mkdir -p "$schema"
if ! cmp -s tests/observability/grafana-schema/package-lock.json "$schema/package-lock.json" || [ ! -x "$schema/node_modules/.bin/tsc" ]; then
  cp tests/observability/grafana-schema/package.json tests/observability/grafana-schema/package-lock.json "$schema/"
  (cd "$schema" && npm ci --no-audit --no-fund --silent) || { echo "check-observability.sh: npm ci of @grafana/schema failed" >&2; exit 1; }
fi

if [ -z "${SWITCHBOARD_BIN:-}" ]; then
  cargo build --quiet --bin switchboard
  SWITCHBOARD_BIN="${CARGO_TARGET_DIR:-target}/debug/switchboard"
fi
[ -x "$SWITCHBOARD_BIN" ] || { echo "check-observability.sh: no switchboard binary at $SWITCHBOARD_BIN" >&2; exit 1; }

# Every step runs, so that one run lists every problem; the script fails if any step failed.
status=0
echo "== promtool check config deploy/prometheus/prometheus.yml"
promtool check config deploy/prometheus/prometheus.yml || status=1
echo "== promtool check rules deploy/prometheus/alerts.yml"
promtool check rules deploy/prometheus/alerts.yml || status=1
echo "== promtool test rules deploy/prometheus/alerts.test.yml"
promtool test rules deploy/prometheus/alerts.test.yml || status=1
echo "== the checker's PromQL helpers (doctest)"
"$venv/bin/python" -m doctest tests/observability/promql.py || status=1
echo "== dashboards and deploy files"
"$venv/bin/python" tests/observability/check_files.py --bin "$SWITCHBOARD_BIN" --grafana-schema "$schema" || status=1
echo "== every PromQL expression against Prometheus scraping switchboard demo"
"$venv/bin/python" tests/observability/check_live.py --bin "$SWITCHBOARD_BIN" || status=1
exit $status
