#!/bin/bash
# The long run of docs/fuzzing.md: each target in turn (never two at once), at low priority,
# for RUNS executions (default 10 million) from its seeds, on the binaries `cargo fuzz build -O
# -s none` left. Prints one line per target: runs, wall seconds, executions per second.
# Usage: fuzz/long-run.sh [target...]   (RUNS=..., LOGS=dir to keep libFuzzer's output)
set -u
cd "$(dirname "$0")"
RUNS=${RUNS:-10000000}
LOGS=${LOGS:-$(mktemp -d)}
BIN=target/x86_64-unknown-linux-gnu/release
TARGETS=${*:-token_answer session_envelope lock_record daemon_state_file session_plaintext endpoint_answers sync_answers daemon_health saas_config scenario_toml}
for t in $TARGETS; do
    mkdir -p "corpus/$t" artifacts
    seeds="seeds/$t"
    # The scenario catalogue is the scenario target's seed corpus (read, never written).
    [ "$t" = scenario_toml ] && seeds=../scenarios
    start=$(date +%s.%N)
    nice -n 10 "$BIN/$t" -runs="$RUNS" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="artifacts/$t-" "corpus/$t" "$seeds" \
        >"$LOGS/$t.log" 2>&1
    rc=$?
    end=$(date +%s.%N)
    done_runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$LOGS/$t.log" | grep -o '[0-9]*$')
    secs=$(echo "$end - $start" | bc)
    echo "$t exit=$rc runs=${done_runs:-?} wall_s=$secs exec_per_s=$(echo "${done_runs:-0} / $secs" | bc)"
done
