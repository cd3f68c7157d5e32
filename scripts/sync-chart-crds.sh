#!/usr/bin/env bash
# Copies the CRDs from the top-level crds/ (the one source of truth) into the
# helm chart's crds/, where helm installs them before the templates.
#   scripts/sync-chart-crds.sh          copy
#   scripts/sync-chart-crds.sh --check  exit 1 and name the files that differ
# The chart test runs --check, so an edited CRD without a sync fails the suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/crds"
dst="$root/charts/turnout/crds"
check=false
[[ "${1:-}" == "--check" ]] && check=true
drift=0
shopt -s nullglob
for f in "$src"/*.yaml; do
  name="$(basename "$f")"
  if $check; then
    if ! cmp -s "$f" "$dst/$name"; then
      echo "drift: charts/turnout/crds/$name differs from crds/$name (run scripts/sync-chart-crds.sh)" >&2
      drift=1
    fi
  else
    mkdir -p "$dst"
    cp "$f" "$dst/$name"
  fi
done
# A CRD removed from crds/ must leave the chart too.
for f in "$dst"/*.yaml; do
  name="$(basename "$f")"
  if [[ ! -e "$src/$name" ]]; then
    if $check; then
      echo "drift: charts/turnout/crds/$name has no source in crds/" >&2
      drift=1
    else
      rm "$f"
    fi
  fi
done
exit $drift
