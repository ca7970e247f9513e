#!/bin/sh
# Checks releases on the host against their SHA256SUMS before they are served; prints what differs (exit 1).
# argv: the releases folder, then the releases.
set -u
cd "$1" || exit 1
folder=$1
shift
status=0
for release; do
  if [ ! -d "$release" ]; then
    echo "$release: not on this host (in $folder)" >&2
    status=1
  elif ! problem=$(cd "$release" 2>&1 && sha256sum --check --quiet --strict SHA256SUMS 2>&1); then
    echo "$release: $problem" >&2
    status=1
  fi
done
exit $status
