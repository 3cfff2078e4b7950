#!/usr/bin/env bash
# The steps of the composite action (action.yml), one phase per call:
#   prepare  names the artifact and the plan file (step outputs)
#   plan     reconciler plan --out PLAN_FILE --detailed-exitcode: exit 2 (changes) is success here;
#            for an untrusted pull request (a fork, pull_request_target; INPUT_SECRETS=auto) or with
#            INPUT_SECRETS=false: plan --no-secrets, its JSON in PLAN_FILE for the comment only
#   comment  reconciler github comment: one sticky comment on the pull request
#   apply    reconciler apply PLAN_FILE: exactly the reviewed plan, refused when stale
# Inputs arrive as environment variables (INPUT_*), never spliced into the script, so a value
# cannot run as shell code. tests/functional/test_pipeline.py runs these phases.
set -euo pipefail

phase="${1:?usage: github-action.sh prepare|plan|comment|apply}"
environment="${INPUT_ENVIRONMENT:-}"
output="${GITHUB_OUTPUT:-/dev/null}"

if [[ -n "$environment" && ! "$environment" =~ ^[A-Za-z0-9_.-]{1,64}$ ]]; then
    echo "::error title=reconciler::environment must be 1-64 of A-Z a-z 0-9 _ . - (got an invalid name)"
    exit 1
fi

case "$phase" in
prepare)
    case "${INPUT_COMMAND:-}" in
    plan | apply) ;;
    *)
        echo "::error title=reconciler::command must be plan or apply"
        exit 1
        ;;
    esac
    artifact="reconciler-plan${environment:+-$environment}"
    plan_dir="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/$artifact"
    mkdir -p "$plan_dir"
    {
        echo "artifact=$artifact"
        echo "plan-dir=$plan_dir"
        echo "plan-file=$plan_dir/plan.json"
    } >>"$output"
    ;;
plan)
    args=()
    if [[ -n "$environment" ]]; then args+=(--env "$environment"); fi
    if [[ -n "${INPUT_WORKSPACE:-}" ]]; then args+=(--workspace "$INPUT_WORKSPACE"); fi
    while IFS= read -r file; do
        file="${file#"${file%%[![:space:]]*}"}"
        file="${file%"${file##*[![:space:]]}"}"
        if [[ -n "$file" ]]; then args+=(-f "$file"); fi
    done <<<"${INPUT_FILES:-}"
    case "${INPUT_SECRETS:-auto}" in
    true) without_secrets=false ;;
    false) without_secrets=true ;;
    auto) without_secrets="${UNTRUSTED_PULL_REQUEST:-false}" ;;
    *)
        echo "::error title=reconciler::secrets must be auto, true or false"
        exit 1
        ;;
    esac
    code=0
    if [[ "$without_secrets" == "true" ]]; then
        # The manifests are the pull request's: resolve no reference, send nothing, upload nothing to apply.
        echo "::notice title=reconciler::planning without secrets (--no-secrets): the manifests come from an untrusted pull request"
        reconciler plan ${args[@]+"${args[@]}"} --no-secrets --format json --detailed-exitcode >"${PLAN_FILE:?}" || code=$?
    else
        reconciler plan ${args[@]+"${args[@]}"} --out "${PLAN_FILE:?}" --detailed-exitcode || code=$?
    fi
    echo "without-secrets=$without_secrets" >>"$output"
    case "$code" in
    0) echo "has-changes=false" >>"$output" ;;
    2) echo "has-changes=true" >>"$output" ;;
    *) exit "$code" ;;
    esac
    ;;
comment)
    args=(--plan "${PLAN_FILE:?}")
    if [[ -n "${ARTIFACT:-}" ]]; then args+=(--artifact "$ARTIFACT"); fi
    if [[ -n "$environment" ]]; then args+=(--key "$environment"); fi
    reconciler github comment "${args[@]}"
    ;;
apply)
    reconciler apply "${PLAN_FILE:?}"
    ;;
*)
    echo "::error title=reconciler::unknown phase $phase"
    exit 1
    ;;
esac
