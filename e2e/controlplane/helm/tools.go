//go:build tools

// Package helm pins the helm command that e2e/controlplane/build.sh builds. Helm
// lives in its own module: it pins its own k8s.io libraries, which must not be
// unified with the control plane's staging replaces.
package helm

import _ "helm.sh/helm/v4/cmd/helm"
