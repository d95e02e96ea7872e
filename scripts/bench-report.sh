#!/usr/bin/env bash
# Times `kubeharden check DIR --profile strict` with each report format, and `diff DIR`, on N
# kubeadm 1.30 kube-apiserver manifests that differ in their advertise address (each file its
# own), and prints wall-clock seconds and peak memory (/usr/bin/time) for each, the median of
# 5 runs (with two threads, peak memory moves by up to a megabyte from run to run); then `check` and `diff` of one such file, the mean wall-clock time of 50 runs (each
# run a new process, as a pre-commit hook or an editor starts it). With more than one N, it
# also prints how much more peak memory the most files take than the fewest.
# Usage: scripts/bench-report.sh [N...]   (default: 1000 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
bin=$PWD/target/release/kubeharden
src=tests/fixtures/kubeadm/v1.30/kube-apiserver.yaml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000)
echo "cores: $(nproc); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A peaks
for n in "${sizes[@]}"; do
  dir=$work/m$n
  mkdir -p "$dir"
  for ((i = 0; i < n; i++)); do
    sed "s/192\.168\.0\.10/10.$((i / 65536)).$((i / 256 % 256)).$((i % 256))/g" "$src" >"$dir/m$i.yaml"
  done
  for what in text json sarif diff; do
    case $what in
      diff) cmd=(diff "$dir" --profile strict) ;;
      *) cmd=(check "$dir" --profile strict --format "$what") ;;
    esac
    runs=()
    for _ in 1 2 3 4 5; do
      # check and diff exit 1 on findings: the timing is what counts here.
      /usr/bin/time -f '%e %M' -o "$work/time" "$bin" "${cmd[@]}" >/dev/null 2>&1 || true
      runs+=("$(tail -1 "$work/time")")
    done
    median=$(printf '%s\n' "${runs[@]}" | sort -n | sed -n 3p)
    peak=$(printf '%s\n' "${runs[@]}" | awk '{print $2}' | sort -n | sed -n 3p)
    printf '%6d files  %-5s  %5s s  %6.1f MB peak\n' "$n" "$what" "${median% *}" "$(awk -v k="$peak" 'BEGIN { print k / 1024 }')"
    peaks[$what]+="$peak "
  done
done
# How peak memory grows with the number of files: the most files against the fewest.
if [ ${#sizes[@]} -gt 1 ]; then
  for what in text json sarif diff; do
    read -r -a p <<<"${peaks[$what]}"
    awk -v a="${p[0]}" -v b="${p[-1]}" -v w="$what" -v lo="${sizes[0]}" -v hi="${sizes[-1]}" \
      'BEGIN { printf "peak memory, %s: %d files %+.0f%% against %d files\n", w, hi, (b / a - 1) * 100, lo }'
  done
fi
one=$work/one.yaml
cp "$src" "$one"
for what in check diff; do
  start=$EPOCHREALTIME
  for _ in $(seq 50); do
    "$bin" "$what" "$one" --profile strict >/dev/null 2>&1 || true
  done
  end=$EPOCHREALTIME
  awk -v s="$start" -v e="$end" -v w="$what" 'BEGIN { printf "     1 file   %-5s  %5.1f ms (mean of 50 runs)\n", w, (e - s) * 1000 / 50 }'
done
