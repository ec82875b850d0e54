# What scripts/bench-serve.sh and scripts/bench-instructions.sh share; sourced by them, not run. The caller
# sets NAME (its name, for messages), BIN (the release binary), USERS and WORK (a directory of its own) and may
# set SEED (the simulator's seed: the same users, ids and bodies in every run).

# Fails with a clear message unless every command named is installed.
bench_need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || { echo "$NAME: '$c' is required and not installed" >&2; exit 1; }
  done
}

# Fails unless the release build is there and the machine has a core for the simulator and one for the engine.
bench_check_machine() {
  [ -x "$BIN" ] || { echo "$NAME: $BIN is missing; run cargo build --release first" >&2; exit 1; }
  [ "$(nproc)" -ge 2 ] || { echo "$NAME: needs 2 cores (one for the simulator, one for the engine)" >&2; exit 1; }
}

# Stops a process started here, if any.
bench_end() {
  if [ -n "$1" ]; then
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}

# Starts the simulator on the last core (the measured process goes on the first: neither takes the other's
# core), sets SIM_PID and SIM (its URL), gives it USERS users with presence and routing status (1 KiB events,
# none sent yet), and writes their topics to $WORK/topics.txt and the engine's configuration to
# $WORK/serve.toml: one tenant following them all on one channel, every event routed to events.jsonl.
bench_start_simulator() {
  local last seed=""
  last=$(( $(nproc) - 1 ))
  taskset -c "$last" "$BIN" sim --client bench:secret --listen 127.0.0.1:0 --workers 1 >"$WORK/sim.out" 2>"$WORK/sim.log" &
  SIM_PID=$!
  SIM=""
  for _ in $(seq 1 100); do
    SIM=$(sed -n 's/^sim listening on \(http:[^ ]*\).*/\1/p' "$WORK/sim.out" | head -n 1)
    [ -n "$SIM" ] && break
    sleep 0.1
  done
  [ -n "$SIM" ] || { echo "$NAME: the simulator did not start:" >&2; cat "$WORK/sim.log" >&2; exit 1; }

  if [ -n "${SEED:-}" ]; then
    seed=",\"seed\":$SEED"
  fi
  curl -sf -X POST "$SIM/sim/v1/workload" \
    -d "{\"ratePerSecond\":0,\"users\":$USERS,\"families\":[\"presence\",\"routingStatus\"],\"eventSizeBytes\":1024$seed}" >/dev/null
  curl -sf "$SIM/sim/v1/org?family=presence" |
    python3 -c 'import json, sys; print("\n".join("v2.users." + u["id"] + "?presence&routingStatus" for u in json.load(sys.stdin)["users"]))' \
    >"$WORK/topics.txt"

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
    sed 's/.*/  "&",/' "$WORK/topics.txt"
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
}

# Asks the simulator for N events/s.
rate() { curl -sf -X POST "$SIM/sim/v1/workload" -d "{\"ratePerSecond\":$1}" >/dev/null; }
