#!/usr/bin/env bash
# Measures `switchboard serve` from outside, as a side-by-side comparison with another client would: the
# simulator on one core, the engine as its own process on the other, one tenant following USERS users'
# presence and routing status (combined topics: 2 × USERS topics on one channel), every event routed to a file
# sink. Prints events delivered per second, the engine's CPU (user + system, from /proc) and events per
# CPU-second.
#
#   scripts/bench-serve.sh [RATE] [SECONDS] [USERS]      # defaults: 10000 events/s, 20 s, 400 users
#
# Needs a release build (cargo build --release), curl, python3 and taskset.
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${1:-10000}
SECONDS_MEASURED=${2:-20}
USERS=${3:-400}
BIN=$PWD/target/release/switchboard

need() { command -v "$1" >/dev/null 2>&1 || { echo "bench-serve.sh: '$1' is required and not installed" >&2; exit 1; }; }
need curl
need python3
need taskset
[ -x "$BIN" ] || { echo "bench-serve.sh: $BIN is missing; run cargo build --release first" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "bench-serve.sh: needs 2 cores (one for the simulator, one for the engine)" >&2; exit 1; }

WORK=$(mktemp -d)
SIM_PID=""
ENGINE_PID=""
stop() {
  [ -n "$ENGINE_PID" ] && kill "$ENGINE_PID" 2>/dev/null && wait "$ENGINE_PID" 2>/dev/null
  [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap stop EXIT

# The simulator on the last core, the engine on the first: neither takes the other's core.
LAST=$(( $(nproc) - 1 ))
taskset -c "$LAST" "$BIN" sim --client bench:secret --listen 127.0.0.1:0 --workers 1 >"$WORK/sim.out" 2>"$WORK/sim.log" &
SIM_PID=$!
SIM=""
for _ in $(seq 1 100); do
  SIM=$(sed -n 's/^sim listening on \(http:[^ ]*\).*/\1/p' "$WORK/sim.out" | head -n 1)
  [ -n "$SIM" ] && break
  sleep 0.1
done
[ -n "$SIM" ] || { echo "bench-serve.sh: the simulator did not start:" >&2; cat "$WORK/sim.log" >&2; exit 1; }

curl -sf -X POST "$SIM/sim/v1/workload" \
  -d "{\"ratePerSecond\":0,\"users\":$USERS,\"families\":[\"presence\",\"routingStatus\"],\"eventSizeBytes\":1024}" >/dev/null
IDS=$(curl -sf "$SIM/sim/v1/org?family=presence" |
  python3 -c 'import json, sys; print("\n".join(u["id"] for u in json.load(sys.stdin)["users"]))')

{
  echo '[store]'
  echo 'path = "store.db"'
  echo '[egress]'
  echo 'allow = ["127.0.0.1"]'
  echo '[[tenants]]'
  echo 'id = "bench"'
  echo "api_base = \"$SIM\""
  echo "login_base = \"$SIM\""
  echo 'topics = ['
  for id in $IDS; do echo "  \"v2.users.$id?presence&routingStatus\","; done
  echo ']'
  echo '[[tenants.clients]]'
  echo 'id = "bench"'
  echo 'secret = "secret"'
  echo '[[sinks]]'
  echo 'name = "events"'
  echo 'kind = "file"'
  echo 'path = "events.jsonl"'
  echo 'max_bytes = 68719476736    # no rotation during the run: every line is counted in one file'
  echo '[[routes]]'
  echo 'sinks = ["events"]'
} >"$WORK/serve.toml"

taskset -c 0 "$BIN" serve --config "$WORK/serve.toml" >"$WORK/serve.log" 2>&1 &
ENGINE_PID=$!
for _ in $(seq 1 300); do
  grep -q "channel ready" "$WORK/serve.log" && break
  kill -0 "$ENGINE_PID" 2>/dev/null || { echo "bench-serve.sh: the engine stopped:" >&2; cat "$WORK/serve.log" >&2; exit 1; }
  sleep 0.1
done
grep -q "channel ready" "$WORK/serve.log" || { echo "bench-serve.sh: no channel became ready" >&2; exit 1; }
# Subscribed once the first events arrive at a low rate; then the rate asked, and 5 s to settle.
curl -sf -X POST "$SIM/sim/v1/workload" -d '{"ratePerSecond":10}' >/dev/null
for _ in $(seq 1 100); do
  [ -s "$WORK/events.jsonl" ] && break
  sleep 0.1
done
[ -s "$WORK/events.jsonl" ] || { echo "bench-serve.sh: no event reached the file sink" >&2; exit 1; }
curl -sf -X POST "$SIM/sim/v1/workload" -d "{\"ratePerSecond\":$RATE}" >/dev/null
sleep 5

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
LINES0=$(wc -l <"$WORK/events.jsonl")
CPU0=$(cpu_ticks "$ENGINE_PID")
sleep "$SECONDS_MEASURED"
LINES1=$(wc -l <"$WORK/events.jsonl")
CPU1=$(cpu_ticks "$ENGINE_PID")

python3 - "$LINES0" "$LINES1" "$CPU0" "$CPU1" "$SECONDS_MEASURED" "$(getconf CLK_TCK)" "$RATE" "$USERS" <<'EOF'
import sys
lines0, lines1, cpu0, cpu1, seconds, tck, rate, users = (float(a) for a in sys.argv[1:])
events = lines1 - lines0
cpu = (cpu1 - cpu0) / tck
print(f"switchboard serve, {rate:,.0f} events/s asked, {2 * users:,.0f} topics on one channel, file sink, {seconds:.0f} s:")
print(f"  delivered      {events / seconds:,.0f} events/s")
print(f"  engine CPU     {cpu / seconds * 100:.1f} % of a core")
if cpu > 0:
    print(f"  per CPU-second {events / cpu:,.0f} events")
EOF
