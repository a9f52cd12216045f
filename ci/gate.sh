#!/usr/bin/env bash
# The whole gate, in one command: `.ci/run` (formatting, lints, the whole test suite, in which
# every scenario in scenarios/ is a test), then the scenario catalogue once more through the
# `scenario` runner itself, keeping its JUnit file and HTML report as artifacts. No path filters:
# every change runs everything (the original missed a broken test for months behind a
# path-filtered gate).
#
#   ci/gate.sh                    # artifacts in target/gate/
#   ci/gate.sh /tmp/artifacts     # ... or there: junit.xml and report/ (index.html per run)
#   CARGO=/path/to/cargo-wrapper ci/gate.sh
#
# Runs on a clean clone with no stdin. Any failure fails the gate; the artifacts of a failed
# catalogue run are still written.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ARTIFACTS="${1:-target/gate}"
CARGO="${CARGO:-cargo}"
export CARGO

bash .ci/run

printf '\n==> %s\n' "scenario run scenarios/ --junit $ARTIFACTS/junit.xml --report $ARTIFACTS/report"
while IFS= read -r var; do unset "$var"; done < <(env | sed -n 's/^\(SPEC_KITTY_[A-Z_]*\)=.*/\1/p')
rm -rf "$ARTIFACTS/junit.xml" "$ARTIFACTS/report"
mkdir -p "$ARTIFACTS"
"$CARGO" run --quiet -p harness --bin scenario -- \
    run scenarios/ --junit "$ARTIFACTS/junit.xml" --report "$ARTIFACTS/report"
echo "artifacts: $ARTIFACTS/junit.xml $ARTIFACTS/report/index.html"
