#!/usr/bin/env bash
# Side by side with the Python original: installs spec-kitty-cli 3.2.7 into a temporary venv,
# seeds one session with the Python package's own storage code (FileFallbackStorage), and times
# `auth status` of both CLIs on that same session, alternating, in one run: the Python CLI, the
# Rust binary cold (SPEC_KITTY_KEY_CACHE_TTL=0: one scrypt per process) and warm (the key in the
# kernel keyring). Prints each median (with min and max) and the ratios. `auth doctor --json`
# is timed too once the Rust binary has it.
#
# Nothing touches the real home directory: pip, the Python CLI (which writes into $HOME on its
# first run) and the Rust binary all run with a temporary HOME and SPEC_KITTY_HOME, without any
# proxy, with upgrade checks and nags off. Everything is removed on exit, including the derived
# key the Rust binary cached (by `auth logout`, which drops it with the session).
#
#   ci/bench-peer.sh                 # 21 runs of each
#   BENCH_PEER_RUNS=41 ci/bench-peer.sh
#   CARGO=/path/to/cargo-wrapper ci/bench-peer.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS="${BENCH_PEER_RUNS:-21}"
PY_PACKAGE="spec-kitty-cli==3.2.7"
CARGO="${CARGO:-cargo}"

work="$(mktemp -d "${TMPDIR:-/tmp}/kitty-bench-peer.XXXXXX")"
rust_bin=""
cleanup() {
    # Logging out deletes the session and with it the key cached in the keyring.
    if [[ -n "$rust_bin" && -d "$work/root" ]]; then
        run_clean "$rust_bin" auth logout >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$work/home" "$work/root"

# A hermetic environment: no proxy, a temporary home and root, upgrade checks and nags off.
run_clean() {
    env -i \
        PATH="$work/venv/bin:/usr/local/bin:/usr/bin:/bin" \
        HOME="$work/home" \
        SPEC_KITTY_HOME="$work/root" \
        LANG=C.UTF-8 \
        NO_PROXY='*' no_proxy='*' \
        NO_COLOR=1 \
        SPEC_KITTY_NO_UPGRADE_CHECK=1 \
        SPEC_KITTY_UPGRADE_DISABLED=1 \
        SPEC_KITTY_NO_NAG=1 \
        SPEC_KITTY_NO_BANNER=1 \
        SPEC_KITTY_SUPPRESS_RUNTIME_NOTICE=1 \
        "$@"
}

echo "==> building the Rust binary (release)" >&2
"$CARGO" build --release --quiet -p spec-kitty
rust_bin="$PWD/target/release/spec-kitty"

echo "==> installing $PY_PACKAGE into a temporary venv" >&2
python3 -m venv "$work/venv"
# pip needs the network (and whatever proxy reaches it), but never the real home.
HOME="$work/home" PIP_CACHE_DIR="$work/pip-cache" PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$work/venv/bin/pip" install --quiet "$PY_PACKAGE"
py_bin="$work/venv/bin/spec-kitty"

echo "==> seeding one session with the Python package's storage code" >&2
run_clean "$work/venv/bin/python" - <<'PY'
from datetime import datetime, timedelta, timezone

from specify_cli.auth.secure_storage.file_fallback import FileFallbackStorage
from specify_cli.auth.session import StoredSession, Team

now = datetime.now(timezone.utc)
FileFallbackStorage().write(
    StoredSession(
        user_id="user_bench",
        email="bench@example.com",
        name="Bench User",
        teams=[Team(id="team_1", name="Bench", role="owner", is_private_teamspace=True, slug="bench")],
        default_team_id="team_1",
        access_token="at-bench",
        refresh_token="rt-bench",
        session_id="sess_bench",
        issued_at=now,
        access_token_expires_at=now + timedelta(hours=1),
        refresh_token_expires_at=now + timedelta(days=30),
        scope="openid offline_access",
        storage_backend="file",
        last_used_at=now,
        auth_method="device_code",
        generation=1,
    )
)
PY

# Both must read it before anything is timed.
if ! run_clean "$py_bin" auth status >"$work/py-status.txt" 2>&1 ||
    ! grep -q "bench@example.com" "$work/py-status.txt"; then
    cat "$work/py-status.txt" >&2
    echo "the Python CLI could not read the seeded session" >&2
    exit 1
fi
run_clean "$rust_bin" auth status --json >"$work/rust-status.json" || {
    echo "the Rust binary could not read the session the Python package wrote" >&2
    exit 1
}
grep -q '"email":"bench@example.com"' "$work/rust-status.json" || {
    cat "$work/rust-status.json" >&2
    exit 1
}

commands=(status)
if run_clean "$rust_bin" auth doctor --help >/dev/null 2>&1; then
    commands+=(doctor)
fi

echo "==> timing, $RUNS runs of each, alternating ($(nproc) CPUs, $(uname -sr))" >&2
export WORK="$work" RUNS PY_BIN="$py_bin" RUST_BIN="$rust_bin" COMMANDS="${commands[*]}"
run_clean WORK="$WORK" RUNS="$RUNS" PY_BIN="$PY_BIN" RUST_BIN="$RUST_BIN" COMMANDS="$COMMANDS" \
    python3 - <<'PY'
import os
import statistics
import subprocess
import time

runs = int(os.environ["RUNS"])
py, rust = os.environ["PY_BIN"], os.environ["RUST_BIN"]
args = {"status": ["auth", "status"], "doctor": ["auth", "doctor", "--json"]}
env = {k: v for k, v in os.environ.items() if k not in ("WORK", "RUNS", "PY_BIN", "RUST_BIN", "COMMANDS")}
cold = dict(env, SPEC_KITTY_KEY_CACHE_TTL="0")


def once(argv, env, ok_codes=(0,)):
    t = time.perf_counter()
    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    elapsed = (time.perf_counter() - t) * 1e3
    if p.returncode not in ok_codes:
        raise SystemExit(f"{argv} exited {p.returncode}: {p.stderr.decode(errors='replace')}")
    return elapsed


for name in os.environ["COMMANDS"].split():
    argv = args[name]
    # doctor reports findings through its exit code; only a crash is a failure.
    ok = (0,) if name == "status" else (0, 1, 2, 3)
    once([rust] + argv, env, ok)  # warm the key cache
    samples = {"python": [], "rust cold": [], "rust warm": []}
    for _ in range(runs):
        samples["python"].append(once([py] + argv, env, ok))
        samples["rust cold"].append(once([rust] + argv, cold, ok))
        samples["rust warm"].append(once([rust] + argv, env, ok))
    print(f"\nauth {' '.join(argv[1:])}: median (min - max) over {runs} alternating runs")
    med = {}
    for who, s in samples.items():
        med[who] = statistics.median(s)
        print(f"  {who:<10} {med[who]:9.1f} ms  ({min(s):.1f} - {max(s):.1f})")
    print(f"  python / rust cold: {med['python'] / med['rust cold']:.0f}x")
    print(f"  python / rust warm: {med['python'] / med['rust warm']:.0f}x")
PY
