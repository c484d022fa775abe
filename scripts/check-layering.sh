#!/usr/bin/env bash
# Fails when an #include points up the layer stack (see docs/architecture.md).
set -eu
cd "$(dirname "$0")/.."
declare -A allowed=(
  [base]="base"
  [runtime]="base runtime"
  [http]="base runtime http"
  [config]="base config"
  [upstream]="base runtime http config upstream"
  [proxy]="base runtime http config upstream proxy"
  [admin]="base runtime http config upstream proxy admin"
  [server]="base runtime http config upstream proxy admin server"
)
bad=0
for layer in "${!allowed[@]}"; do
  [ -d "src/$layer" ] || continue
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -E 's/.*#include "([^/"]+)\/.*/\1/' <<<"$line")
    case " ${allowed[$layer]} " in *" $inc "*) ;; *) echo "layering: $file includes $inc/ (not allowed for $layer)"; bad=1 ;; esac
  done < <(grep -rnE '#include "[a-z_]+/' "src/$layer" || true)
done
# Codecs do no I/O: http/h1 never includes the runtime.
if grep -rn '#include "runtime/' src/http/h1 2>/dev/null; then echo "layering: http/h1 must not include runtime/"; bad=1; fi
exit $bad
