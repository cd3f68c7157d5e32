//go:build tools

// Package controlplane pins the control-plane commands that e2e/controlplane/build.sh
// builds, so `go mod tidy` keeps their dependencies in go.sum. It is never run.
package controlplane

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
