#!/usr/bin/env bash
# Reports every #include that leaves its layer (see docs/architecture.md, Layers), in src/, cli/
# and tests/, plus the finer rule the build cannot express: the codecs (http/h1, dns) do no
# I/O and never include runtime/. The build itself refuses upward includes (each layer compiles
# against its own include view, BUILD_DIR/layers/<layer>/); this script reads those views, so
# the layer graph is written once, in CMakeLists.txt, and names each offending line.
# Usage: scripts/check-layering.sh [BUILD_DIR]   (default: build/)
set -eu
cd "$(dirname "$0")/.."
views=${1:-build}/layers
if [ ! -d "$views" ]; then
  echo "layering: no include views in $views (configure the build first)" >&2
  exit 2
fi
bad=0

# check PATH VIEW: every "layer/..." include in PATH (a file or a folder) must name a folder
# of layers/VIEW.
check() {
  local path=$1 view=$2 line where inc
  [ -e "$path" ] || return 0
  if [ ! -d "$views/$view" ]; then
    echo "layering: $path: no include view $view in $views"
    bad=1
    return 0
  fi
  while IFS= read -r line; do
    where=$(cut -d: -f1,2 <<<"$line")
    inc=$(sed -E 's/.*#include "([^/"]+)\/.*/\1/' <<<"$line")
    if [ ! -e "$views/$view/$inc" ]; then
      echo "layering: $where includes $inc/ (not visible to $view)"
      bad=1
    fi
  done < <(grep -rnHE '#include "[a-z_0-9]+/' "$path" --include='*.h' --include='*.cc' || true)
}

for dir in src/*/; do
  layer=$(basename "$dir")
  check "src/$layer" "$layer"
  check "tests/unit/$layer" "$layer"
done
check cli cli
check bench/micro proxy  # micro_bench links causeway_proxy
# Fuzz targets see the layer their name's prefix picks (tests/fuzz/CMakeLists.txt).
for f in tests/fuzz/*_fuzz.cc; do
  [ -e "$f" ] || continue
  prefix=$(basename "$f" | grep -oE '^[a-z0-9]+')
  case $prefix in
    h1 | h2 | http | hpack) view=http ;;
    *) if [ -d "src/$prefix" ]; then view=$prefix; else view=proxy; fi ;;
  esac
  check "$f" "$view"
done

# Codecs do no I/O: http/h1 and dns (the DNS wire codec) never include the runtime, nor do
# their tests. (dns USES only base today, so its view already says this; the rule keeps it
# should the layer ever be given more.)
if grep -rn '#include "runtime/' src/http/h1 tests/unit/http/h1 2>/dev/null; then
  echo "layering: http/h1 must not include runtime/"
  bad=1
fi
if grep -rn '#include "runtime/' src/dns tests/unit/dns tests/fuzz/dns_*.cc 2>/dev/null; then
  echo "layering: dns/ (the codec) must not include runtime/"
  bad=1
fi
# Includes never climb out of a view by a relative path.
if grep -rnE '#include "(\.\./|src/)' src cli tests bench 2>/dev/null; then
  echo "layering: include through ../ or src/ (bypasses the layer views)"
  bad=1
fi
exit $bad
