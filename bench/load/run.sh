#!/usr/bin/env bash
# Side-by-side load benchmark: Causeway, HAProxy and nginx in ONE run, against ONE backend,
# each proxy pinned alone to the same core, one worker each. Reports ratios. With BASELINE_BIN,
# a second Causeway build (e.g. the one before a change) runs in the same run as its own row.
#
# usage: [DURATION=10s] [CONNECTIONS=64] [THREADS=1] [PROXIES="causeway haproxy nginx"]
#        [CAUSEWAY_BIN=build/causeway] [BASELINE_BIN=path/to/old/causeway]
#        [OUT=bench/results/<date>/] [PERF=1] [SYSCALLS=1] [CALLGRIND=1] [IDLE_CONNS=10000]
#        [BACKEND=causeway|nginx] bash bench/load/run.sh
#
# Options (environment):
#   DURATION      measured wrk run per proxy (wrk syntax: 10s, 1m)            default 10s
#   WARMUP        warm-up wrk run before each measured run                    default 2s
#   ROUNDS        rounds; each measures every row once, order rotated; medians  default 3
#   CONNECTIONS   wrk connections                                             default 64
#   THREADS       wrk threads                                                 default 1
#   PROXIES       which proxies, in order                default "causeway haproxy nginx"
#   CAUSEWAY_BIN  the causeway binary (also the backend)               default build/causeway
#   BASELINE_BIN  a second causeway binary to compare with (e.g. built from the commit before a
#                 change): it runs as one more proxy row, exactly like `causeway` (same config but
#                 its own listener and admin ports, same core, same backend: the CAUSEWAY_BIN
#                 echo), in every round, the idle-connection test and SYSCALLS / PERF=all runs;
#                 the report gains a "causeway / BASELINE_NAME" table.  default: none (no row)
#   BASELINE_NAME its row name; inserted after `causeway` in PROXIES unless PROXIES names it
#                                                                       default causeway-base
#                 (relative paths in CAUSEWAY_BIN, BASELINE_BIN and OUT: from the repository root)
#   OUT           results directory                        default bench/results/<date>/
#   IDLE_CONNS    idle keep-alive connections for the memory test (0 = skip) default 10000
#   IDLE_CONCURRENCY  connections being set up at once in that test (kept under CONNECTIONS
#                 so the proxies' buffer pools, warm from the load, do not grow)  default 32
#   PERF=1        extra run of causeway under `perf record -g` -> $OUT/causeway-perf.txt
#                 (PERF=all: every proxy -> $OUT/<proxy>-perf.txt, <proxy>-perf-flat.txt)
#   SYSCALLS=1    extra run of every proxy under `perf stat` syscall tracepoints
#                 -> syscalls per request in $OUT/results.md and $OUT/<proxy>-syscalls.txt
#   CALLGRIND=1   extra bounded run of causeway under valgrind --tool=callgrind
#                 (CALLGRIND_DURATION=20s, CALLGRIND_CONNECTIONS=8) -> $OUT/causeway-callgrind.txt
#   BACKEND       causeway (default: `causeway echo --workers 1`) or nginx (a stand-in that
#                 answers a fixed small JSON; used when causeway does not build yet)
#   PROXY_CPU / LOAD_CPU   cores for the proxy / for wrk + backend       default 0 / 1
#   PORT_BASE     backend port; proxies use PORT_BASE+80.. (127.0.0.1 only) default 28000
#   WATCHDOG      hard limit for the whole run, seconds                       default 1500
#   NICE          renice this script (and so everything it starts) to NICE, e.g. -15, so that
#                 other work on a shared machine disturbs the measurement less  default: none
#
# Layout (2 cores): the proxies run on PROXY_CPU (all started up front, one worker each, only
# the one under load is busy); wrk and the backend share LOAD_CPU. The "direct" row is
# wrk -> backend with no proxy: the ceiling of this layout.
# CPU-us/request = delta(utime+stime) of the proxy process (/proc/PID/stat, all threads) over
# the measured wrk run / requests wrk completed in it.
# Every process this script starts is killed by PID on exit; every step is bounded in time.
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; }
case "${1:-}" in -h | --help) usage; exit 0 ;; "") ;; *) usage >&2; exit 2 ;; esac

# NICE: re-run in a new session (own scheduler autogroup) and wait for it; INT/TERM go on to it.
if [[ -n ${NICE:-} && -z ${CW_BENCH_INNER:-} ]] && command -v setsid >/dev/null 2>&1; then
  CW_BENCH_INNER=1 setsid bash "${BASH_SOURCE[0]}" "$@" &
  inner=$!
  trap 'kill -TERM "$inner" 2>/dev/null || true' INT TERM
  rc=0
  wait "$inner" || rc=$?
  while kill -0 "$inner" 2>/dev/null; do wait "$inner" || rc=$?; done
  exit "$rc"
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
PROXIES=${PROXIES:-causeway haproxy nginx}
CAUSEWAY_BIN=${CAUSEWAY_BIN:-build/causeway}
BASELINE_BIN=${BASELINE_BIN:-}
BASELINE_NAME=${BASELINE_NAME:-causeway-base}
OUT=${OUT:-bench/results/$(date +%F)/}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_CONCURRENCY=${IDLE_CONCURRENCY:-32}
PERF=${PERF:-0}
SYSCALLS=${SYSCALLS:-0}
CALLGRIND=${CALLGRIND:-0}
CALLGRIND_DURATION=${CALLGRIND_DURATION:-20s}
CALLGRIND_CONNECTIONS=${CALLGRIND_CONNECTIONS:-8}
BACKEND=${BACKEND:-causeway}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PORT_BASE=${PORT_BASE:-28000}
WATCHDOG=${WATCHDOG:-1500}
NICE=${NICE:-}
PY=/usr/bin/python3

# Output directories, logging, process bookkeeping, cleanup, watchdog, need().
# shellcheck source=bench/lib/common.sh
source "$ROOT/bench/lib/common.sh"
need wrk wrk
need taskset util-linux
need ss iproute2
ncpu=$(nproc)
((PROXY_CPU < ncpu && LOAD_CPU < ncpu)) || die "PROXY_CPU=$PROXY_CPU / LOAD_CPU=$LOAD_CPU: only $ncpu cores"
[[ $PROXY_CPU != "$LOAD_CPU" ]] || say "note: proxy and load share core $PROXY_CPU"
[[ -x $PY ]] || die "$PY not found"
PROXIES_ARG=$PROXIES
# is_baseline NAME: whether NAME is the BASELINE_BIN row.
is_baseline() { [[ -n $BASELINE_BIN && $1 == "$BASELINE_NAME" ]]; }
if [[ -n $BASELINE_BIN ]]; then
  [[ $BASELINE_NAME =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] ||
    die "BASELINE_NAME='$BASELINE_NAME': letters, digits, '.', '_', '-' only (it names files)"
  case $BASELINE_NAME in
    direct | causeway | haproxy | nginx | backend) die "BASELINE_NAME=$BASELINE_NAME is taken by another row" ;;
  esac
  [[ -x $BASELINE_BIN ]] || die "BASELINE_BIN=$BASELINE_BIN is not executable"
  BASELINE_BIN=$(realpath "$BASELINE_BIN" 2>/dev/null || echo "$BASELINE_BIN")
  # Its row goes right after causeway (so the two builds are measured back to back in most
  # rounds), or last without causeway; a PROXIES that names it already keeps its order.
  if [[ " $PROXIES " != *" $BASELINE_NAME "* ]]; then
    with_base=
    for p in $PROXIES; do
      with_base+="${with_base:+ }$p"
      [[ $p == causeway ]] && with_base+=" $BASELINE_NAME"
    done
    [[ " $with_base " == *" $BASELINE_NAME "* ]] || with_base+="${with_base:+ }$BASELINE_NAME"
    PROXIES=$with_base
  fi
fi
for p in $PROXIES; do
  case $p in
    causeway) [[ -x $CAUSEWAY_BIN ]] || die "CAUSEWAY_BIN=$CAUSEWAY_BIN is not executable (make build)" ;;
    haproxy) need haproxy haproxy ;;
    nginx) need nginx nginx-light ;;
    *) is_baseline "$p" || die "unknown proxy '$p' (known: causeway haproxy nginx${BASELINE_BIN:+ $BASELINE_NAME})" ;;
  esac
done
case $BACKEND in
  causeway) [[ -x $CAUSEWAY_BIN ]] || die "BACKEND=causeway needs CAUSEWAY_BIN (or use BACKEND=nginx)" ;;
  nginx) need nginx nginx-light ;;
  *) die "BACKEND must be causeway or nginx" ;;
esac
[[ $PERF != 1 && $SYSCALLS != 1 ]] || need perf linux-perf
[[ $CALLGRIND != 1 ]] || need valgrind valgrind
CAUSEWAY_BIN=$(realpath "$CAUSEWAY_BIN" 2>/dev/null || echo "$CAUSEWAY_BIN")

if [[ -n $NICE ]]; then
  # With CONFIG_SCHED_AUTOGROUP, nice only ranks processes inside one session's autogroup;
  # other sessions' work competes group against group. The script runs itself in a new
  # session (see the top of the run) and gives that autogroup the nice value too.
  if [[ -w /proc/self/autogroup ]]; then
    echo "$NICE" >/proc/self/autogroup 2>/dev/null || say "note: could not set autogroup nice $NICE"
  fi
  renice -n "$NICE" -p $$ >/dev/null || die "renice -n $NICE failed"
fi

# Raise the fd limit for everything started from here (proxies + idle helper).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if [[ $IDLE_CONNS -gt 0 && $NOFILE != unlimited && $NOFILE -lt $((IDLE_CONNS + 512)) ]]; then
  die "ulimit -n is $NOFILE (hard $(ulimit -Hn)); IDLE_CONNS=$IDLE_CONNS needs more"
fi

to_secs() { # 10s, 2m, 1h, 30 -> integer seconds
  local v=$1
  case $v in
    *ms) echo 1 ;;
    *s) echo "${v%s}" ;;
    *m) echo $((${v%m} * 60)) ;;
    *h) echo $((${v%h} * 3600)) ;;
    *) echo "$v" ;;
  esac
}
DUR_S=$(to_secs "$DURATION")

BACKEND_PORT=$PORT_BASE
declare -A PORT=([causeway]=$((PORT_BASE + 80)) [haproxy]=$((PORT_BASE + 81)) [nginx]=$((PORT_BASE + 82)))
ADMIN_PORT=$((PORT_BASE + 1901))
BASELINE_ADMIN_PORT=
if [[ -n $BASELINE_BIN ]]; then
  PORT[$BASELINE_NAME]=$((PORT_BASE + 83))
  BASELINE_ADMIN_PORT=$((PORT_BASE + 1902))
fi
port_busy() { [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }
for port in "$BACKEND_PORT" "${PORT[@]}" "$ADMIN_PORT" $BASELINE_ADMIN_PORT; do
  port_busy "$port" && die "port 127.0.0.1:$port is already in use (set PORT_BASE)"
done
wait_port() { # wait_port PORT PID SECONDS
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    port_busy "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# ---- /proc readers ----------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; } # utime+stime
cpu_ns() { # sum_exec_runtime of every thread (ns, precise; cross-check of cpu_ticks)
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'
}
rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
nfds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
core_busy() { # "busy total" jiffies of one core from /proc/stat
  awk -v c="cpu$1" '$1 == c {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t}' /proc/stat
}
calc() { awk "BEGIN { printf \"%s\", $* }"; }
to_us() { # wrk latency "812.00us" / "1.23ms" / "1.00s" / "2.00m" -> microseconds
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") m = 1; else if (u == "ms") m = 1000; else if (u == "s") m = 1e6;
    else if (u == "m") m = 6e7; else m = 0
    printf "%.0f", n * m }'
}

# ---- configs ----------------------------------------------------------------------------------
write_nginx_common_paths() { # $1 dir
  mkdir -p "$1/tmp"
  cat <<EOF
    client_body_temp_path $1/tmp/body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
EOF
}

# write_causeway_config FILE LISTEN_PORT ADMIN_PORT: the config of the causeway row, and of
# the BASELINE_BIN row with its own two ports.
write_causeway_config() {
  cat >"$1" <<EOF
# written by bench/load/run.sh
workers: 1
drain_timeout: 1s
admin: { listen: 127.0.0.1:$3 }
listeners:
  - name: edge
    listen: 127.0.0.1:$2
    idle_timeout: 120s
    routes:
      - match: { path_prefix: / }
        cluster: backend
clusters:
  - name: backend
    lb: round_robin
    endpoints: [127.0.0.1:$BACKEND_PORT]
    pool: { max_connections: 1024, max_idle: 256, idle_timeout: 120s }
EOF
}

write_configs() {
  local d=$WORK
  write_causeway_config "$d/causeway.yaml" "${PORT[causeway]}" "$ADMIN_PORT"
  if [[ -n $BASELINE_BIN ]]; then
    write_causeway_config "$d/$BASELINE_NAME.yaml" "${PORT[$BASELINE_NAME]}" "$BASELINE_ADMIN_PORT"
  fi

  cat >"$d/haproxy.cfg" <<EOF
# written by bench/load/run.sh
global
    nbthread 1
    maxconn 20000
    # maxconn 20000 wants ~40000 fds; where the hard fd limit is lower, run with what there is
    # (10,000 idle clients + the server side fit in 20,000).
    no strict-limits
    # no 'log' line: no logging
defaults
    mode http
    option http-keep-alive
    http-reuse always
    maxconn 20000
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    timeout http-request 10s
    timeout http-keep-alive 120s
frontend edge
    bind 127.0.0.1:${PORT[haproxy]}
    default_backend backend
backend backend
    server b1 127.0.0.1:$BACKEND_PORT
EOF

  cat >"$d/nginx.conf" <<EOF
# written by bench/load/run.sh
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile $([[ $NOFILE == unlimited ]] && echo 65536 || echo "$NOFILE");
error_log $d/nginx-error.log warn;
pid $d/nginx.pid;
events {
    worker_connections 20000;
}
http {
    access_log off;
$(write_nginx_common_paths "$d/nginx")
    keepalive_timeout 120s;
    keepalive_requests 100000000;
    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 256;
        keepalive_requests 100000000;
        keepalive_timeout 120s;
    }
    server {
        listen 127.0.0.1:${PORT[nginx]};
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF

  cat >"$d/backend-nginx.conf" <<EOF
# stand-in backend written by bench/load/run.sh (BACKEND=nginx)
daemon off;
master_process off;
worker_processes 1;
error_log $d/backend-nginx-error.log warn;
pid $d/backend-nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
$(write_nginx_common_paths "$d/backend-nginx")
    keepalive_timeout 120s;
    keepalive_requests 100000000;
    server {
        listen 127.0.0.1:$BACKEND_PORT;
        default_type application/json;
        location / { return 200 '{"service":"backend","instance":"backend-$BACKEND_PORT","method":"GET","path":"/"}\n'; }
    }
}
EOF
}

# start_proxy NAME: start it pinned to PROXY_CPU; sets PROXY_PID.
start_proxy() {
  case $1 in
    causeway) start_bg causeway taskset -c "$PROXY_CPU" "$CAUSEWAY_BIN" run -c "$WORK/causeway.yaml" ;;
    haproxy) start_bg haproxy taskset -c "$PROXY_CPU" haproxy -db -f "$WORK/haproxy.cfg" ;;
    nginx) start_bg nginx taskset -c "$PROXY_CPU" nginx -p "$WORK" -e "$WORK/nginx-error.log" -c "$WORK/nginx.conf" ;;
    *) is_baseline "$1" && start_bg "$1" taskset -c "$PROXY_CPU" "$BASELINE_BIN" run -c "$WORK/$1.yaml" ;;
  esac
  PROXY_PID=$BG_PID
  if ! wait_port "${PORT[$1]}" "$PROXY_PID" 10; then
    tail -n 20 "$WORK/$1.log" >&2 || true
    die "$1 did not start listening on 127.0.0.1:${PORT[$1]} (log: $WORK/$1.log)"
  fi
}

# ---- load ---------------------------------------------------------------------------------
# wrk_run PORT DURATION OUTFILE [CONNECTIONS]: wrk pinned to LOAD_CPU, bounded by timeout.
wrk_run() {
  local port=$1 dur=$2 out=$3 conns=${4:-$CONNECTIONS}
  timeout -k 5 $(($(to_secs "$dur") + 30)) taskset -c "$LOAD_CPU" \
    wrk -t"$THREADS" -c"$conns" -d"$dur" --latency "http://127.0.0.1:$port/" >"$out" 2>&1 ||
    { cat "$out" >&2; die "wrk against port $port failed"; }
}
wrk_requests() { awk '/ requests in /{print $1}' "$1"; }
wrk_field() { # wrk_field FILE 50% -> latency text
  awk -v k="$2" '$1 == k {print $2}' "$1"
}
wrk_errors() { # "socket errors / non-2xx" summary
  local se non
  se=$(awk -F'Socket errors: ' '/Socket errors/{print $2}' "$1")
  non=$(awk '/Non-2xx or 3xx responses/{print $NF}' "$1")
  echo "${se:-none}${non:+; non-2xx $non}"
}

declare -A HIST ERRS_ALL UPCONNS CPU_NS_US RPS P50 P99 REQS CPU_US UTIL BCPU_US BUTIL RSS_MIB IDLE_KIB IDLE_HELD ERRS SYSC CORE0 CORE1

# measure LABEL PORT PROXY_PID|"": the measured run.
measure() {
  local label=$1 port=$2 ppid=$3 out=$WORK/$1-wrk.txt
  local p0=0 p1=0 n0=0 n1=0 b0 b1 t0 t1 c0a c0b c1a c1b
  [[ -n $ppid ]] && p0=$(cpu_ticks "$ppid") && n0=$(cpu_ns "$ppid")
  b0=$(cpu_ticks "$BACKEND_PID")
  read -r c0a c0b < <(core_busy "$PROXY_CPU")
  read -r c1a c1b < <(core_busy "$LOAD_CPU")
  t0=$(date +%s.%N)
  wrk_run "$port" "$DURATION" "$out"
  t1=$(date +%s.%N)
  [[ -n $ppid ]] && p1=$(cpu_ticks "$ppid") && n1=$(cpu_ns "$ppid")
  [[ -n $ppid ]] && UPCONNS[$label]=$(ss -Htnp state established "dport = :$BACKEND_PORT" 2>/dev/null | grep -c "pid=$ppid," || true)
  b1=$(cpu_ticks "$BACKEND_PID")
  local x y
  read -r x y < <(core_busy "$PROXY_CPU")
  CORE0[$label]=$(calc "100 * ($x - $c0a) / ($y - $c0b + 1e-9)")
  read -r x y < <(core_busy "$LOAD_CPU")
  CORE1[$label]=$(calc "100 * ($x - $c1a) / ($y - $c1b + 1e-9)")
  cp "$out" "$OUT/$label-r$ROUND-wrk.txt"
  local reqs wall
  reqs=$(wrk_requests "$out")
  [[ -n $reqs && $reqs -gt 0 ]] || die "$label: wrk completed no requests (see $out)"
  wall=$(calc "$t1 - $t0")
  REQS[$label]=$reqs
  RPS[$label]=$(awk '/^Requests\/sec:/{print $2}' "$out")
  P50[$label]=$(to_us "$(wrk_field "$out" 50%)")
  P99[$label]=$(to_us "$(wrk_field "$out" 99%)")
  ERRS[$label]=$(wrk_errors "$out")
  if [[ -n $ppid ]]; then
    CPU_US[$label]=$(calc "($p1 - $p0) * 1e6 / $CLK_TCK / $reqs")
    CPU_NS_US[$label]=$(calc "($n1 - $n0) / 1000 / $reqs")
    UTIL[$label]=$(calc "100 * ($p1 - $p0) / $CLK_TCK / $wall")
  fi
  BCPU_US[$label]=$(calc "($b1 - $b0) * 1e6 / $CLK_TCK / $reqs")
  BUTIL[$label]=$(calc "100 * ($b1 - $b0) / $CLK_TCK / $wall")
  local m
  for m in REQS RPS P50 P99 CPU_US CPU_NS_US UTIL BCPU_US BUTIL CORE0 CORE1; do
    local -n arr=$m
    [[ -n ${arr[$label]:-} ]] && HIST["$m|$label"]+="${arr[$label]} "
    unset -n arr
  done
  ERRS_ALL[$label]+="${ERRS_ALL[$label]:+ / }${ERRS[$label]}"
  say "round $ROUND $label: $reqs requests, ${RPS[$label]} req/s, p50 ${P50[$label]}us p99 ${P99[$label]}us," \
    "proxy CPU ${CPU_US[$label]:--} us/req (schedstat ${CPU_NS_US[$label]:--}; ${UTIL[$label]:--}% of a core)," \
    "backend ${BCPU_US[$label]} us/req (${BUTIL[$label]}%), core$PROXY_CPU ${CORE0[$label]}% core$LOAD_CPU ${CORE1[$label]}%," \
    "errors: ${ERRS[$label]}"
}

# perf_record NAME PID: an extra run under perf record -g (cpu-clock: no PMU in VMs).
perf_record() {
  local name=$1 pid=$2 data=$WORK/$1-perf.data
  say "$name: perf record -g for $DURATION"
  timeout -k 5 $((DUR_S + 60)) taskset -c "$LOAD_CPU" perf record -e cpu-clock -F 2000 -g \
    -o "$data" -p "$pid" -- taskset -c "$LOAD_CPU" \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:${PORT[$name]}/" \
    >"$WORK/$name-perf-wrk.txt" 2>"$WORK/$name-perf-record.log" ||
    { say "perf record failed: $(tail -n 3 "$WORK/$name-perf-record.log")"; return 0; }
  {
    echo "# perf record -e cpu-clock -F 2000 -g -p <$name pid> during wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
    echo "# $(wrk_requests "$WORK/$name-perf-wrk.txt") requests in this run"
    timeout 120 perf report -i "$data" --stdio --no-children 2>/dev/null | sed -n 1,80p
  } >"$OUT/$name-perf.txt"
  {
    echo "# self-time by symbol (perf report --no-children --sort symbol -g none)"
    timeout 120 perf report -i "$data" --stdio --no-children --sort symbol -g none 2>/dev/null |
      grep -v '^#' | grep -v "^$" | sed -n 1,40p
    echo
    echo "# user-space symbols only (same sort)"
    timeout 120 perf report -i "$data" --stdio --no-children --sort symbol -g none 2>/dev/null |
      grep -F '[.]' | sed -n 1,25p
    echo
    echo "# self-time by shared object"
    timeout 120 perf report -i "$data" --stdio --no-children --sort dso -g none 2>/dev/null |
      grep -v '^#' | grep -v "^$" | sed -n 1,15p
  } >"$OUT/$name-perf-flat.txt"
  say "$name: perf report -> $OUT/$name-perf.txt, $OUT/$name-perf-flat.txt"
}

SYSCALL_EVENTS=(read write readv writev recvfrom sendto recvmsg sendmsg epoll_wait epoll_pwait
  epoll_ctl accept4 connect close io_uring_enter splice)
# syscall_count NAME PID: an extra run under perf stat with syscall tracepoints.
syscall_count() {
  local name=$1 pid=$2 ev=() e tp=/sys/kernel/tracing/events/syscalls
  [[ -d $tp ]] || tp=/sys/kernel/debug/tracing/events/syscalls
  for e in "${SYSCALL_EVENTS[@]}"; do
    [[ -d $tp/sys_enter_$e ]] && ev+=("syscalls:sys_enter_$e")
  done
  if ((${#ev[@]} == 0)); then
    SYSC[$name]="n/a (no syscall tracepoints)"
    say "syscall tracepoints unavailable: skipping syscall counts"
    return 0
  fi
  local evs
  evs=$(IFS=,; echo "${ev[*]}")
  say "$name: perf stat syscalls for $DURATION"
  if ! timeout -k 5 $((DUR_S + 60)) taskset -c "$LOAD_CPU" perf stat -x, -e "$evs" \
    -o "$WORK/$name-perf-stat.csv" -p "$pid" -- taskset -c "$LOAD_CPU" \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "http://127.0.0.1:${PORT[$name]}/" \
    >"$WORK/$name-sys-wrk.txt" 2>&1; then
    SYSC[$name]="n/a (perf stat failed)"
    say "perf stat failed: $(tail -n 3 "$WORK/$name-perf-stat.csv" 2>/dev/null)"
    return 0
  fi
  local reqs
  reqs=$(wrk_requests "$WORK/$name-sys-wrk.txt")
  {
    echo "# $name: syscalls per proxied request ($reqs requests, wrk -t$THREADS -c$CONNECTIONS -d$DURATION under perf stat -p PID)"
    awk -F, -v r="$reqs" '
      /^#/ || NF < 3 { next }
      { c = $1; e = $3; sub(/^syscalls:sys_enter_/, "", e)
        if (c ~ /^[0-9]+$/ && c > 0) printf "%-16s %12d  %8.3f/req\n", e, c, c / r }' \
      "$WORK/$name-perf-stat.csv" | sort -k3 -rn
    awk -F, -v r="$reqs" '
      /^#/ || NF < 3 { next }
      $1 ~ /^[0-9]+$/ { t += $1 }
      END { printf "%-16s %12d  %8.3f/req\n", "TOTAL", t, t / r }' "$WORK/$name-perf-stat.csv"
  } >"$OUT/$name-syscalls.txt"
  SYSC[$name]=$(awk '/^TOTAL/{print $3}' "$OUT/$name-syscalls.txt" | sed 's#/req##')
  local detail
  detail=$(grep -v -e '^#' -e '^TOTAL' "$OUT/$name-syscalls.txt" |
    awk '{sub("/req", "", $3); if ($3 >= 0.005) {printf "%s%s %.2f", sep, $1, $3; sep = ", "}}')
  SYSC[$name]="${SYSC[$name]} (${detail})"
  say "$name: syscalls/request ${SYSC[$name]}"
}

# idle_test NAME PID: memory per idle keep-alive connection.
idle_test() {
  local name=$1 pid=$2 ready=$WORK/$1-idle.ready
  ((IDLE_CONNS > 0)) || return 0
  sleep 1
  local rss0 fd0 rss1 fd1
  rss0=$(rss_kib "$pid")
  fd0=$(nfds "$pid")
  rm -f "$ready"
  start_bg "$name-idle" taskset -c "$LOAD_CPU" "$PY" "$ROOT/bench/load/idle_conns.py" \
    --port "${PORT[$name]}" --count "$IDLE_CONNS" --concurrency "$IDLE_CONCURRENCY" \
    --setup-timeout 90 --hold 150 --ready-file "$ready"
  local hpid=$BG_PID i
  for ((i = 0; i < 1000; i++)); do # <= 100 s
    [[ -f $ready ]] && break
    kill -0 "$hpid" 2>/dev/null || break
    sleep 0.1
  done
  [[ -f $ready ]] || { stop_pid "$hpid" 3; say "$name: idle helper failed: $(tail -n 3 "$WORK/$name-idle.log")"; IDLE_KIB[$name]="n/a"; return 0; }
  sleep 2
  rss1=$(rss_kib "$pid")
  fd1=$(nfds "$pid")
  stop_pid "$hpid" 10
  local held
  held=$(sed -n 's/.*READY ok=\([0-9]*\).*/\1/p' "$ready")
  IDLE_HELD[$name]="$held held ($(grep -o 'failed=[0-9]*' "$ready"), $(grep -o 'still_open=[0-9]*' "$WORK/$name-idle.log" || echo '?') at the end; fds $fd0 -> $fd1)"
  if [[ -n $held && $held -gt 0 ]]; then
    IDLE_KIB[$name]=$(calc "($rss1 - $rss0) / $held")
  else
    IDLE_KIB[$name]="n/a"
  fi
  say "$name: idle: RSS $rss0 -> $rss1 KiB with ${IDLE_HELD[$name]}: ${IDLE_KIB[$name]} KiB/conn"
}

callgrind_run() {
  local cg=$WORK/causeway-callgrind.out
  say "causeway: valgrind --tool=callgrind, wrk -c$CALLGRIND_CONNECTIONS -d$CALLGRIND_DURATION"
  start_bg causeway-callgrind taskset -c "$PROXY_CPU" valgrind --tool=callgrind \
    --callgrind-out-file="$cg" "$CAUSEWAY_BIN" run -c "$WORK/causeway.yaml"
  local pid=$BG_PID
  wait_port "${PORT[causeway]}" "$pid" 60 || { say "causeway under callgrind did not start"; stop_pid "$pid" 5; return 0; }
  # Count only the load: zero the counters once it listens (start-up excluded).
  if command -v callgrind_control >/dev/null; then
    timeout 20 callgrind_control -z "$pid" >/dev/null 2>&1 || true
  fi
  wrk_run "${PORT[causeway]}" "$CALLGRIND_DURATION" "$WORK/causeway-callgrind-wrk.txt" "$CALLGRIND_CONNECTIONS"
  stop_pid "$pid" 30
  {
    echo "# valgrind --tool=callgrind causeway run, under wrk -t1 -c$CALLGRIND_CONNECTIONS -d$CALLGRIND_DURATION"
    echo "# $(wrk_requests "$WORK/causeway-callgrind-wrk.txt") requests; counters zeroed once causeway listened (shutdown included)"
    echo "# self Ir by function: callgrind_annotate splits a function by the source file of"
    echo "# its inlined lines (file:function); summed here per function. Arguments elided."
    echo "# Left out: thread entry frames (clone, start_thread, ...) that were on the stack when the"
    echo "# counters were zeroed and so show ~100%."
    timeout 120 callgrind_annotate --auto=no --threshold=100 "$cg" 2>/dev/null | awk '
      /PROGRAM TOTALS/ { t = $1; gsub(",", "", t); next }
      /^ *[0-9,]+ +\( *[0-9.]+%\) +[^ ]/ {
        ir = $1; gsub(",", "", ir)
        line = $0; sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "", line)
        sub(/ \[\/[^]]*\]$/, "", line)
        i = index(line, ":"); fn = substr(line, i + 1)
        # drop the argument list of the outermost function, keep qualified name
        depth = 0; out = ""
        for (k = 1; k <= length(fn); k++) {
          ch = substr(fn, k, 1)
          if (ch == "(") { if (depth == 0) out = out "()"; depth++ }
          else if (ch == ")") depth--
          else if (depth == 0) out = out ch
        }
        sum[out] += ir }
      END { for (f in sum) if (sum[f] < 0.9 * t) printf "%14d %6.2f%%  %s\n", sum[f], 100 * sum[f] / t, substr(f, 1, 150) }' |
      sort -rn | sed -n 1,40p
    echo
    echo "# callgrind_annotate (self, by file:function)"
    timeout 120 callgrind_annotate "$cg" 2>/dev/null | sed -n 1,60p
    echo
    echo "# inclusive"
    timeout 120 callgrind_annotate --inclusive=yes "$cg" 2>/dev/null | sed -n 1,60p
  } >"$OUT/causeway-callgrind.txt"
  cp "$cg" "$OUT/" 2>/dev/null || true
  say "causeway: callgrind -> $OUT/causeway-callgrind.txt"
}

# ---- the run ------------------------------------------------------------------------------
BASELINE_ARGS=
if [[ -n $BASELINE_BIN ]]; then
  BASELINE_ARGS="CAUSEWAY_BIN=$CAUSEWAY_BIN BASELINE_BIN=$BASELINE_BIN "
  [[ $BASELINE_NAME == causeway-base ]] || BASELINE_ARGS+="BASELINE_NAME=$BASELINE_NAME "
fi
CMDLINE="${NICE:+NICE=$NICE }${BASELINE_ARGS}ROUNDS=$ROUNDS DURATION=$DURATION CONNECTIONS=$CONNECTIONS THREADS=$THREADS PROXIES=\"$PROXIES_ARG\" BACKEND=$BACKEND IDLE_CONNS=$IDLE_CONNS PERF=$PERF SYSCALLS=$SYSCALLS CALLGRIND=$CALLGRIND bash bench/load/run.sh"
say "causeway bench: $CMDLINE"
say "out: $OUT; proxy on core $PROXY_CPU, wrk + backend on core $LOAD_CPU; ulimit -n $NOFILE"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
write_configs

case $BACKEND in
  causeway) start_bg backend taskset -c "$LOAD_CPU" "$CAUSEWAY_BIN" echo --listen "127.0.0.1:$BACKEND_PORT" --name backend --workers 1 ;;
  nginx) start_bg backend taskset -c "$LOAD_CPU" nginx -p "$WORK" -e "$WORK/backend-nginx-error.log" -c "$WORK/backend-nginx.conf" ;;
esac
BACKEND_PID=$BG_PID
wait_port "$BACKEND_PORT" "$BACKEND_PID" 10 || { cat "$WORK/backend.log" >&2; die "backend did not start"; }
say "backend ($BACKEND) pid $BACKEND_PID on 127.0.0.1:$BACKEND_PORT"

declare -A PPID_OF
for p in $PROXIES; do
  start_proxy "$p"
  PPID_OF[$p]=$PROXY_PID
  say "$p: pid $PROXY_PID on 127.0.0.1:${PORT[$p]}, core $PROXY_CPU"
done

# Rounds: every row (direct + each proxy) once per round, the order rotated each round, so a
# drift in machine load over the run spreads over all of them. Medians are reported.
read -r -a ROWS <<<"direct $PROXIES"
ORDERS=()
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
  order=()
  for ((i = 0; i < ${#ROWS[@]}; i++)); do order+=("${ROWS[(i + ROUND - 1) % ${#ROWS[@]}]}"); done
  ORDERS+=("${order[*]}")
  say "round $ROUND/$ROUNDS: ${order[*]}"
  for row in "${order[@]}"; do
    if [[ $row == direct ]]; then port=$BACKEND_PORT pid=; else port=${PORT[$row]} pid=${PPID_OF[$row]}; fi
    wrk_run "$port" "$WARMUP" "$WORK/$row-warmup.txt"
    measure "$row" "$port" "$pid"
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {if (NR == 0) exit; if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
for m in REQS RPS P50 P99 CPU_US CPU_NS_US UTIL BCPU_US BUTIL CORE0 CORE1; do
  declare -n arr=$m
  for row in "${ROWS[@]}"; do
    # shellcheck disable=SC2086,SC2004
    [[ -n ${HIST["$m|$row"]:-} ]] && arr[$row]=$(median ${HIST["$m|$row"]})
  done
  unset -n arr
done

for p in $PROXIES; do
  pid=${PPID_OF[$p]}
  RSS_MIB[$p]=$(calc "$(rss_kib "$pid") / 1024")
  if [[ ($PERF == 1 && $p == causeway) || $PERF == all ]]; then perf_record "$p" "$pid"; fi
  if [[ $SYSCALLS == 1 ]]; then syscall_count "$p" "$pid"; fi
  idle_test "$p" "$pid"
  stop_pid "$pid" 10
done
if [[ $CALLGRIND == 1 && " $PROXIES " == *" causeway "* ]]; then callgrind_run; fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report -------------------------------------------------------------------------------
fmt() { [[ -z ${1:-} || $1 == n/a ]] && { echo "${1:-—}"; return; }; awk -v v="$1" -v f="$2" 'BEGIN{printf f, v}'; }
ratio() { # ratio A B [FORMAT]
  [[ -z ${1:-} || -z ${2:-} || $1 == n/a || $2 == n/a ]] && { echo "—"; return; }
  awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "—"; else printf "%.2f", a / b }'
}
BASELINE_VERSION=
[[ -z $BASELINE_BIN ]] ||
  BASELINE_VERSION="$BASELINE_NAME $("$BASELINE_BIN" --version 2>/dev/null | head -1 || echo '?') ($BASELINE_BIN)"
# compare_builds: the causeway / BASELINE_NAME table. Both rows ran in the same rounds, so the
# per-round ratios show how much of the difference is noise.
compare_builds() {
  local b=$BASELINE_NAME spec key label f div rounds i x y
  local -a a c
  echo "Builds (causeway = $CAUSEWAY_BIN, $b = $BASELINE_BIN: same config, core, backend and rounds; causeway/$b < 1 is better for causeway, except req/s; per round: the ratio in each round, to judge the noise):"
  echo
  echo "| metric | causeway | $b | causeway/$b | per round |"
  echo "| --- | ---: | ---: | ---: | --- |"
  for spec in "RPS|req/s|%.0f|1" "P50|p50 ms|%.3f|1000" "P99|p99 ms|%.3f|1000" \
    "CPU_US|CPU-µs/req|%.2f|1" "RSS_MIB|RSS MiB after load|%.1f|1" "IDLE_KIB|KiB/idle conn|%.2f|1"; do
    IFS='|' read -r key label f div <<<"$spec"
    local -n col=$key
    x=${col[causeway]:-}
    y=${col[$b]:-}
    unset -n col
    rounds=—
    if [[ -n ${HIST["$key|causeway"]:-} ]]; then
      read -r -a a <<<"${HIST["$key|causeway"]}"
      read -r -a c <<<"${HIST["$key|$b"]:-}"
      rounds=
      for ((i = 0; i < ${#a[@]}; i++)); do rounds+="${rounds:+ · }$(ratio "${a[i]}" "${c[i]:-}")"; done
    fi
    if ((div != 1)); then
      [[ -z $x ]] || x=$(calc "$x / $div")
      [[ -z $y ]] || y=$(calc "$y / $div")
    fi
    printf '| %s | %s | %s | %s | %s |\n' "$label" "$(fmt "$x" "$f")" "$(fmt "$y" "$f")" \
      "$(ratio "$x" "$y")" "$rounds"
  done
  echo
}
{
  echo "## Load benchmark, $(date '+%F %H:%M %Z')"
  echo
  echo "Command: \`$CMDLINE\`  "
  echo "Machine: $(nproc) cores ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)), kernel $(uname -r); load average before $LOAD_BEFORE, after $LOAD_AFTER  "
  echo "Layout: each proxy on core $PROXY_CPU with one worker/thread; wrk -t$THREADS -c$CONNECTIONS and the backend ($BACKEND, 1 worker) on core $LOAD_CPU; all proxies run at once but only one is loaded at a time; per row: warm-up $WARMUP, then measured $DURATION; $ROUNDS round(s), order rotated each round (${ORDERS[*]/%/;}); tables show the median of the rounds.  "
  echo "Versions: causeway $("$CAUSEWAY_BIN" --version 2>/dev/null | head -1 || echo '?');${BASELINE_VERSION:+ $BASELINE_VERSION;} $(haproxy -v 2>/dev/null | head -1 | cut -d' ' -f1-3); $(nginx -v 2>&1 | head -1 | sed 's/.*: //'); $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
  echo
  echo "| proxy | req/s | p50 ms | p99 ms | CPU-µs/req | ratio vs haproxy (CPU-µs) | RSS MiB | KiB/idle conn |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for r in "${ROWS[@]}"; do
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' \
      "$([[ $r == direct ]] && echo "direct (no proxy)" || echo "$r")" \
      "$(fmt "${RPS[$r]}" '%.0f')" "$(fmt "$(calc "${P50[$r]} / 1000")" '%.3f')" \
      "$(fmt "$(calc "${P99[$r]} / 1000")" '%.3f')" "$(fmt "${CPU_US[$r]:-}" '%.2f')" \
      "$(ratio "${CPU_US[$r]:-}" "${CPU_US[haproxy]:-}")" "$(fmt "${RSS_MIB[$r]:-}" '%.1f')" \
      "$(fmt "${IDLE_KIB[$r]:-}" '%.2f')"
  done
  echo
  if [[ -n ${RPS[causeway]:-} ]]; then
    echo "Ratios (causeway / other; req/s: higher is better for causeway when > 1, all others: lower is better when < 1):"
    echo
    echo "| metric | causeway/haproxy | causeway/nginx |"
    echo "| --- | ---: | ---: |"
    echo "| req/s | $(ratio "${RPS[causeway]}" "${RPS[haproxy]:-}") | $(ratio "${RPS[causeway]}" "${RPS[nginx]:-}") |"
    echo "| p50 | $(ratio "${P50[causeway]}" "${P50[haproxy]:-}") | $(ratio "${P50[causeway]}" "${P50[nginx]:-}") |"
    echo "| p99 | $(ratio "${P99[causeway]}" "${P99[haproxy]:-}") | $(ratio "${P99[causeway]}" "${P99[nginx]:-}") |"
    echo "| CPU-µs/req | $(ratio "${CPU_US[causeway]}" "${CPU_US[haproxy]:-}") | $(ratio "${CPU_US[causeway]}" "${CPU_US[nginx]:-}") |"
    echo "| RSS after load | $(ratio "${RSS_MIB[causeway]}" "${RSS_MIB[haproxy]:-}") | $(ratio "${RSS_MIB[causeway]}" "${RSS_MIB[nginx]:-}") |"
    echo "| KiB/idle conn | $(ratio "${IDLE_KIB[causeway]:-}" "${IDLE_KIB[haproxy]:-}") | $(ratio "${IDLE_KIB[causeway]:-}" "${IDLE_KIB[nginx]:-}") |"
    echo
  fi
  if [[ -n $BASELINE_BIN && -n ${RPS[causeway]:-} && -n ${RPS[$BASELINE_NAME]:-} ]]; then compare_builds; fi
  echo "Diagnostics (who was the bottleneck):"
  echo
  echo "| row | requests | proxy CPU-µs/req (schedstat) | proxy CPU % of a core | backend CPU-µs/req | backend CPU % | core $PROXY_CPU busy % | core $LOAD_CPU busy % | upstream conns | wrk errors | syscalls/req | idle test |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |"
  for r in "${ROWS[@]}"; do
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$r" "${REQS[$r]}" \
      "$(fmt "${CPU_NS_US[$r]:-}" '%.2f')" \
      "$(fmt "${UTIL[$r]:-}" '%.0f')" "$(fmt "${BCPU_US[$r]}" '%.2f')" "$(fmt "${BUTIL[$r]}" '%.0f')" \
      "$(fmt "${CORE0[$r]}" '%.0f')" "$(fmt "${CORE1[$r]}" '%.0f')" "${UPCONNS[$r]:-—}" "${ERRS_ALL[$r]}" "${SYSC[$r]:-—}" "${IDLE_HELD[$r]:-—}"
  done
  echo
  echo "Per round (CPU-µs/req · req/s · p99 ms), to judge the variance:"
  echo
  hdr="| row |"; sep="| --- |"
  for ((i = 1; i <= ROUNDS; i++)); do hdr+=" round $i |"; sep+=" ---: |"; done
  echo "$hdr"; echo "$sep"
  for r in "${ROWS[@]}"; do
    line="| $r |"
    read -r -a c <<<"${HIST["CPU_US|$r"]:-}"
    read -r -a q <<<"${HIST["RPS|$r"]}"
    read -r -a l <<<"${HIST["P99|$r"]}"
    for ((i = 0; i < ROUNDS; i++)); do
      line+=" $(fmt "${c[i]:-}" '%.2f') · $(fmt "${q[i]}" '%.0f') · $(fmt "$(calc "${l[i]} / 1000")" '%.2f') |"
    done
    echo "$line"
  done
  echo
  echo "CPU-µs/req = Δ(utime+stime) of the proxy process over the measured run (CLK_TCK=$CLK_TCK) / requests (the schedstat column is the same from /proc/PID/task/*/schedstat, in ns); KiB/idle conn = ΔVmRSS / connections held (user-space memory only: kernel socket buffers are not in RSS). Core busy % is for the whole core, other processes on the machine included. Upstream conns = the proxy's connections to the backend right after its last measured run (its keep-alive pool)."
} >"$OUT/results.md"
echo
cat "$OUT/results.md"
say "results: $OUT/results.md (raw wrk output and configs in $OUT, $WORK)"
