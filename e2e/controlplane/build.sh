#!/usr/bin/env bash
# Builds the end-to-end control plane from Go modules (no release downloads here):
# kube-apiserver, kube-controller-manager, kubectl and etcd from this module, helm
# from ./helm. Binaries go to
#   ${TURNOUT_CACHE:-$HOME/.cache/turnout}/controlplane/<hash>/bin
# where <hash> covers go.mod, go.sum (both modules) and this script, so an edit to
# any of them rebuilds and CI on the same machine reuses the last build.
# Prints the bin directory on stdout (last line); progress goes to stderr.
# A no-op when the binaries are there; two runs at once wait on one flock.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
fail() { echo "e2e/controlplane/build.sh: FAILED: $*" >&2; exit 1; }
log() { echo "controlplane: $*" >&2; }

CACHE=${TURNOUT_CACHE:-$HOME/.cache/turnout}/controlplane
HASH=$(cd "$HERE" && cat go.mod go.sum helm/go.mod helm/go.sum build.sh | sha256sum | cut -c1-16)
OUT=$CACHE/$HASH
BINS=(kube-apiserver kube-controller-manager kubectl etcd helm)
built() { [ -f "$OUT/bin/.complete" ]; }
if built; then echo "$OUT/bin"; exit 0; fi

command -v go >/dev/null 2>&1 || fail "go is not installed (.ci/run installs Debian's golang-go; any go >= 1.21 can fetch the toolchain that go.mod asks for)"
command -v flock >/dev/null 2>&1 || fail "flock (util-linux) is not installed"
mkdir -p "$CACHE" || fail "cannot create $CACHE"
exec 9>"$CACHE/$HASH.lock"
log "waiting for the build lock $CACHE/$HASH.lock"
flock 9 || fail "cannot lock $CACHE/$HASH.lock"
if built; then echo "$OUT/bin"; exit 0; fi  # another run built it while we waited

# GOTOOLCHAIN: the machine's Go when it is new enough, else fetch go.mod's from the proxy.
NEED=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$HERE/go.mod")
# (GOTOOLCHAIN=local: ask the installed go itself, never a toolchain it would switch to.)
HAVE=$(GOTOOLCHAIN=local go env GOVERSION | sed 's/^go//; s/[^0-9.].*//')
if [ "$(printf '%s\n%s\n' "$NEED" "$HAVE" | sort -V | head -1)" = "$NEED" ]; then
  export GOTOOLCHAIN=local
else
  export GOTOOLCHAIN=auto
  log "go $HAVE is older than go.mod's $NEED: GOTOOLCHAIN=auto fetches it from the module proxy"
fi
export CGO_ENABLED=0 GOFLAGS="-trimpath -mod=readonly -buildvcs=false"

KV=$(sed -n 's/^.*k8s\.io\/kubernetes \(v1\.[0-9.]*\).*/\1/p' "$HERE/go.mod" | head -1)
[ -n "$KV" ] || fail "no k8s.io/kubernetes requirement in $HERE/go.mod"
MINOR=$(echo "$KV" | cut -d. -f2)
HV=$(sed -n 's/^.*helm\.sh\/helm\/v[0-9]* \(v[0-9.]*\).*/\1/p' "$HERE/helm/go.mod" | head -1)
[ -n "$HV" ] || fail "no helm.sh/helm requirement in $HERE/helm/go.mod"
HMAJOR=$(echo "$HV" | cut -d. -f1)

# Without these the apiserver reports v0.0.0-master, which breaks helm's kubeVersion checks.
X=k8s.io/component-base/version; C=k8s.io/client-go/pkg/version
KLDF="-s -w -X $X.gitVersion=$KV -X $X.gitMajor=1 -X $X.gitMinor=$MINOR -X $X.gitTreeState=clean"
KLDF="$KLDF -X $C.gitVersion=$KV -X $C.gitMajor=1 -X $C.gitMinor=$MINOR -X $C.gitTreeState=clean"
HLDF="-s -w -X helm.sh/helm/$HMAJOR/internal/version.version=$HV -X helm.sh/helm/$HMAJOR/internal/version.gitTreeState=clean"

TMP=$OUT/tmp.$$
rm -rf "$OUT/bin" "$TMP" && mkdir -p "$TMP" || fail "cannot create $TMP"
trap 'rm -rf "$TMP"' EXIT
log "building Kubernetes $KV, etcd and helm $HV into $OUT/bin ($(cd "$HERE" && go env GOVERSION), $(nproc) cores; a cold build takes ~20 min)"
step() {  # step NAME DIR ARGS...: one timed go build
  local name=$1 dir=$2 t0=$SECONDS; shift 2
  log "  $name ..."
  (cd "$dir" && go build "$@") || fail "go build of $name (run in $dir: go build $*)"
  log "  $name built in $((SECONDS - t0)) s"
}
T0=$SECONDS
step "kube-apiserver, kube-controller-manager, kubectl $KV" "$HERE" -ldflags "$KLDF" -o "$TMP/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl
step "etcd $(sed -n 's/^\s*go\.etcd\.io\/etcd\/server\/v3 \(v[0-9.]*\).*/\1/p' "$HERE/go.mod")" "$HERE" \
  -ldflags "-s -w" -o "$TMP/etcd" go.etcd.io/etcd/server/v3
step "helm $HV" "$HERE/helm" -ldflags "$HLDF" -o "$TMP/helm" "helm.sh/helm/$HMAJOR/cmd/helm"
for b in "${BINS[@]}"; do [ -x "$TMP/$b" ] || fail "$b missing after the build"; done
"$TMP/kube-apiserver" --version | grep -q "$KV" || fail "kube-apiserver is not stamped $KV"
touch "$TMP/.complete"
mv "$TMP" "$OUT/bin" || fail "cannot move the binaries to $OUT/bin"
log "built in $((SECONDS - T0)) s: $(du -sh "$OUT/bin" | cut -f1) in $OUT/bin"
echo "$OUT/bin"
