#!/usr/bin/env bash
# Measures `switchboard serve` from outside, as a side-by-side comparison with another client would: the
# simulator on one core, the engine as its own process on the other, one tenant following USERS users'
# presence and routing status (combined topics: 2 × USERS topics on one channel), every event routed to a file
# sink. Prints events delivered per second, the engine's CPU (user + system, from /proc) and events per
# CPU-second.
#
#   scripts/bench-serve.sh [RATE] [SECONDS] [USERS]      # defaults: 10000 events/s, 20 s, 400 users
#
# With PEER_PYTHON set to a Python that has `genesys-notifications` (the virtualenv ./scripts/test.sh makes:
# target/client-tests-venv/bin/python), it then measures that client the same way, on the same simulator and
# topics (scripts/bench-peer.py), and prints the ratio.
#
# Needs a release build (cargo build --release), curl, python3 and taskset.
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${1:-10000}
SECONDS_MEASURED=${2:-20}
USERS=${3:-400}
BIN=$PWD/target/release/switchboard

NAME=bench-serve.sh
# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh
bench_need curl python3 taskset
bench_check_machine
if [ -n "${PEER_PYTHON:-}" ]; then
  "$PEER_PYTHON" -c 'import genesys_notifications' 2>/dev/null \
    || { echo "bench-serve.sh: $PEER_PYTHON cannot import genesys_notifications (tests/clients/requirements.txt)" >&2; exit 1; }
fi

WORK=$(mktemp -d)
SIM_PID=""
ENGINE_PID=""
PEER_PID=""
stop() {
  bench_end "$PEER_PID"
  bench_end "$ENGINE_PID"
  bench_end "$SIM_PID"
  rm -rf "$WORK"
}
trap stop EXIT

bench_start_simulator

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# measure NAME PID FILE: once FILE has events at a low rate (the process is subscribed), asks for RATE, waits
# 5 s, then counts the lines FILE gains and the CPU of PID over SECONDS_MEASURED; prints them and asks for 0.
measure() {
  local name=$1 pid=$2 file=$3 lines0 cpu0 lines1 cpu1
  rate 10
  for _ in $(seq 1 300); do
    [ -s "$file" ] && break
    kill -0 "$pid" 2>/dev/null || { echo "bench-serve.sh: $name stopped" >&2; return 1; }
    sleep 0.1
  done
  [ -s "$file" ] || { echo "bench-serve.sh: no event reached the file of $name" >&2; return 1; }
  rate "$RATE"
  sleep 5
  lines0=$(wc -l <"$file")
  cpu0=$(cpu_ticks "$pid")
  sleep "$SECONDS_MEASURED"
  lines1=$(wc -l <"$file")
  cpu1=$(cpu_ticks "$pid")
  rate 0
  python3 -c '
import sys
lines0, lines1, cpu0, cpu1, seconds, tck = (float(a) for a in sys.argv[1:])
events, cpu = lines1 - lines0, (cpu1 - cpu0) / tck
print(f"  delivered      {events / seconds:,.0f} events/s")
print(f"  CPU            {cpu / seconds * 100:.1f} % of a core")
print(f"  per CPU-second {events / cpu if cpu > 0 else 0:,.0f} events")
' "$lines0" "$lines1" "$cpu0" "$cpu1" "$SECONDS_MEASURED" "$(getconf CLK_TCK)"
}

echo "$RATE events/s asked, $((2 * USERS)) topics on one channel, every event to a file, $SECONDS_MEASURED s measured"
(cd "$WORK" && exec taskset -c 0 "$BIN" serve --config serve.toml >serve.log 2>&1) &
ENGINE_PID=$!
echo "switchboard serve:"
ENGINE_OUT=$(measure "switchboard serve" "$ENGINE_PID" "$WORK/events.jsonl") \
  || { cat "$WORK/serve.log" >&2; exit 1; }
echo "$ENGINE_OUT"
bench_end "$ENGINE_PID"
ENGINE_PID=""
[ -n "${PEER_PYTHON:-}" ] || exit 0

taskset -c 0 "$PEER_PYTHON" scripts/bench-peer.py "$SIM" bench:secret "$WORK/topics.txt" "$WORK/peer.jsonl" \
  >"$WORK/peer.log" 2>&1 &
PEER_PID=$!
echo "genesys-notifications (Python):"
PEER_OUT=$(measure "genesys-notifications" "$PEER_PID" "$WORK/peer.jsonl") \
  || { cat "$WORK/peer.log" >&2; exit 1; }
echo "$PEER_OUT"
per_cpu() { sed -n 's/.*per CPU-second \([0-9,]*\) events/\1/p' <<<"$1" | tr -d ,; }
python3 -c '
import sys
engine, peer = float(sys.argv[1]), float(sys.argv[2])
print(f"ratio: switchboard carries {engine / peer:.1f} times the events per CPU-second" if peer > 0 else "ratio: -")
' "$(per_cpu "$ENGINE_OUT")" "$(per_cpu "$PEER_OUT")"
