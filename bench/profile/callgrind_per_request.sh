#!/usr/bin/env bash
# Instructions per proxied request under callgrind: one causeway build (one worker, the bench
# config of bench/load/run.sh, written out again below so this script stands alone: keep-alive
# both sides, a `causeway echo` backend) under
# `valgrind --tool=callgrind`, loaded by `wrk -t1 -c8`. Instruction counts do not depend on
# the machine's load, so this compares builds on a busy machine where wall-clock cannot.
#
# usage: bench/profile/callgrind_per_request.sh BIN OUTDIR [DURATION=10s] [PORT_BASE=39100]
#   BIN      the causeway binary to measure (also runs the echo backend)
#   OUTDIR   gets callgrind.out.* (startup+warm-up / measured / shutdown parts), wrk.txt,
#            summary.txt (the figures below) and annotate.txt (self and inclusive profiles of
#            the measured part; in the self listing the first rows, clone and the worker
#            thread, carry the whole part: a dump mid-run charges them what is on the stack)
# Figures:  steady   = Ir of the measured wrk run / its requests (counters dumped right before
#                      and right after it; the number to compare builds with)
#           total    = Ir of the whole run, start-up, 1 s warm-up and shutdown included / all
#                      requests (the figure docs/benchmarks.md used before 2026-12-01)
# Every process started here is stopped by PID on exit; every step is bounded in time.
set -euo pipefail
BIN=$(realpath "$1"); OUT=$(mkdir -p "$2" && realpath "$2"); DUR=${3:-10s}; PB=${4:-39100}
BACKEND=$PB; LISTEN=$((PB + 1)); ADMIN=$((PB + 2))
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_port() { for _ in $(seq 1 600); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }
cat >"$OUT/causeway.yaml" <<YAML
workers: 1
drain_timeout: 1s
admin: { listen: 127.0.0.1:$ADMIN }
listeners:
  - name: edge
    listen: 127.0.0.1:$LISTEN
    idle_timeout: 120s
    routes:
      - match: { path_prefix: / }
        cluster: backend
clusters:
  - name: backend
    lb: round_robin
    endpoints: [127.0.0.1:$BACKEND]
    pool: { max_connections: 1024, max_idle: 256, idle_timeout: 120s }
YAML
"$BIN" echo --listen "127.0.0.1:$BACKEND" --name backend --workers 1 >"$OUT/backend.log" 2>&1 &
pids+=($!)
wait_port "$BACKEND"
rm -f "$OUT"/callgrind.out*
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" "$BIN" run -c "$OUT/causeway.yaml" \
  >"$OUT/proxy.log" 2>&1 &
vg=$!; pids+=($vg)
wait_port "$LISTEN"
timeout 60 wrk -t1 -c8 -d1s "http://127.0.0.1:$LISTEN/" >"$OUT/wrk-warmup.txt"
timeout 60 callgrind_control -d "$vg" >/dev/null 2>&1
timeout 120 wrk -t1 -c8 -d"$DUR" "http://127.0.0.1:$LISTEN/" >"$OUT/wrk.txt"
timeout 60 callgrind_control -d "$vg" >/dev/null 2>&1
kill -TERM "$vg"; wait "$vg" || true
reqs() { awk '/ requests in /{print $1}' "$1"; }
ir() { awk '/^totals:|^summary:/{print $2; exit}' "$1"; }
parts=("$OUT"/callgrind.out*)  # .1 = start-up + warm-up, .2 = measured, the rest = shutdown
measured=$OUT/callgrind.out.2
[[ -f $measured && ${#parts[@]} -ge 3 ]] || { echo "dump parts missing: ${parts[*]}" >&2; exit 1; }
r_warm=$(reqs "$OUT/wrk-warmup.txt"); r=$(reqs "$OUT/wrk.txt")
ir_meas=$(ir "$measured"); ir_all=0
for p in "${parts[@]}"; do ir_all=$((ir_all + $(ir "$p"))); done
{
  echo "bin: $BIN"
  echo "requests: warm-up $r_warm, measured $r"
  echo "steady Ir/request: $((ir_meas / r))  ($ir_meas / $r)"
  echo "total Ir/request:  $((ir_all / (r + r_warm)))  ($ir_all / $((r + r_warm)))"
} | tee "$OUT/summary.txt"
{
  callgrind_annotate --auto=no --threshold=100 "$measured" 2>/dev/null | sed -n 1,120p
  echo; echo "=== inclusive ==="
  callgrind_annotate --inclusive=yes --auto=no --threshold=100 "$measured" 2>/dev/null | sed -n 1,120p
} >"$OUT/annotate.txt"
