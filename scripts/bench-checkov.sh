#!/usr/bin/env bash
# Times `kubeharden check` and Checkov's kubernetes framework, with its control-plane checks, on
# the same directory of N static pod manifests, one after the other in one run, and prints a
# Markdown table: wall-clock seconds, CPU seconds (user + system), peak memory, what each tool
# reported, and how many times longer Checkov took.
#
# Usage: scripts/bench-checkov.sh [options] [N...]        (default: 1 100 10000)
#   --mix control-plane   (default) the copies cycle through every kube-apiserver,
#                         kube-controller-manager, kube-scheduler and etcd manifest under
#                         tests/fixtures/kubeadm/v1.*/ (38 files of 14 Kubernetes versions)
#   --mix apiserver       every copy is tests/fixtures/kubeadm/v1.31/kube-apiserver.yaml, the
#                         file scripts/bench.sh uses
#   --runs R              runs per measurement with hyperfine, when it is installed (default 5;
#                         Checkov gets at most 3, and a single run from 1,000 files on)
#   --no-hyperfine        time every measurement with GNU time alone, once, as without hyperfine
#   --checkov-max M       give Checkov only the first M files when N is larger (the row says
#                         so and the ratio compares the time per file); default: all files
#   --derive-checks       list the checks of the installed Checkov that read a control-plane
#                         or kubelet command line (compare with scripts/checkov-control-plane-checks.txt)
#
# Needs: Rust (cargo) and python3 with its venv module; the first run installs Checkov
# $CHECKOV_VERSION with pip into target/checkov-venv (or $CHECKOV_VENV) and reuses it after.
# hyperfine is optional. Peak memory always comes from GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."

CHECKOV_VERSION=3.3.30
venv=${CHECKOV_VENV:-target/checkov-venv}
checks_file=scripts/checkov-control-plane-checks.txt

mix=control-plane
runs=5
checkov_max=0
derive=false
no_hyperfine=false
sizes=()
while [ $# -gt 0 ]; do
  case $1 in
    --mix) mix=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --checkov-max) checkov_max=$2; shift 2 ;;
    --derive-checks) derive=true; shift ;;
    --no-hyperfine) no_hyperfine=true; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) sizes+=("$1"); shift ;;
  esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(1 100 10000)
case $mix in control-plane | apiserver) ;; *) echo "--mix: control-plane or apiserver" >&2; exit 2 ;; esac

[ -x /usr/bin/time ] || { echo "GNU time (/usr/bin/time) is needed for peak memory" >&2; exit 2; }

# Checkov, pinned, in a virtual environment of its own.
if [ "$("$venv/bin/checkov" --version 2>/dev/null || true)" != "$CHECKOV_VERSION" ]; then
  echo "installing checkov $CHECKOV_VERSION into $venv ..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" >&2
fi
checkov=$venv/bin/checkov
checks_dir=$("$venv/bin/python" -c 'import checkov, os; print(os.path.dirname(checkov.__file__))')/kubernetes/checks/resource/k8s

# The checks whose code tests a container's command for a control-plane component or the
# kubelet. CKV_K8S_78 (EventRateLimit) is about the apiserver too, but reads an
# AdmissionConfiguration object, which no manifest is.
derive_checks() {
  grep -lE '"(kube-apiserver|kube-controller-manager|kube-scheduler|etcd|kubelet)"' "$checks_dir"/*.py |
    while read -r f; do
      id=$(grep -o 'CKV_K8S_[0-9]*' "$f" | head -n 1)
      name=$(sed -n 's/^ *name = "\(.*\)"$/\1/p' "$f" | head -n 1)
      printf '%-11s %-52s %s\n' "$id" "$(basename "$f" .py)" "$name"
    done | sort -t_ -k3 -n
}
if $derive; then
  derive_checks
  exit 0
fi
ids=$(grep -o '^CKV_K8S_[0-9]*' "$checks_file" | paste -sd, -)
for id in ${ids//,/ }; do
  grep -q "\"$id\"" "$checks_dir"/*.py || { echo "$id is not a check of checkov $CHECKOV_VERSION" >&2; exit 2; }
done

cargo build --release --locked -q
kubeharden=target/release/kubeharden

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The fixtures the copies cycle through, in this order: version by version (oldest first),
# kube-apiserver, kube-controller-manager, kube-scheduler, then etcd, where the version has them.
fixtures=()
if [ "$mix" = apiserver ]; then
  fixtures=(tests/fixtures/kubeadm/v1.31/kube-apiserver.yaml)
else
  while read -r d; do
    for c in kube-apiserver kube-controller-manager kube-scheduler etcd; do
      [ -f "$d/$c.yaml" ] && fixtures+=("$d/$c.yaml")
    done
  done < <(printf '%s\n' tests/fixtures/kubeadm/v1.*/ | sed 's:/$::' | sort -V)
fi
contents=()
for f in "${fixtures[@]}"; do contents+=("$(cat "$f")"); done

# fill DIR N: N files under DIR, copy i being fixture i mod (number of fixtures).
fill() {
  local i k=${#contents[@]}
  mkdir -p "$1"
  for ((i = 0; i < $2; i++)); do
    printf '%s\n' "${contents[i % k]}" >"$1/m$i.yaml"
  done
}

have_hyperfine=false
$no_hyperfine || ! command -v hyperfine >/dev/null || have_hyperfine=true

# measure NAME RUNS CMD...: sets sec, cpu, peak_mb (and leaves the output in $work/NAME.out).
# One run under GNU time gives CPU seconds and peak memory; with hyperfine and RUNS > 1, the
# seconds are hyperfine's mean over RUNS more (after that first run, which warms the caches).
measure() {
  local name=$1 n=$2
  shift 2
  # Exit status 1 means findings, which are expected.
  /usr/bin/time -o "$work/$name.time" -f '%e %U %S %M' "$@" >"$work/$name.out" 2>"$work/$name.err" || true
  read -r sec user sys kb < <(tail -n 1 "$work/$name.time")
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f", u + s }')
  peak_mb=$(awk -v k="$kb" 'BEGIN { printf "%.0f", k / 1024 }')
  if $have_hyperfine && [ "$n" -gt 1 ]; then
    local cmd
    printf -v cmd '%q ' "$@"
    hyperfine --runs "$n" --ignore-failure --style none --export-json "$work/$name.json" \
      "$cmd" >/dev/null 2>&1
    sec=$(grep -o '"mean": *[0-9.e+-]*' "$work/$name.json" | head -n 1 | sed 's/.*: *//')
  fi
  sec=$(awk -v s="$sec" 'BEGIN { printf "%.3f", s }')
}

# ratio A B: A / B; GNU time has hundredths of a second, so a B of 0 is taken as 5 ms at most.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f×", a / b; else printf ">%.0f×", a / 0.005 }'; }

echo "kubeharden: $($kubeharden --version) (commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))  checkov: $("$checkov" --version)  hyperfine: $($have_hyperfine && hyperfine --version || echo none)"
echo "mix: $mix (${#fixtures[@]} fixture file(s))  cores: $(nproc)  load before: $(uptime | sed 's/.*load average: //')"
echo "checkov arguments: -d DIR --framework kubernetes --check <$(tr ',' '\n' <<<"$ids" | wc -l) ids> --quiet --compact -o cli --skip-download"
echo
echo '| files | tool | runs | seconds | CPU seconds | peak memory | reported | Checkov ÷ kubeharden: seconds | CPU seconds |'
echo '|------:|------|-----:|--------:|------------:|------------:|----------|------:|------:|'

# Checkov's first run of a session reads its many modules from disk; warm up on one file.
fill "$work/warm" 1
"$checkov" -d "$work/warm" --framework kubernetes --check "$ids" --quiet --compact -o cli --skip-download >/dev/null 2>&1 || true

for n in "${sizes[@]}"; do
  dir=$work/n$n
  fill "$dir" "$n"
  declare -A kh_sec=() kh_cpu=() row_kh=() runs_kh=()
  for profile in baseline strict; do
    measure "kh-$profile" "$runs" "$kubeharden" check --profile "$profile" "$dir"
    kh_sec[$profile]=$sec
    kh_cpu[$profile]=$cpu
    summary=$(grep -o '[0-9]* file(s) checked, [0-9]* finding(s)' "$work/kh-$profile.out" || true)
    checked=${summary%% file*}
    if [ "$checked" != "$n" ]; then
      echo "kubeharden checked '$checked' files of $n:" >&2
      tail -n 5 "$work/kh-$profile.out" "$work/kh-$profile.err" >&2
      exit 1
    fi
    findings=$(sed 's/.*, \([0-9]*\) finding.*/\1/' <<<"$summary")
    row_kh[$profile]="| $n | kubeharden check --profile $profile | RUNS | $sec | $cpu | $peak_mb MB | $findings findings |"
    runs_kh[$profile]=$($have_hyperfine && [ "$runs" -gt 1 ] && echo "$runs" || echo 1)
  done

  cdir=$dir
  cn=$n
  if [ "$checkov_max" -gt 0 ] && [ "$n" -gt "$checkov_max" ]; then
    cn=$checkov_max
    cdir=$work/subset$n
    fill "$cdir" "$cn"
  fi
  c_runs=$runs
  [ "$c_runs" -le 3 ] || c_runs=3
  [ "$cn" -lt 1000 ] || c_runs=1
  measure checkov "$c_runs" "$checkov" -d "$cdir" --framework kubernetes --check "$ids" \
    --quiet --compact -o cli --skip-download
  counts=$(grep -o 'Passed checks: [0-9]*, Failed checks: [0-9]*' "$work/checkov.out" | head -n 1 || true)
  passed=$(sed 's/Passed checks: \([0-9]*\),.*/\1/' <<<"$counts")
  failed=$(sed 's/.*Failed checks: \([0-9]*\)/\1/' <<<"$counts")
  # It must have evaluated the files: something failed, and at least one check ran per file.
  if [ -z "$counts" ] || [ "$failed" -eq 0 ] || [ $((passed + failed)) -lt "$cn" ]; then
    echo "checkov did not evaluate the $cn files ($counts):" >&2
    tail -n 5 "$work/checkov.out" "$work/checkov.err" >&2
    exit 1
  fi
  c_sec=$sec
  # Time per file when Checkov had a subset.
  c_scaled=$(awk -v s="$sec" -v a="$cn" -v b="$n" 'BEGIN { printf "%.4f", s / a * b }')
  c_cpu_scaled=$(awk -v s="$cpu" -v a="$cn" -v b="$n" 'BEGIN { printf "%.4f", s / a * b }')
  for profile in baseline strict; do
    r=$(ratio "$c_scaled" "${kh_sec[$profile]}")
    rc=$(ratio "$c_cpu_scaled" "${kh_cpu[$profile]}")
    [ "$cn" = "$n" ] || { r="$r (per file)"; rc="$rc (per file)"; }
    echo "${row_kh[$profile]/RUNS/${runs_kh[$profile]}} $r | $rc |"
  done
  c_runs_shown=$($have_hyperfine && [ "$c_runs" -gt 1 ] && echo "$c_runs" || echo 1)
  label="checkov $CHECKOV_VERSION, kubernetes framework"
  [ "$cn" = "$n" ] || label="$label, first $cn files only"
  echo "| $cn | $label | $c_runs_shown | $c_sec | $cpu | $peak_mb MB | $passed passed, $failed failed | | |"
  rm -rf "$dir" "$work/subset$n"
done
echo
echo "load after: $(uptime | sed 's/.*load average: //')"
