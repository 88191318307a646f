#!/usr/bin/env bash
# SPDK's own functional tests for what the series adds: every test/lvol/*.sh
# script that patches/BASE adds, run in build/BASE/spdk as SPDK's CI runs them
# (autotest_common.sh, rpc_cmd, NOT, check_leftover_devices), each against its
# own spdk_tgt. They read and write data with spdk_dd, so they need no NBD.
#
#   ci/lvol-tests.sh [--base BASE]
source "$(dirname "$0")/lib.sh"

base_args "$@"
TREE=$(tree_dir "$BASE")
PIN=$(manifest "$BASE" spdk pin)
[[ -x $TREE/build/bin/spdk_tgt && -x $TREE/build/bin/spdk_dd ]] ||
	die "build/$BASE/spdk is not built: run 'make build BASE=$BASE' first"
mapfile -t tests < <(git -C "$TREE" diff --name-only --diff-filter=A "$PIN" HEAD -- 'test/lvol/*.sh')
((${#tests[@]})) || die "patches/$BASE adds no test/lvol/*.sh script"
# SPDK's shellcheck rules (check_bash_static_analysis in the tree's
# scripts/check_format.sh, its exclusions included) on the scripts the series
# adds or changes; check_format runs them over the whole tree in ci/nightly.
mapfile -t scripts < <(git -C "$TREE" diff --name-only --diff-filter=AM "$PIN" HEAD -- '*.sh')
exclude=$(sed -n '/^function check_bash_static_analysis/,/^}/p' "$TREE/scripts/check_format.sh" |
	grep -v '^[[:space:]]*#' | grep -o 'SC[0-9]\{4\}' | sort -u | paste -sd, -)
[[ -n $exclude ]] || die "no shellcheck exclusions found in build/$BASE/spdk/scripts/check_format.sh"
(cd "$TREE" && shellcheck -e "$exclude" -f gcc "${scripts[@]}") >&2 ||
	die "shellcheck (SPDK's rules) fails on the scripts patches/$BASE changes"
log "shellcheck with SPDK's rules is clean on the ${#scripts[@]} script(s) patches/$BASE changes"

logs=$BUILD_DIR/reports/lvol-tests-$BASE
rm -rf "$logs"
mkdir -p "$logs"
failed=()
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	start=$(date +%s)
	rc=0
	(cd "$TREE" && timeout --kill-after=10 600 "./$t") >"$logs/$name.log" 2>&1 || rc=$?
	secs=$(($(date +%s) - start))
	if ((rc == 0)); then
		log "$t: passed in ${secs}s ($(grep -c 'END TEST .*test_' "$logs/$name.log") tests)"
	else
		grep -vE '^\+|^\s*$' "$logs/$name.log" | tail -30 >&2
		log "$t: FAILED (exit $rc) in ${secs}s; log: ${logs#"$ROOT"/}/$name.log"
		failed+=("$t")
	fi
done
((${#failed[@]} == 0)) || die "SPDK functional tests failed on build/$BASE/spdk: ${failed[*]}"
log "every one of the ${#tests[@]} test/lvol script(s) patches/$BASE adds passes on build/$BASE/spdk"
