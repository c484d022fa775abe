#!/usr/bin/env bash
# DNS benchmark: Causeway's DNS server, Knot DNS, Unbound and dnsmasq in ONE run, all serving
# the same names of the zone `internal`, each pinned (every thread) to one core with one
# worker thread; dnsperf alone on the other core. Reports server CPU-microseconds per
# answered query and the ratio to knot.
#
# usage: [DURATION=10] [ROUNDS=3] [OUTSTANDING=100] [SERVERS="causeway knot unbound dnsmasq"]
#        [CAUSEWAY_BIN=build/causeway] [OUT=bench/results/dns-<date>/] [PERF=1|all]
#        [SYSCALLS=1] [EDNS=1] bash bench/dns/run.sh
#
# Options (environment):
#   DURATION      measured dnsperf run per server, seconds (dnsperf -l)          default 10
#   WARMUP        warm-up dnsperf run before each measured run, seconds         default 2
#   ROUNDS        rounds; each measures every server once, order rotated; medians  default 3
#   OUTSTANDING   queries outstanding at most (dnsperf -q)                      default 100
#   CLIENTS       dnsperf clients, i.e. UDP sockets (dnsperf -c)                default 1
#   EDNS          1: queries carry EDNS0 (dnsperf -e)                           default 0
#   SERVERS       which servers, in order       default "causeway knot unbound dnsmasq"
#   CAUSEWAY_BIN  the causeway binary                                 default build/causeway
#                 (relative paths in CAUSEWAY_BIN and OUT: from the repository root)
#   INSTANCES     instances of service `api` (A records 127.0.0.2, .3, ...; 1-50) default 3
#   QUERY_LINES   lines in the query file (80% A, 10% SRV, 10% NXDOMAIN)      default 1000
#   OUT           results directory                      default bench/results/dns-<date>/
#   PERF=1        extra run of causeway under `perf record -g` -> $OUT/causeway-perf*.txt
#                 (PERF=all: every server -> $OUT/<server>-perf.txt, <server>-perf-flat.txt)
#   SYSCALLS=1    extra run of every server under `perf stat` syscall tracepoints
#                 -> syscalls per answered query in the report and $OUT/<server>-syscalls.txt
#   SERVER_CPU / LOAD_CPU   cores for the servers / for dnsperf              default 0 / 1
#   PORT_BASE     first port tried; each server gets the next port free for both UDP and TCP
#                 on 127.0.0.1 (causeway also an admin and a listener port)  default 28600
#   WATCHDOG      hard limit for the whole run, seconds
#                 default 300 + per server ROUNDS * (DURATION + WARMUP + 10) + 2 * (DURATION + 90)
#   NICE          renice this script (and so everything it starts) to NICE, e.g. -15, so that
#                 other work on a shared machine disturbs the measurement less  default: none
#
# Layout (2 cores): all servers run on SERVER_CPU (started up front; every thread of each is
# re-pinned with `taskset -a -p` once it is up, since knotd pins its own threads; only the one
# under load is busy); dnsperf runs alone on LOAD_CPU. Every server is checked with dig before
# anything is measured (A, SRV, an SRV target's A, NXDOMAIN); a wrong answer stops the run.
# CPU-us/query = delta(utime+stime) of the server process (/proc/PID/stat: all threads, so
# causeway's control and store threads count too) over the measured dnsperf run / queries
# dnsperf saw answered in it.
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

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-3}
OUTSTANDING=${OUTSTANDING:-100}
CLIENTS=${CLIENTS:-1}
EDNS=${EDNS:-0}
SERVERS=${SERVERS:-causeway knot unbound dnsmasq}
CAUSEWAY_BIN=${CAUSEWAY_BIN:-build/causeway}
INSTANCES=${INSTANCES:-3}
QUERY_LINES=${QUERY_LINES:-1000}
OUT=${OUT:-bench/results/dns-$(date +%F)/}
PERF=${PERF:-0}
SYSCALLS=${SYSCALLS:-0}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PORT_BASE=${PORT_BASE:-28600}
WATCHDOG=${WATCHDOG:-}
NICE=${NICE:-}

for v in DURATION WARMUP ROUNDS OUTSTANDING CLIENTS INSTANCES QUERY_LINES SERVER_CPU LOAD_CPU PORT_BASE; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "run.sh: $v=${!v}: a whole number please" >&2; exit 2; }
done
((DURATION >= 1 && ROUNDS >= 1 && OUTSTANDING >= 1 && CLIENTS >= 1 && QUERY_LINES >= 10)) ||
  { echo "run.sh: DURATION, ROUNDS, OUTSTANDING, CLIENTS must be >= 1, QUERY_LINES >= 10" >&2; exit 2; }
((INSTANCES >= 1 && INSTANCES <= 50)) || { echo "run.sh: INSTANCES must be 1-50" >&2; exit 2; }
nservers=$(wc -w <<<"$SERVERS")
WATCHDOG=${WATCHDOG:-$((300 + nservers * (ROUNDS * (DURATION + WARMUP + 10) + 2 * (DURATION + 90))))}
[[ $WATCHDOG =~ ^[0-9]+$ ]] || { echo "run.sh: WATCHDOG=$WATCHDOG: a whole number please" >&2; exit 2; }

# Output directories, logging, process bookkeeping, cleanup, watchdog, need().
# shellcheck source=bench/lib/common.sh
source "$ROOT/bench/lib/common.sh"
need dnsperf dnsperf
need dig bind9-dnsutils
need taskset util-linux
need ss iproute2
ncpu=$(nproc)
((SERVER_CPU < ncpu && LOAD_CPU < ncpu)) || die "SERVER_CPU=$SERVER_CPU / LOAD_CPU=$LOAD_CPU: only $ncpu cores"
[[ $SERVER_CPU != "$LOAD_CPU" ]] || say "note: servers and dnsperf share core $SERVER_CPU"
for s in $SERVERS; do
  case $s in
    causeway)
      [[ -x $CAUSEWAY_BIN ]] || die "CAUSEWAY_BIN=$CAUSEWAY_BIN is not executable (make build)"
      need curl curl
      ;;
    knot) need knotd knot ;;
    unbound) need unbound unbound ;;
    dnsmasq) need dnsmasq dnsmasq-base ;;
    *) die "unknown server '$s' (known: causeway knot unbound dnsmasq)" ;;
  esac
done
[[ " $SERVERS " == *" knot "* ]] || say "note: knot is not in SERVERS: no ratio column"
[[ $PERF == 0 && $SYSCALLS != 1 ]] || need perf linux-perf
CAUSEWAY_BIN=$(realpath "$CAUSEWAY_BIN" 2>/dev/null || echo "$CAUSEWAY_BIN")

if [[ -n $NICE ]]; then
  # With CONFIG_SCHED_AUTOGROUP, nice only ranks processes inside one session's autogroup;
  # the script runs itself in a new session (see the top) and gives that autogroup NICE too.
  if [[ -w /proc/self/autogroup ]]; then
    echo "$NICE" >/proc/self/autogroup 2>/dev/null || say "note: could not set autogroup nice $NICE"
  fi
  renice -n "$NICE" -p $$ >/dev/null || die "renice -n $NICE failed"
fi

# ---- ports --------------------------------------------------------------------------------
TAKEN=" "
port_busy() { [[ -n $(ss -Hlntu "sport = :$1" 2>/dev/null) ]]; }
# free_port: the next port from PORT_BASE up that nothing listens on (UDP or TCP) and this
# run has not handed out yet; sets FREE_PORT.
NEXT_PORT=$PORT_BASE
free_port() {
  while ((NEXT_PORT < 65535)); do
    local p=$NEXT_PORT
    NEXT_PORT=$((NEXT_PORT + 1))
    if [[ $TAKEN != *" $p "* ]] && ! port_busy "$p"; then
      TAKEN+="$p "
      FREE_PORT=$p
      return 0
    fi
  done
  die "no free port from $PORT_BASE up"
}
declare -A PORT
for s in $SERVERS; do free_port; PORT[$s]=$FREE_PORT; done
free_port; ADMIN_PORT=$FREE_PORT
free_port; LISTENER_PORT=$FREE_PORT
wait_udp() { # wait_udp PORT PID SECONDS: until something answers DNS on 127.0.0.1:PORT
  local i
  for ((i = 0; i < $3 * 5; i++)); do
    kill -0 "$2" 2>/dev/null || return 1
    dig @127.0.0.1 -p "$1" +time=1 +tries=1 +norec internal SOA >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}
wait_tcp() { # wait_tcp PORT PID SECONDS
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# ---- /proc readers ----------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; } # utime+stime, all threads
vol_switches() { # voluntary context switches of every live thread: how often it went to sleep
  cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches:/ {s += $2} END {print s + 0}'
}
cpu_ns() { # sum_exec_runtime of every live thread (ns, precise; cross-check of cpu_ticks)
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'
}
core_busy() { # "busy total" jiffies of one core from /proc/stat
  awk -v c="cpu$1" '$1 == c {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t}' /proc/stat
}
calc() { awk "BEGIN { printf \"%s\", $* }"; }
fmt() { [[ -z ${1:-} || $1 == n/a ]] && { echo "${1:-—}"; return; }; awk -v v="$1" -v f="$2" 'BEGIN{printf f, v}'; }
ratio() {
  [[ -z ${1:-} || -z ${2:-} ]] && { echo "—"; return; }
  awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "—"; else printf "%.2f", a / b }'
}
# pin_all NAME PID: every thread of PID onto SERVER_CPU (taskset -a -p), then check each.
pin_all() {
  local name=$1 pid=$2
  taskset -a -p -c "$SERVER_CPU" "$pid" >/dev/null || die "$name: taskset -a -p $pid failed"
  check_pinned "$name" "$pid"
}
check_pinned() {
  local name=$1 pid=$2 t bad='' n=0
  for t in /proc/"$pid"/task/*; do
    n=$((n + 1))
    [[ $(awk '/^Cpus_allowed_list:/{print $2}' "$t/status" 2>/dev/null) == "$SERVER_CPU" ]] || bad+=" ${t##*/}"
  done
  [[ -z $bad ]] || die "$name (pid $pid): threads not on core $SERVER_CPU:$bad"
  NTHREADS[$name]=$n
}

# ---- the names ----------------------------------------------------------------------------
# Zone `internal`: service api (INSTANCES instances api-N at 127.0.0.(N+1), port 9000+N),
# service web (web-1 at 127.0.0.100, port 8080); SRV _api._tcp / _web._tcp with targets
# <id>.<service>.instance.internal, whose A records exist; SOA + NS ns.internal (127.0.0.1).
TTL=5
API_IPS=()
for ((i = 1; i <= INSTANCES; i++)); do API_IPS+=("127.0.0.$((i + 1))"); done
# each_record FUNC: FUNC NAME TYPE RDATA for every record (SOA/NS apart).
each_record() {
  local f=$1 i
  for ((i = 1; i <= INSTANCES; i++)); do
    "$f" api.internal A "${API_IPS[i - 1]}"
    "$f" _api._tcp.internal SRV "0 1 $((9000 + i)) api-$i.api.instance.internal."
    "$f" api.internal SRV "0 1 $((9000 + i)) api-$i.api.instance.internal."
    "$f" "api-$i.api.instance.internal" A "${API_IPS[i - 1]}"
  done
  "$f" web.internal A 127.0.0.100
  "$f" _web._tcp.internal SRV "0 1 8080 web-1.web.instance.internal."
  "$f" web.internal SRV "0 1 8080 web-1.web.instance.internal."
  "$f" web-1.web.instance.internal A 127.0.0.100
  "$f" ns.internal A 127.0.0.1
}
SOA_RDATA="ns.internal. hostmaster.internal. 1 3600 600 86400 $TTL"

# The query file: QUERY_LINES lines, 80% `api.internal A`, 10% `_api._tcp.internal SRV`,
# 10% `nope-<n>.internal A` (each n once), shuffled with a fixed seed. dnsperf loops over it.
QUERIES=$WORK/queries.txt
awk -v n="$QUERY_LINES" 'BEGIN {
  srand(20261202)
  for (i = 0; i < n; i++) {
    k = i % 10
    if (k == 3) q[i] = "_api._tcp.internal SRV"
    else if (k == 7) q[i] = "nope-" i ".internal A"
    else q[i] = "api.internal A"
  }
  for (i = n - 1; i > 0; i--) { j = int(rand() * (i + 1)); t = q[i]; q[i] = q[j]; q[j] = t }
  for (i = 0; i < n; i++) print q[i]
}' >"$QUERIES"
MIX=$(awk '{c[$2 == "SRV" ? "SRV" : ($1 ~ /^nope-/ ? "NXDOMAIN" : "A")]++} END {printf "%d A, %d SRV, %d NXDOMAIN", c["A"], c["SRV"], c["NXDOMAIN"]}' "$QUERIES")

# ---- servers ------------------------------------------------------------------------------
declare -A SPID NTHREADS VERSION

start_causeway() {
  local d=$WORK/causeway
  mkdir -p "$d/data"
  cat >"$d/causeway.yaml" <<EOF
# written by bench/dns/run.sh
workers: 1
drain_timeout: 1s
admin: { listen: 127.0.0.1:$ADMIN_PORT }
registry: { data_dir: $d/data }
dns: { listen: 127.0.0.1:${PORT[causeway]}, domain: internal, ttl: ${TTL}s }
listeners:
  - name: edge
    listen: 127.0.0.1:$LISTENER_PORT
    routes:
      - match: { path_prefix: / }
        cluster: backend
clusters:
  - name: backend
    endpoints: [127.0.0.1:9]
EOF
  start_bg causeway taskset -c "$SERVER_CPU" "$CAUSEWAY_BIN" run -c "$d/causeway.yaml"
  SPID[causeway]=$BG_PID
  wait_tcp "$ADMIN_PORT" "$BG_PID" 15 || { tail -n 20 "$WORK/causeway.log" >&2; die "causeway did not start (log: $WORK/causeway.log)"; }
  local i
  register() { # register SERVICE ID IP PORT
    local code
    code=$(curl -sS -o "$WORK/causeway-put.json" -w '%{http_code}' --max-time 10 -X PUT \
      "http://127.0.0.1:$ADMIN_PORT/api/v1/services/$1/instances/$2" \
      -d "{\"address\":\"$3\",\"port\":$4}") || die "causeway: PUT $1/$2 failed"
    [[ $code == 200 ]] || die "causeway: PUT $1/$2 answered $code: $(cat "$WORK/causeway-put.json")"
  }
  for ((i = 1; i <= INSTANCES; i++)); do register api "api-$i" "${API_IPS[i - 1]}" $((9000 + i)); done
  register web web-1 127.0.0.100 8080
  VERSION[causeway]="causeway $("$CAUSEWAY_BIN" --version 2>/dev/null | head -1)"
}

start_knot() {
  local d=$WORK/knot
  mkdir -p "$d/db"
  {
    echo "; written by bench/dns/run.sh"
    echo "\$ORIGIN internal."
    echo "\$TTL $TTL"
    echo "@ IN SOA $SOA_RDATA"
    echo "@ IN NS ns.internal."
    # shellcheck disable=SC2317 # called through each_record
    zone_line() { echo "$1. IN $2 $3"; }
    each_record zone_line
  } >"$d/internal.zone"
  cat >"$d/knot.conf" <<EOF
# written by bench/dns/run.sh
server:
    rundir: "$d"
    pidfile: "$d/knot.pid"
    listen: 127.0.0.1@${PORT[knot]}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$d/db"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "$d"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: internal
EOF
  start_bg knot taskset -c "$SERVER_CPU" knotd -c "$d/knot.conf"
  SPID[knot]=$BG_PID
  VERSION[knot]="knot $(knotd -V 2>/dev/null | awk '{print $NF}')"
}

start_unbound() {
  local d=$WORK/unbound
  mkdir -p "$d"
  {
    cat <<EOF
# written by bench/dns/run.sh
server:
    num-threads: 1
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "$d"
    pidfile: "$d/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 0
    interface: 127.0.0.1@${PORT[unbound]}
    port: ${PORT[unbound]}
    do-ip6: no
    so-reuseport: no
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    local-zone: "internal." static
    local-data: "internal. $TTL IN SOA $SOA_RDATA"
    local-data: "internal. $TTL IN NS ns.internal."
EOF
    # shellcheck disable=SC2317 # called through each_record
    unbound_line() { echo "    local-data: \"$1. $TTL IN $2 $3\""; }
    each_record unbound_line
    printf 'remote-control:\n    control-enable: no\n'
  } >"$d/unbound.conf"
  start_bg unbound taskset -c "$SERVER_CPU" unbound -d -c "$d/unbound.conf"
  SPID[unbound]=$BG_PID
  VERSION[unbound]="unbound $(unbound -V 2>/dev/null | awk '/^Version/{print $2}')"
}

start_dnsmasq() {
  local d=$WORK/dnsmasq args=()
  mkdir -p "$d"
  # shellcheck disable=SC2317 # called through each_record
  dnsmasq_arg() {
    case $2 in
      A) args+=("--host-record=$1,$3") ;;
      SRV) # "prio weight port target." -> --srv-host=name,target,port,prio,weight
        local prio weight port target
        read -r prio weight port target <<<"$3"
        args+=("--srv-host=$1,${target%.},$port,$prio,$weight") ;;
    esac
  }
  each_record dnsmasq_arg
  # --local=/internal/: names of the domain are answered from the records above only, so
  # the others are NXDOMAIN; --local-ttl: the same TTL as the others (dnsmasq's default is 0).
  printf '%s\n' "${args[@]}" >"$d/records.txt"
  start_bg dnsmasq taskset -c "$SERVER_CPU" dnsmasq --no-daemon --conf-file=/dev/null \
    --pid-file= --port="${PORT[dnsmasq]}" --listen-address=127.0.0.1 --bind-interfaces \
    --no-resolv --no-hosts --no-poll --local=/internal/ --local-ttl="$TTL" \
    --auth-ttl="$TTL" "${args[@]}"
  SPID[dnsmasq]=$BG_PID
  VERSION[dnsmasq]="dnsmasq $(dnsmasq -v 2>/dev/null | awk 'NR == 1 {print $3}')"
}

# ---- correctness (before any measurement) ---------------------------------------------------
# verify NAME: A, SRV, an SRV target's A and NXDOMAIN, over UDP; any difference is fatal.
verify() {
  local s=$1 port=${PORT[$1]} got want out
  q() { dig @127.0.0.1 -p "$port" +time=2 +tries=2 +norec "$@" 2>&1; }
  want=$(printf '%s\n' "${API_IPS[@]}" | sort)
  got=$(q +short api.internal A | sort)
  [[ $got == "$want" ]] || die "$s: api.internal A answered [${got//$'\n'/ }], want [${want//$'\n'/ }]"
  want=$(for ((i = 1; i <= INSTANCES; i++)); do echo "0 1 $((9000 + i)) api-$i.api.instance.internal."; done | sort)
  got=$(q +short _api._tcp.internal SRV | sort)
  [[ $got == "$want" ]] || die "$s: _api._tcp.internal SRV answered [${got//$'\n'/ }], want [${want//$'\n'/ }]"
  got=$(q +short api-1.api.instance.internal A)
  [[ $got == "${API_IPS[0]}" ]] || die "$s: api-1.api.instance.internal A answered [$got], want [${API_IPS[0]}]"
  out=$(q nope-7.internal A)
  grep -q 'status: NXDOMAIN' <<<"$out" || die "$s: nope-7.internal A is not NXDOMAIN: $(grep -m1 'status:' <<<"$out" || echo "$out" | tail -n 3)"
  # the answers dnsperf will see, for the report (EDNS as dnsperf sends it)
  local e=+noedns
  [[ $EDNS == 1 ]] && e=+edns=0
  {
    echo "### $s"
    for nt in "api.internal A" "_api._tcp.internal SRV" "nope-7.internal A"; do
      # shellcheck disable=SC2086
      q $e +nocookie $nt | grep -E '^;; (flags|MSG SIZE)|status:' | sed 's/^;; //'
    done
  } >>"$WORK/answers.txt"
  say "$s: answers A, SRV, SRV target, NXDOMAIN correctly"
}

# ---- load ---------------------------------------------------------------------------------
# dnsperf_run PORT SECONDS OUTFILE: dnsperf pinned to LOAD_CPU, bounded by timeout.
dnsperf_run() {
  local e=()
  [[ $EDNS == 1 ]] && e=(-e)
  timeout -k 5 $(($2 + 30)) taskset -c "$LOAD_CPU" dnsperf -s 127.0.0.1 -p "$1" -d "$QUERIES" \
    -l "$2" -q "$OUTSTANDING" -c "$CLIENTS" -T 1 -t 2 "${e[@]}" >"$3" 2>&1 ||
    { cat "$3" >&2; die "dnsperf against port $1 failed"; }
}
dp_field() { # dp_field FILE "Queries sent:" -> the first number after it
  awk -v k="$2" 'index($0, k) { s = substr($0, index($0, k) + length(k)); split(s, a, " "); print a[1]; exit }' "$1"
}
dp_rcode() { # dp_rcode FILE NXDOMAIN -> count (0 if none)
  awk -v k="$2" '/Response codes:/ { for (i = 1; i <= NF; i++) if ($i == k) { print $(i + 1); f = 1 } } END { if (!f) print 0 }' "$1"
}

declare -A HIST SENT ANSWERED LOST QPS LAT_US CPU_US CPU_NS_US UTIL CORE_S CORE_L NXPCT RESP_B SYSC SLEEPS PERF_ROW

# measure NAME: the measured run against server NAME.
measure() {
  local s=$1 pid=${SPID[$1]} out=$WORK/$1-r$ROUND-dnsperf.txt
  local p0 p1 n0 n1 v0 v1 t0 t1 s0a s0b l0a l0b x y
  p0=$(cpu_ticks "$pid"); n0=$(cpu_ns "$pid"); v0=$(vol_switches "$pid")
  read -r s0a s0b < <(core_busy "$SERVER_CPU")
  read -r l0a l0b < <(core_busy "$LOAD_CPU")
  t0=$(date +%s.%N)
  dnsperf_run "${PORT[$s]}" "$DURATION" "$out"
  t1=$(date +%s.%N)
  p1=$(cpu_ticks "$pid"); n1=$(cpu_ns "$pid"); v1=$(vol_switches "$pid")
  read -r x y < <(core_busy "$SERVER_CPU")
  CORE_S[$s]=$(calc "100 * ($x - $s0a) / ($y - $s0b + 1e-9)")
  read -r x y < <(core_busy "$LOAD_CPU")
  CORE_L[$s]=$(calc "100 * ($x - $l0a) / ($y - $l0b + 1e-9)")
  check_pinned "$s" "$pid"
  cp "$out" "$OUT/"
  local answered wall
  answered=$(dp_field "$out" "Queries completed:")
  [[ -n $answered && $answered -gt 0 ]] || die "$s: dnsperf saw no answer (see $out)"
  wall=$(calc "$t1 - $t0")
  SENT[$s]=$(dp_field "$out" "Queries sent:")
  ANSWERED[$s]=$answered
  LOST[$s]=$(dp_field "$out" "Queries lost:")
  QPS[$s]=$(dp_field "$out" "Queries per second:")
  LAT_US[$s]=$(calc "$(dp_field "$out" "Average Latency (s):") * 1e6")
  NXPCT[$s]=$(calc "100 * $(dp_rcode "$out" NXDOMAIN) / $answered")
  RESP_B[$s]=$(awk '/Average packet size:/ {for (i = 1; i <= NF; i++) if ($i == "response") print $(i + 1)}' "$out")
  CPU_US[$s]=$(calc "($p1 - $p0) * 1e6 / $CLK_TCK / $answered")
  CPU_NS_US[$s]=$(calc "($n1 - $n0) / 1000 / $answered")
  UTIL[$s]=$(calc "100 * ($p1 - $p0) / $CLK_TCK / $wall")
  SLEEPS[$s]=$(calc "($v1 - $v0) * 1000 / $answered")
  local m
  for m in SENT ANSWERED LOST QPS LAT_US CPU_US CPU_NS_US UTIL CORE_S CORE_L NXPCT RESP_B SLEEPS; do
    local -n arr=$m
    HIST["$m|$s"]+="${arr[$s]} "
    unset -n arr
  done
  say "round $ROUND $s: sent ${SENT[$s]}, answered $answered (lost ${LOST[$s]}), ${QPS[$s]} q/s," \
    "avg latency ${LAT_US[$s]} us, server ${CPU_US[$s]} CPU-us/query (schedstat ${CPU_NS_US[$s]};" \
    "${UTIL[$s]}% of a core; ${SLEEPS[$s]} sleeps per 1000 queries), core$SERVER_CPU ${CORE_S[$s]}% core$LOAD_CPU ${CORE_L[$s]}%, NXDOMAIN ${NXPCT[$s]}%"
}

# perf_record NAME: an extra run under perf record -g (cpu-clock: works without a PMU); fills
# PERF_ROW[NAME] for the report: where the server's time goes, per answered query.
PERF_FREQ=2000
perf_rep() { # perf_rep DATA ARGS...: perf report --stdio, perf's padding trimmed
  timeout 120 perf report -i "$1" --stdio "${@:2}" 2>/dev/null |
    sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/[[:space:]]+$//'
}
perf_record() {
  local s=$1 pid=${SPID[$1]} data=$WORK/$1-perf.data e=()
  [[ $EDNS == 1 ]] && e=(-e)
  say "$s: perf record -g for ${DURATION}s"
  timeout -k 5 $((DURATION + 60)) taskset -c "$LOAD_CPU" perf record -e cpu-clock -F "$PERF_FREQ" -g \
    -o "$data" -p "$pid" -- taskset -c "$LOAD_CPU" dnsperf -s 127.0.0.1 -p "${PORT[$s]}" \
    -d "$QUERIES" -l "$DURATION" -q "$OUTSTANDING" -c "$CLIENTS" -T 1 -t 2 "${e[@]}" \
    >"$WORK/$s-perf-dnsperf.txt" 2>"$WORK/$s-perf-record.log" ||
    { say "perf record failed: $(tail -n 3 "$WORK/$s-perf-record.log")"; return 0; }
  local answered
  answered=$(dp_field "$WORK/$s-perf-dnsperf.txt" "Queries completed:")
  {
    echo "# perf record -e cpu-clock -F $PERF_FREQ -g -p <$s pid> during dnsperf -l $DURATION -q $OUTSTANDING"
    echo "# $answered queries answered in this run"
    perf_rep "$data" --no-children | sed -n 1,150p
  } >"$OUT/$s-perf.txt"
  {
    echo "# $s: $answered queries answered during the recording"
    echo "# self-time by symbol (perf report --no-children --sort symbol -g none)"
    perf_rep "$data" --no-children --sort symbol -g none | grep -v -e '^#' -e '^$' | sed -n 1,50p
    echo
    echo "# user-space symbols only (same sort)"
    perf_rep "$data" --no-children --sort symbol -g none | grep -F '[.]' | sed -n 1,30p
    echo
    echo "# self-time by shared object"
    perf_rep "$data" --no-children --sort dso -g none | grep -v -e '^#' -e '^$' | sed -n 1,15p
    echo
    echo "# self-time by thread"
    perf_rep "$data" --no-children --sort pid -g none | grep -v -e '^#' -e '^$' | sed -n 1,10p
    echo
    echo "# children (inclusive) by symbol"
    perf_rep "$data" --children --sort symbol -g none | grep -v -e '^#' -e '^$' | sed -n 1,60p
  } >"$OUT/$s-perf-flat.txt"
  # The summary: samples -> CPU-us per answered query, and the inclusive share of the
  # syscalls that make up a DNS server's work (send and receive include the loopback
  # delivery to dnsperf's socket, done in the sender's context).
  local samples kernel incl
  samples=$(perf_rep "$data" --no-children --sort dso -g none -F overhead,sample |
    awk '!/^#/ && NF >= 2 {s += $2} END {print s + 0}')
  kernel=$(perf_rep "$data" --no-children --sort dso -g none |
    awk '/\[kernel\.kallsyms\]/ {sub("%", "", $1); print $1}')
  incl=$(perf_rep "$data" --children --sort symbol -g none | awk '
    # each syscall family under two names (the entry point, or the function it inlines into
    # on this kernel): the larger of the two, summed over the families
    function fam(sym) {
      if (sym ~ /^(__x64_sys_|__sys_)sendmmsg$/) return "s1"
      if (sym ~ /^(__x64_sys_|__sys_)sendto$/) return "s2"
      if (sym ~ /^(__x64_sys_|__sys_)sendmsg$/) return "s3"
      if (sym ~ /^(__x64_sys_recvmmsg|do_recvmmsg)$/) return "r1"
      if (sym ~ /^(__x64_sys_|__sys_)recvfrom$/) return "r2"
      if (sym ~ /^(__x64_sys_|__sys_)recvmsg$/) return "r3"
      if (sym ~ /^(__x64_sys_epoll_wait|__x64_sys_epoll_pwait|__x64_sys_epoll_pwait2|do_epoll_wait)$/) return "w1"
      if (sym ~ /^(__x64_sys_poll|__x64_sys_ppoll|do_sys_poll)$/) return "w2"
      if (sym ~ /^(__x64_sys_select|__x64_sys_pselect6|core_sys_select)$/) return "w3"
      return ""
    }
    $3 == "[k]" { f = fam($4); v = $1; sub("%", "", v); if (f != "" && v + 0 > m[f]) m[f] = v + 0 }
    END { printf "%.0f %.0f %.0f", m["s1"] + m["s2"] + m["s3"], m["r1"] + m["r2"] + m["r3"], m["w1"] + m["w2"] + m["w3"] }')
  local snd rcv wt top
  read -r snd rcv wt <<<"$incl"
  top=$(perf_rep "$data" --no-children --sort symbol -g none | grep -F '[.]' | sed -n 1,4p |
    awk '{s = $3; for (i = 4; i <= NF; i++) s = s " " $i; sub(/\[abi:cxx11\]/, "", s); if (length(s) > 40) s = substr(s, 1, 37) "..."; printf "%s%s %s", sep, s, $1; sep = ", "}')
  PERF_ROW[$s]="| $s | $answered | $(fmt "$(calc "$samples * 1e6 / $PERF_FREQ / ($answered + 1e-9)")" '%.2f') | ${kernel:-?} | $snd | $rcv | $wt | $(calc "100 - ${kernel:-100}") | $top |"
  say "$s: perf report -> $OUT/$s-perf.txt, $OUT/$s-perf-flat.txt"
}

SYSCALL_EVENTS=(read write recvfrom sendto recvmsg sendmsg recvmmsg sendmmsg epoll_wait
  epoll_pwait epoll_ctl poll ppoll select pselect6 io_uring_enter futex)
# syscall_count NAME: an extra run under perf stat with syscall tracepoints.
syscall_count() {
  local s=$1 pid=${SPID[$1]} ev=() x tp=/sys/kernel/tracing/events/syscalls e=()
  [[ $EDNS == 1 ]] && e=(-e)
  [[ -d $tp ]] || tp=/sys/kernel/debug/tracing/events/syscalls
  for x in "${SYSCALL_EVENTS[@]}"; do
    [[ -d $tp/sys_enter_$x ]] && ev+=("syscalls:sys_enter_$x")
  done
  if ((${#ev[@]} == 0)); then
    SYSC[$s]="n/a (no syscall tracepoints)"
    return 0
  fi
  local evs
  evs=$(IFS=,; echo "${ev[*]}")
  say "$s: perf stat syscalls for ${DURATION}s"
  if ! timeout -k 5 $((DURATION + 60)) taskset -c "$LOAD_CPU" perf stat -x, -e "$evs" \
    -o "$WORK/$s-perf-stat.csv" -p "$pid" -- taskset -c "$LOAD_CPU" dnsperf -s 127.0.0.1 \
    -p "${PORT[$s]}" -d "$QUERIES" -l "$DURATION" -q "$OUTSTANDING" -c "$CLIENTS" -T 1 -t 2 "${e[@]}" \
    >"$WORK/$s-sys-dnsperf.txt" 2>&1; then
    SYSC[$s]="n/a (perf stat failed)"
    return 0
  fi
  local n
  n=$(dp_field "$WORK/$s-sys-dnsperf.txt" "Queries completed:")
  {
    echo "# $s: syscalls per answered query ($n answered, dnsperf -l $DURATION -q $OUTSTANDING under perf stat -p PID)"
    awk -F, -v r="$n" '
      /^#/ || NF < 3 { next }
      { c = $1; e = $3; sub(/^syscalls:sys_enter_/, "", e)
        if (c ~ /^[0-9]+$/ && c > 0) printf "%-16s %12d  %8.3f/query\n", e, c, c / r }' \
      "$WORK/$s-perf-stat.csv" | sort -k3 -rn
    awk -F, -v r="$n" '
      /^#/ || NF < 3 { next }
      $1 ~ /^[0-9]+$/ { t += $1 }
      END { printf "%-16s %12d  %8.3f/query\n", "TOTAL", t, t / r }' "$WORK/$s-perf-stat.csv"
  } >"$OUT/$s-syscalls.txt"
  SYSC[$s]=$(grep -v -e '^#' -e '^TOTAL' "$OUT/$s-syscalls.txt" |
    awk '{sub("/query", "", $3); if ($3 >= 0.005) {printf "%s%s %.2f", sep, $1, $3; sep = ", "}}')
  SYSC[$s]="$(awk '/^TOTAL/{sub("/query", "", $3); print $3}' "$OUT/$s-syscalls.txt") (${SYSC[$s]})"
  say "$s: syscalls/query ${SYSC[$s]}"
}

# ---- the run ------------------------------------------------------------------------------
CMDLINE="${NICE:+NICE=$NICE }ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP OUTSTANDING=$OUTSTANDING CLIENTS=$CLIENTS EDNS=$EDNS INSTANCES=$INSTANCES SERVERS=\"$SERVERS\" PERF=$PERF SYSCALLS=$SYSCALLS bash bench/dns/run.sh"
say "causeway dns bench: $CMDLINE"
say "out: $OUT; servers on core $SERVER_CPU, dnsperf on core $LOAD_CPU; query mix: $MIX"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$WORK/answers.txt"
for s in $SERVERS; do
  "start_$s"
  wait_udp "${PORT[$s]}" "${SPID[$s]}" 20 || { tail -n 20 "$WORK/$s.log" >&2; die "$s does not answer on 127.0.0.1:${PORT[$s]} (log: $WORK/$s.log)"; }
  pin_all "$s" "${SPID[$s]}"
  say "$s: pid ${SPID[$s]} on 127.0.0.1:${PORT[$s]}, ${NTHREADS[$s]} thread(s) on core $SERVER_CPU (${VERSION[$s]})"
done
for s in $SERVERS; do verify "$s"; done

# Rounds: every server once per round, the order rotated each round. Medians are reported.
read -r -a ROWS <<<"$SERVERS"
ORDERS=()
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
  order=()
  for ((i = 0; i < ${#ROWS[@]}; i++)); do order+=("${ROWS[(i + ROUND - 1) % ${#ROWS[@]}]}"); done
  ORDERS+=("${order[*]}")
  say "round $ROUND/$ROUNDS: ${order[*]}"
  for s in "${order[@]}"; do
    dnsperf_run "${PORT[$s]}" "$WARMUP" "$WORK/$s-warmup.txt"
    measure "$s"
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {if (NR == 0) exit; if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
for m in SENT ANSWERED LOST QPS LAT_US CPU_US CPU_NS_US UTIL CORE_S CORE_L NXPCT RESP_B SLEEPS; do
  declare -n arr=$m
  for s in "${ROWS[@]}"; do
    # shellcheck disable=SC2086,SC2004
    [[ -n ${HIST["$m|$s"]:-} ]] && arr[$s]=$(median ${HIST["$m|$s"]})
  done
  unset -n arr
done
for s in "${ROWS[@]}"; do
  if [[ ($PERF == 1 && $s == causeway) || $PERF == all ]]; then perf_record "$s"; fi
  if [[ $SYSCALLS == 1 ]]; then syscall_count "$s"; fi
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report -------------------------------------------------------------------------------
{
  echo "## DNS benchmark, $(date '+%F %H:%M %Z')"
  echo
  echo "Command: \`$CMDLINE\`  "
  echo "Machine: $(nproc) cores ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)), kernel $(uname -r); load average before $LOAD_BEFORE, after $LOAD_AFTER  "
  echo "Layout: each server on core $SERVER_CPU, every thread pinned (\`taskset -a -p\`), one worker thread; dnsperf -c$CLIENTS -T1 -q$OUTSTANDING$([[ $EDNS == 1 ]] && echo ' -e') alone on core $LOAD_CPU; all servers run at once but only one is loaded at a time; per server: warm-up ${WARMUP}s, then measured ${DURATION}s; $ROUNDS round(s), order rotated (${ORDERS[*]/%/;}); tables show the median of the rounds.  "
  echo "Queries: $QUERY_LINES-line file, looped: $MIX (\`api.internal A\` -> $INSTANCES A records, \`_api._tcp.internal SRV\` -> $INSTANCES SRV, \`nope-<n>.internal A\` -> NXDOMAIN).  "
  echo "Versions: $(for s in "${ROWS[@]}"; do printf '%s; ' "${VERSION[$s]}"; done)$(dnsperf -h 2>&1 | awk '/^Version/{print "dnsperf " $2}')"
  echo
  echo "| server | threads | queries sent | answered | lost | queries/s | avg latency µs | CPU-µs/answered query | ratio vs knot (CPU) | server CPU % of a core | core $LOAD_CPU (dnsperf) busy % | sleeps / 1000 queries | NXDOMAIN % | avg response bytes |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for s in "${ROWS[@]}"; do
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$s" "${NTHREADS[$s]}" \
      "$(fmt "${SENT[$s]}" '%.0f')" "$(fmt "${ANSWERED[$s]}" '%.0f')" "$(fmt "${LOST[$s]}" '%.0f')" \
      "$(fmt "${QPS[$s]}" '%.0f')" "$(fmt "${LAT_US[$s]}" '%.0f')" "$(fmt "${CPU_US[$s]}" '%.2f')" \
      "$(ratio "${CPU_US[$s]}" "${CPU_US[knot]:-}")" "$(fmt "${UTIL[$s]}" '%.0f')" \
      "$(fmt "${CORE_L[$s]}" '%.0f')" "$(fmt "${SLEEPS[$s]}" '%.1f')" "$(fmt "${NXPCT[$s]}" '%.1f')" "$(fmt "${RESP_B[$s]}" '%.0f')"
  done
  echo
  echo "Per round (CPU-µs/answered query · queries/s), to judge the variance; CPU-µs from schedstat (ns) in the last column, median:"
  echo
  hdr="| server |"; sep="| --- |"
  for ((i = 1; i <= ROUNDS; i++)); do hdr+=" round $i |"; sep+=" ---: |"; done
  echo "$hdr ratio vs knot per round | schedstat CPU-µs/query |"; echo "$sep --- | ---: |"
  for s in "${ROWS[@]}"; do
    line="| $s |"
    read -r -a c <<<"${HIST["CPU_US|$s"]}"
    read -r -a q <<<"${HIST["QPS|$s"]}"
    read -r -a k <<<"${HIST["CPU_US|knot"]:-}"
    rr=
    for ((i = 0; i < ROUNDS; i++)); do
      line+=" $(fmt "${c[i]:-}" '%.2f') · $(fmt "${q[i]:-}" '%.0f') |"
      rr+="${rr:+ · }$(ratio "${c[i]:-}" "${k[i]:-}")"
    done
    echo "$line $rr | $(fmt "${CPU_NS_US[$s]}" '%.2f') |"
  done
  echo
  if [[ $PERF != 0 ]]; then
    echo "Where the time goes (one more ${DURATION}s run per server under \`perf record -e cpu-clock -F $PERF_FREQ -g -p PID\`; % of the server's samples; send/receive/wait: inclusive, kernel side of the syscalls; loopback delivery to dnsperf and its wake-up happen inside the server's send):"
    echo
    echo "| server | answered | CPU-µs/query (samples) | kernel % | send % | receive % | epoll/poll % | user % | top user-space symbols (self %) |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    for s in "${ROWS[@]}"; do [[ -n ${PERF_ROW[$s]:-} ]] && echo "${PERF_ROW[$s]}"; done
    echo
  fi
  if [[ $SYSCALLS == 1 ]]; then
    echo "Syscalls per answered query (one more run under \`perf stat\`):"
    echo
    for s in "${ROWS[@]}"; do echo "- $s: ${SYSC[$s]:-—}"; done
    echo
  fi
  echo "CPU-µs/answered query = Δ(utime+stime) of the server process, all threads (/proc/PID/stat, CLK_TCK=$CLK_TCK), over the measured dnsperf run / queries answered in it; schedstat = the same from /proc/PID/task/*/schedstat (ns). Sleeps = voluntary context switches of all the server's threads (/proc/PID/task/*/status), i.e. how often it ran out of queries and waited. Core busy % is the whole core, other processes included. Answers as dnsperf sees them (flags, size) are in \`work/answers.txt\`."
} >"$OUT/results.md"
echo
cat "$OUT/results.md"
say "results: $OUT/results.md (raw dnsperf output in $OUT, configs and logs in $WORK)"
