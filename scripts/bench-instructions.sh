#!/usr/bin/env bash
# Counts the instructions `switchboard serve` spends per event, in user space, under valgrind's callgrind: the
# same setup as scripts/bench-serve.sh (the simulator on one core, the engine on the other, one tenant following
# USERS users' presence and routing status on one channel, every event to a file sink), at a rate callgrind's
# slowed engine keeps up with. Unlike CPU-seconds, the count does not move with the machine's other work: two
# builds compare run against run. Prints the events counted, the instructions, their ratio and the functions
# that took most.
#
#   scripts/bench-instructions.sh [RATE] [SECONDS] [USERS]   # defaults: 2000 events/s, 20 s, 400 users
#
# Needs a release build (cargo build --release), valgrind (callgrind_control, callgrind_annotate), curl,
# python3 and taskset.
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${1:-2000}
SECONDS_COUNTED=${2:-20}
USERS=${3:-400}
BIN=$PWD/target/release/switchboard

NAME=bench-instructions.sh
# A fixed seed: the same users, ids and event bodies in every run, so that two builds count the same work.
SEED=7
# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh
bench_need valgrind callgrind_control callgrind_annotate curl python3 taskset
bench_check_machine

WORK=$(mktemp -d)
SIM_PID=""
ENGINE_PID=""
stop() {
  bench_end "$ENGINE_PID"
  bench_end "$SIM_PID"
  rm -rf "$WORK"
}
trap stop EXIT

bench_start_simulator

echo "$RATE events/s asked, $((2 * USERS)) topics on one channel, every event to a file, $SECONDS_COUNTED s counted"
# Instrumentation starts switched off: start-up and subscribing are not counted.
(cd "$WORK" && exec taskset -c 0 valgrind --tool=callgrind --instr-atstart=no \
  --callgrind-out-file="$WORK/callgrind.out" "$BIN" serve --config serve.toml >serve.log 2>&1) &
ENGINE_PID=$!

FILE=$WORK/events.jsonl
rate 10
for _ in $(seq 1 600); do
  [ -s "$FILE" ] && break
  kill -0 "$ENGINE_PID" 2>/dev/null || { echo "bench-instructions.sh: switchboard serve stopped" >&2; cat "$WORK/serve.log" >&2; exit 1; }
  sleep 0.1
done
[ -s "$FILE" ] || { echo "bench-instructions.sh: no event reached the file" >&2; cat "$WORK/serve.log" >&2; exit 1; }
rate "$RATE"
sleep 5
callgrind_control -i on "$ENGINE_PID" >/dev/null 2>&1
sleep 2
# Counted from here: the counters are zeroed once the flow is steady.
callgrind_control -z "$ENGINE_PID" >/dev/null 2>&1
lines0=$(wc -l <"$FILE")
sleep "$SECONDS_COUNTED"
callgrind_control -d "$ENGINE_PID" >/dev/null 2>&1
lines1=$(wc -l <"$FILE")
rate 0

DUMP=""
for _ in $(seq 1 100); do
  DUMP=$(ls "$WORK"/callgrind.out.* 2>/dev/null | head -n 1 || true)
  [ -n "$DUMP" ] && grep -q '^totals:' "$DUMP" && break
  sleep 0.1
done
[ -n "$DUMP" ] || { echo "bench-instructions.sh: callgrind wrote no dump" >&2; exit 1; }
total=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$DUMP" | head -n 1)
python3 -c '
import sys
events, total = int(sys.argv[1]), int(sys.argv[2])
print(f"  events counted       {events:,}")
print(f"  instructions         {total:,}")
print(f"  per event            {total // events if events else 0:,}")
' "$((lines1 - lines0))" "$total"
echo "  most instructions (self):"
callgrind_annotate "$DUMP" 2>/dev/null | grep -E '^ *[0-9,]+ \( *[0-9.]+%\)' | grep -v 'PROGRAM TOTALS' | head -n 12 |
  sed -E 's#\[[^]]*\]$##; s#/[^ ]*/(src|library)/#\1/#' | cut -c1-150
