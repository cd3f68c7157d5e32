#!/usr/bin/env bash
# Regenerates go.mod/go.sum for a Kubernetes release: k8s.io/kubernetes requires
# its staging modules (k8s.io/api, k8s.io/apiserver, ...) at v0.0.0 and maps them
# with replace lines that dependents do not inherit, so this module carries one
# `replace k8s.io/<staging> => k8s.io/<staging> v0.N.P` per staging module, read
# from that release's own go.mod (the list changes every minor release).
# Usage: e2e/controlplane/update-deps.sh [v1.N.P]   (default: the current one)
set -euo pipefail
cd "$(dirname "$0")"
KV=${1:-$(sed -n 's/^\s*k8s.io\/kubernetes \(v[0-9.]*\).*/\1/p' go.mod | head -1)}
[ -n "$KV" ] || { echo "usage: $0 v1.N.P" >&2; exit 2; }
SV=v0.${KV#v1.}
GOMOD=$(go mod download -json "k8s.io/kubernetes@$KV" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[ -f "$GOMOD" ] || { echo "cannot download k8s.io/kubernetes@$KV" >&2; exit 1; }
# Drop the old replaces, then add one per staging module of this release.
for m in $(go mod edit -json | sed -n 's/.*"Path": "\(k8s\.io\/[a-z0-9-]*\)".*/\1/p' | sort -u); do
  go mod edit -dropreplace="$m"
done
for m in $(sed -n 's|^\s*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*|\1|p' "$GOMOD"); do
  go mod edit -replace="$m=$m@$SV"
done
go mod edit -require="k8s.io/kubernetes@$KV"
go mod tidy
echo "e2e/controlplane now builds k8s.io/kubernetes $KV ($(grep -c '=> k8s.io/' go.mod) staging replaces)"
