#!/usr/bin/env bash
# Reviews a change with kubeharden in a CI job: the GitHub Action (action.yml) runs it.
#
#   KH_PLATFORM=github ci/review.sh
#
# What it does, on GitHub:
#   1. kubeharden.sarif in KH_OUT: every file, for code scanning (GitHub shows a pull request
#      the alerts on its own lines);
#   2. annotations (`check --format github`) for what the change did since KH_BASE, on the
#      job's standard output, where GitHub turns them into annotations on the pull request;
#   3. review.json in KH_OUT: the fixes as suggestions on the pull request's lines
#      (`diff --format github-suggestions`), posted as a review with `gh api` when KH_SUGGEST
#      is 1, KH_PR names the pull request and there is a suggestion or a patch to post.
# It exits with the code of step 2: 0 when the change adds no finding, 1 when it does, 2 when
# a file cannot be checked.
#
# Environment:
#   KUBEHARDEN    the kubeharden binary (default: kubeharden on PATH)
#   KH_PLATFORM   github
#   KH_BASE       the revision the change is judged against (the pull request's base commit);
#                 empty: every file is judged whole
#   KH_PATHS      what to check, separated by spaces (default: .)
#   KH_PROFILE    baseline (default), strict, or a profile file
#   KH_FAIL_ON    --fail-on (default: low)
#   KH_OUT        where the reports go (default: kubeharden-reports)
#   KH_SUGGEST    1: post the suggestions (needs the gh command, GH_TOKEN, GITHUB_REPOSITORY)
#   KH_PR         the pull request's number
set -euo pipefail

kh=${KUBEHARDEN:-kubeharden}
platform=${KH_PLATFORM:-github}
out=${KH_OUT:-kubeharden-reports}
read -r -a paths <<<"${KH_PATHS:-.}"
[ ${#paths[@]} -gt 0 ] || paths=(.)
common=(--profile "${KH_PROFILE:-baseline}")
since=()
if [ -n "${KH_BASE:-}" ]; then
  since=(--changed-since "$KH_BASE")
fi
mkdir -p "$out"

case $platform in
  github) ;;
  *) echo "ci/review.sh: KH_PLATFORM must be github (GitLab's template runs kubeharden itself)" >&2; exit 2 ;;
esac

# 1. Every file, for code scanning; its findings do not decide the job.
"$kh" check "${paths[@]}" "${common[@]}" --skip-unrecognized --format sarif >"$out/kubeharden.sarif" || true

# 2. What the change did, as annotations; this decides the job.
status=0
"$kh" check "${paths[@]}" "${common[@]}" "${since[@]}" --fail-on "${KH_FAIL_ON:-low}" \
  --skip-unrecognized --format github || status=$?

# 3. The fixes, as a review.
"$kh" diff "${paths[@]}" "${common[@]}" "${since[@]}" --format github-suggestions \
  >"$out/review.json" 2>"$out/diff.log" || true
if [ "${KH_SUGGEST:-0}" = 1 ] && [ -n "${KH_PR:-}" ]; then
  # kubeharden writes an empty list as `"comments": []` and a body with a patch only when a
  # change could not be a suggestion.
  if ! grep -q '^  "comments": \[\]' "$out/review.json" || grep -q '```diff' "$out/review.json"; then
    gh api --method POST "repos/${GITHUB_REPOSITORY:?}/pulls/$KH_PR/reviews" \
      --input "$out/review.json" >/dev/null
    echo "kubeharden: posted the suggestions as a review of pull request #$KH_PR"
  fi
fi
exit "$status"
