#!/usr/bin/env bash
# Fails if the top-level modules of src/ import each other in a cycle, and prints the cycles with the lines that
# make each edge (src/module_graph.rs; `cargo test` runs the same check).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --lib module_graph -- --nocapture --test-threads 1
