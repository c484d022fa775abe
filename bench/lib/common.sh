# shellcheck shell=bash
# Shared by the benchmark scripts (bench/load/run.sh, bench/dns/run.sh): the output and work
# directories, logging, starting and stopping only the processes a run started, the cleanup
# trap, the watchdog that bounds the whole run, and the check for a needed command.
# Source it after setting OUT (the output directory) and WATCHDOG (seconds); it sets WORK, LOG,
# PIDS, BG_PID and installs the EXIT/INT/TERM traps.
OUT=${OUT%/}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$OUT/work
rm -rf "$WORK"
mkdir -p "$WORK"
LOG=$OUT/run.log
: >"$LOG"

say() { echo "[$(date +%T)] $*" | tee -a "$LOG" >&2; }
die() { say "ERROR: $*"; exit 1; }

# ---- process bookkeeping ----------------------------------------------------------------------
PIDS=()
# start_bg NAME CMD...: start CMD in the background, output to $WORK/NAME.log; sets BG_PID.
start_bg() {
  local name=$1; shift
  "$@" >"$WORK/$name.log" 2>&1 &
  BG_PID=$!
  PIDS+=("$BG_PID")
}
# stop_pid PID [GRACE_SECONDS]: TERM, wait up to GRACE, then KILL. Only for PIDs we started.
stop_pid() {
  local pid=$1 grace=${2:-5} i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "pid $pid did not stop on SIGTERM within ${grace}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
WATCHDOG_PID=
cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}" 5; done
  if [[ -n $WATCHDOG_PID ]]; then
    kill -TERM "$WATCHDOG_PID" 2>/dev/null || true
    wait "$WATCHDOG_PID" 2>/dev/null || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# Watchdog: the whole run is bounded even if something hangs. It polls in 1 s steps so that
# killing it leaves nothing behind for longer than a second.
MAIN_PID=$$
(
  end=$((SECONDS + WATCHDOG))
  while ((SECONDS < end)); do sleep 1; done
  echo "[watchdog] ${WATCHDOG}s elapsed: stopping the benchmark" >&2
  kill -TERM "$MAIN_PID"
) &
WATCHDOG_PID=$!

# ---- checks -------------------------------------------------------------------------------
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found (make deps-bench installs: $2)"; }
