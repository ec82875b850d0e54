#!/usr/bin/env bash
# Runs every test of switchboard: formatting, lints, the Rust suites (unit and integration, against the
# simulator over real sockets), third-party Genesys clients run against the simulator, the web console in
# headless Chromium, and the checks of the dashboards, alert rules and deployment files
# (scripts/check-observability.sh).
# Installs what it needs (Python packages in a virtualenv under target/); fails if a required tool is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "test.sh: '$1' is required and not installed" >&2; exit 1; }; }
need cargo
need python3

# PostgreSQL: the store suite runs against it. Start it if it is installed but stopped; fail if unreachable.
postgres_up() { python3 -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1)" 2>/dev/null; }
if ! postgres_up && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  echo "== starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  for _ in $(seq 1 30); do postgres_up && break; sleep 1; done
fi
postgres_up || { echo "test.sh: PostgreSQL is not reachable on 127.0.0.1:5432 (the store tests need it)" >&2; exit 1; }
# NATS with JetStream: the NATS sink's tests publish to it. Start it if installed but stopped; fail if unreachable.
nats_up() { python3 -c "import socket; socket.create_connection(('127.0.0.1', 4222), 1)" 2>/dev/null; }
if ! nats_up && [ -x /usr/sbin/nats-server ]; then
  echo "== starting NATS"
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js \
    -sd /var/lib/nats-server -l /var/log/nats-server.log || true
  for _ in $(seq 1 30); do nats_up && break; sleep 1; done
fi
nats_up || { echo "test.sh: NATS is not reachable on 127.0.0.1:4222 (the NATS sink tests need it, with JetStream)" >&2; exit 1; }
# Kafka: the Kafka sink's tests produce to a Kafka-protocol broker, tansu (no Apache Kafka package is
# available). Install tansu if it is not on the PATH (the outage test starts its own too), start one on
# 127.0.0.1:19092 if nothing answers there, and fail if none answers.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# A debug build: the same broker, built in about 7 minutes instead of 13 (measured on 2 cores); the tests need
# a correct broker, not a fast one. A tansu already on the PATH (a release build) is used as it is.
if ! command -v tansu >/dev/null 2>&1; then
  echo "== installing tansu (a Kafka-protocol broker, debug build; about 7 minutes the first time)"
  cargo install tansu --features dynostore --locked --debug || cargo install tansu --features dynostore --debug \
    || { echo "test.sh: cannot install tansu (cargo install tansu --features dynostore --debug); the Kafka sink tests need it" >&2; exit 1; }
fi
kafka_up() { python3 -c "import socket; socket.create_connection(('127.0.0.1', 19092), 1)" 2>/dev/null; }
if ! kafka_up; then
  echo "== starting tansu on 127.0.0.1:19092 (log: target/tansu.log)"
  mkdir -p target
  setsid nohup tansu broker --listener-url tcp://127.0.0.1:19092 --advertised-listener-url tcp://127.0.0.1:19092 \
    --storage-engine memory://tansu/ >target/tansu.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do kafka_up && break; sleep 1; done
fi
kafka_up || { echo "test.sh: no Kafka broker answers on 127.0.0.1:19092 (the Kafka sink tests need one; see target/tansu.log)" >&2; exit 1; }
export SWITCHBOARD_TEST_KAFKA="${SWITCHBOARD_TEST_KAFKA:-127.0.0.1:19092}"
export SWITCHBOARD_TEST_TANSU="${SWITCHBOARD_TEST_TANSU:-$(command -v tansu)}"
export SWITCHBOARD_TEST_POSTGRES_URL="${SWITCHBOARD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

# Chromium and ChromeDriver: the web console's tests drive them. Install Debian's packages if they are missing.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "== installing Chromium and ChromeDriver (Debian's chromium and chromium-driver)"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      chromium chromium-driver >/dev/null; } \
    || { echo "test.sh: cannot install chromium and chromium-driver (apt-get); the web console's tests need them" >&2; exit 1; }
fi
command -v chromium >/dev/null && command -v chromedriver >/dev/null \
  || { echo "test.sh: chromium and chromedriver are still missing; the web console's tests need them" >&2; exit 1; }

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings
echo "== cargo test"
cargo test
echo "== third-party clients against the simulator"
venv=target/client-tests-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/clients/requirements.txt
SWITCHBOARD_BIN="$PWD/target/debug/switchboard" "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/clients
echo "== the web console in headless Chromium"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/console/requirements.txt
SWITCHBOARD_BIN="$PWD/target/debug/switchboard" "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/console
echo "== dashboards, alert rules and deployment files"
./scripts/check-observability.sh
