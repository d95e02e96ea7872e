#!/bin/sh
# Seeds the fuzz corpora from the test fixtures and the examples.
# Run from anywhere; writes fuzz/corpus/<target>/ (ignored by git).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
for target in load pipeline; do
    dir="$here/corpus/$target"
    mkdir -p "$dir"
    find "$root/tests/fixtures" "$root/examples" -type f \
        \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) |
        while read -r f; do
            # Named by content, so seeding twice adds nothing.
            sum=$(sha256sum "$f" | cut -c1-16)
            cp "$f" "$dir/seed-$sum"
        done
    echo "$target: $(ls "$dir" | wc -l) files in corpus/$target"
done
# The kubeadm and component configuration files alone, for a run of the pipeline target that
# stays on those paths: cargo fuzz run pipeline corpus/configs
dir="$here/corpus/configs"
mkdir -p "$dir"
grep -rlE 'kubeadm[.]k8s[.]io|kind: *(KubeletConfiguration|KubeSchedulerConfiguration)' \
    "$root/tests/fixtures" "$root/examples" |
    while read -r f; do
        sum=$(sha256sum "$f" | cut -c1-16)
        cp "$f" "$dir/seed-$sum"
    done
echo "configs: $(ls "$dir" | wc -l) files in corpus/configs"
