#!/bin/sh
# Lays out the Go files that register Kubernetes' feature gates, release by release, as
# scripts/feature-gates.py reads them with --releases DIR:
#   DIR/1.N/k8s.io/kubernetes/pkg/features/kube_features.go
#   DIR/1.N/k8s.io/apiserver/pkg/features/kube_features.go   (from staging/src/k8s.io/...)
#   ...
# taken from a kubernetes/kubernetes clone at the tags v1.N.0 (every file outside tests that
# declares a featuregate.FeatureSpec or VersionedSpecs map).
#
# Usage: scripts/gate-sources.sh KUBERNETES_CLONE OUT_DIR OLDEST NEWEST
#   e.g. scripts/gate-sources.sh ~/src/kubernetes /tmp/gates 19 38
set -eu
[ $# -eq 4 ] || { echo "usage: $0 KUBERNETES_CLONE OUT_DIR OLDEST NEWEST" >&2; exit 2; }
k=$1 out=$2 oldest=$3 newest=$4
n=$oldest
while [ "$n" -le "$newest" ]; do
    tag=v1.$n.0
    git -C "$k" rev-parse -q --verify "$tag^{commit}" >/dev/null ||
        { echo "$0: $k has no tag $tag" >&2; exit 1; }
    git -C "$k" grep -l -E 'featuregate\.(FeatureSpec|VersionedSpecs)' "$tag" -- \
        'pkg/*.go' 'staging/src/k8s.io/*.go' ':!*_test.go' |
        sed "s|^$tag:||" |
        while read -r path; do
            case $path in
            staging/src/*) dest=${path#staging/src/} ;;
            *) dest=k8s.io/kubernetes/$path ;;
            esac
            mkdir -p "$out/1.$n/$(dirname "$dest")"
            git -C "$k" show "$tag:$path" >"$out/1.$n/$dest"
        done
    n=$((n + 1))
done
echo "$0: wrote $out/1.$oldest .. $out/1.$newest" >&2
