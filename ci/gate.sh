#!/usr/bin/env bash
# The whole gate, in one command: formatting, lints, the whole test suite (every scenario in
# scenarios/ is a test), then the scenario catalogue once more through the `scenario` runner
# itself, keeping its JUnit file and HTML report as artifacts. No path filters: every change runs
# everything (the original missed a broken test for months behind a path-filtered gate).
#
#   ci/gate.sh                    # artifacts in target/gate/
#   ci/gate.sh /tmp/artifacts     # ... or there: junit.xml and report/ (index.html per run)
#   CARGO=/path/to/cargo-wrapper ci/gate.sh
#
# Runs on a clean clone with no stdin. Installs what the tests need (python3 `cryptography` for
# the interoperability tests, which it then makes mandatory). Any failure fails the gate; the
# artifacts of a failed catalogue run are still written.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ARTIFACTS="${1:-target/gate}"
CARGO="${CARGO:-cargo}"

export CARGO_TERM_COLOR=never
export CARGO_INCREMENTAL=0
# Tests must not depend on the developer's (or runner's) environment.
while IFS= read -r var; do unset "$var"; done < <(env | sed -n 's/^\(SPEC_KITTY_[A-Z_]*\)=.*/\1/p')

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
"$CARGO" --version
rustup component add rustfmt clippy >/dev/null 2>&1 || true
python3 -c 'import cryptography' 2>/dev/null || python3 -m pip install --quiet cryptography
# Mandatory here: a missing Python or keyring fails the tests that need them, never skips them.
export KITTY_AUTH_REQUIRE_PYTHON=1
# Where keyctl is forbidden (a container), KITTY_AUTH_REQUIRE_KEYRING=0 lets the key-cache tests
# skip while its fallback tests still run.
export KITTY_AUTH_REQUIRE_KEYRING="${KITTY_AUTH_REQUIRE_KEYRING:-1}"

step "cargo fmt --all -- --check"
"$CARGO" fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
"$CARGO" clippy --workspace --all-targets -- -D warnings

step "cargo test --workspace"
"$CARGO" test --workspace

step "scenario run scenarios/ --junit $ARTIFACTS/junit.xml --report $ARTIFACTS/report"
rm -rf "$ARTIFACTS/junit.xml" "$ARTIFACTS/report"
mkdir -p "$ARTIFACTS"
"$CARGO" run --quiet -p harness --bin scenario -- \
    run scenarios/ --junit "$ARTIFACTS/junit.xml" --report "$ARTIFACTS/report"
echo "artifacts: $ARTIFACTS/junit.xml $ARTIFACTS/report/index.html"
