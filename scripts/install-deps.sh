#!/usr/bin/env bash
# Installs the Debian 12 (bookworm) packages Causeway needs to build and test.
# Idempotent: asks dpkg which packages are missing and touches apt only then;
# prints nothing when everything is present.
#
#   scripts/install-deps.sh            build + test toolchain (make build/test/demo/fuzz)
#   scripts/install-deps.sh bench      ... plus nginx, HAProxy, perf, taskset (make bench), and
#                                      dnsperf, Knot, Unbound, dnsmasq (make bench-dns)
#   scripts/install-deps.sh lint       ... plus clang-format, clang-tidy (make format/tidy)
#   scripts/install-deps.sh --check    list what is missing, install nothing (exit 1 if any)
set -euo pipefail

base=(
  # toolchain
  build-essential g++ cmake ninja-build pkg-config git ca-certificates
  # libraries (see CMakeLists.txt)
  libyaml-cpp-dev nlohmann-json3-dev libfmt-dev libspdlog-dev libcli11-dev
  libre2-dev libssl-dev libnghttp2-dev libc-ares-dev libsqlite3-dev
  # unit tests, micro-benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # fuzzing (clang + libFuzzer/sanitizer runtimes)
  clang libclang-rt-14-dev
  # integration tests: clients, load, python harness (run with /usr/bin/python3)
  curl wrk nghttp2-client procps iproute2 bind9-dnsutils etcd-server
  python3 python3-h2 python3-pytest python3-pytest-timeout python3-dnspython
  python3-websocket
)
bench=(haproxy nginx-light linux-perf util-linux dnsperf knot unbound dnsmasq-base)
lint=(clang-format clang-tidy)

check_only=0
wanted=("${base[@]}")
for arg in "$@"; do
  case "$arg" in
    bench) wanted+=("${bench[@]}") ;;
    lint) wanted+=("${lint[@]}") ;;
    --check) check_only=1 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-deps: unknown group '$arg' (known: bench, lint, --check)" >&2; exit 2 ;;
  esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-deps: dpkg-query not found: this script targets Debian 12 (bookworm)." >&2
  echo "install-deps: install these packages (or equivalents) by hand: ${wanted[*]}" >&2
  exit 1
fi

# One dpkg-query call for all packages; unknown names print to stderr and count as missing.
installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${wanted[@]}" 2>/dev/null \
  | awk '$NF == "installed" && $(NF-1) == "ok" { print $1 }' || true)
missing=()
for pkg in "${wanted[@]}"; do
  grep -qxF "$pkg" <<<"$installed" || missing+=("$pkg")
done
# Drop duplicates (a package may sit in two groups), keeping order.
if ((${#missing[@]})); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
fi

((${#missing[@]} == 0)) && exit 0

if ((check_only)); then
  echo "install-deps: missing: ${missing[*]}"
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=(env)
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo env)
else
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: not root and sudo is not installed; as root run:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: apt-get not found; install by hand: ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${#missing[@]} Debian package(s): ${missing[*]}"
log=$(mktemp "${TMPDIR:-/tmp}/causeway-install-deps.XXXXXX.log")
start=$SECONDS
apt_env=(DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a)
apt_opts=(-o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
if ! "${as_root[@]}" "${apt_env[@]}" apt-get "${apt_opts[@]}" update -qq </dev/null >"$log" 2>&1 \
  || ! "${as_root[@]}" "${apt_env[@]}" apt-get "${apt_opts[@]}" install -y -qq \
       --no-install-recommends "${missing[@]}" </dev/null >>"$log" 2>&1; then
  echo "install-deps: apt-get failed; last lines of $log:" >&2
  tail -n 30 "$log" >&2
  exit 1
fi
rm -f "$log"
# knot, unbound and etcd-server come with system services that Debian starts on install
# (unbound then also offers itself as the resolver, etcd listens on 127.0.0.1:2379); the tests
# and the DNS benchmark run their own instances, so the services of packages installed just
# now are stopped and disabled.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  for pkg in knot unbound etcd-server; do
    svc=${pkg%-server}
    if [[ " ${missing[*]} " == *" $pkg "* ]]; then
      "${as_root[@]}" systemctl disable --now "$svc.service" >/dev/null 2>&1 || true
      [[ $svc != unbound ]] || "${as_root[@]}" systemctl disable --now unbound-resolvconf.service >/dev/null 2>&1 || true
    fi
  done
fi
echo "install-deps: done in $((SECONDS - start))s"
