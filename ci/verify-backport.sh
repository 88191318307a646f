#!/usr/bin/env bash
# The backport's verification: the same harness, four runs.
#
#   ci/verify-backport.sh [BASE]      (default longhorn-v24.09; the builds must exist:
#                                      `make verify-backport` makes them first)
#
#   1. BASE unpatched: each scenario that proves a bug fixed must fail, naming the bug;
#      every other scenario must pass.
#   2. BASE with patches/BASE: every scenario passes.
#   3. Checksums across implementations: the same snapshot contents give the same
#      checksum on BASE unpatched, BASE patched and master, equal to the oracle.
#   4. Disks moved between builds: an lvstore written by each of the three builds is
#      loaded by each other (upgrade and downgrade); lvols, bytes, checksums,
#      per-cluster values and a backing image's xattr carry over as the README says.
#
# The crash matrix on BASE with patches/BASE is `make crash-matrix BASE=BASE`:
# a step of ci/nightly (CI runs it on master, in `make test`).
#
# Each run prints its table; progress goes to build/reports/verify-backport-N.log.
# Exits non-zero if any run does not hold up. RUNS="2 3 4" runs only those
# (CI; ci/nightly runs all four).
source "$(dirname "$0")/lib.sh"

BASE=${1:-longhorn-v24.09}
UNPATCHED=$BUILD_DIR/$BASE-unpatched/spdk
PATCHED=$BUILD_DIR/$BASE/spdk
MASTER=$BUILD_DIR/master/spdk
REPORTS=${JUNIT_DIR:-$ROOT/build/reports}
VERIFY=$ROOT/target/release/spdk-verify
mkdir -p "$REPORTS"
for t in "$UNPATCHED" "$PATCHED" "$MASTER"; do
	[[ -x $t/build/bin/spdk_tgt ]] || die "$t/build/bin/spdk_tgt is missing: run 'make verify-backport'"
done
[[ -x $VERIFY ]] || die "$VERIFY is missing: cargo build --release -p spdk-harness --bin spdk-verify"

# RUNS picks runs by number (default all four). CI leaves run 1 to ci/nightly:
# the negative control changes only with the scenarios, and takes as long as run 2.
RUNS=${RUNS:-1 2 3 4}
for n in $RUNS; do
	[[ $n == [1-4] ]] || die "RUNS='$RUNS': runs are numbered 1 to 4"
done
failed=() ran=()
run() { # N NAME COMMAND...
	local n=$1 name=$2
	shift 2
	if [[ " $RUNS " != *" $n "* ]]; then
		log "run $n ($name): not in RUNS='$RUNS' (ci/nightly runs all four)"
		return 0
	fi
	ran+=("$n")
	local logf=$REPORTS/verify-backport-$n.log t0=$SECONDS
	log "run $n: $name"
	if "$@" 2>"$logf"; then
		log "run $n held up ($((SECONDS - t0)) s)"
	else
		log "run $n did NOT hold up ($((SECONDS - t0)) s); progress log: $logf"
		failed+=("$n")
	fi
}

# The lifecycle cells that are the issue's cases (SIGTERM and spdk_kill_instance
# during whole and range passes, a removed disk during a pass, the refused
# delete of a busy snapshot's parent) and one SIGTERM cell per other operation
# run in both runs; every other scenario runs too. LIFECYCLE=all runs every
# cell (ci/nightly does).
CASE_CELLS=(lifecycle_pass_sigterm lifecycle_pass_kill_instance lifecycle_range_sigterm
	lifecycle_pass_hot_remove lifecycle_pass_delete_parent lifecycle_copy_sigterm
	lifecycle_inflate_sigterm)
mapfile -t chosen < <("$VERIFY" --list | awk '{print $1}' |
	if [[ ${LIFECYCLE:-cases} == all ]]; then cat; else
		grep -vxFf <("$VERIFY" --list | awk '$1 ~ /^lifecycle_(pass|range|copy|inflate)_/ {print $1}'); printf '%s\n' "${CASE_CELLS[@]}"
	fi)
log "${#chosen[@]} scenarios per run (LIFECYCLE=${LIFECYCLE:-cases})"

run 1 "$BASE unpatched, expecting each bug to show" \
	env SPDK_BASE="$BASE" SPDK_TREE="$UNPATCHED" "$VERIFY" --expect-bugs \
	--title "1. $BASE unpatched: the scenarios that prove a fix must fail naming their bug (XFAIL), the rest pass" \
	--junit "$REPORTS/verify-$BASE-unpatched.xml" "${chosen[@]}"
run 2 "$BASE with patches/$BASE" \
	env SPDK_BASE="$BASE" SPDK_TREE="$PATCHED" "$VERIFY" \
	--title "2. $BASE with patches/$BASE: every scenario passes" \
	--junit "$REPORTS/verify-$BASE.xml" "${chosen[@]}"
run 3 "checksums across implementations" \
	"$VERIFY" --cross-checksums "$BASE-unpatched=$UNPATCHED" "$BASE=$PATCHED" "master=$MASTER" \
	--title "3. checksums across implementations: $BASE unpatched, $BASE patched, master" \
	--junit "$REPORTS/cross-checksums-$BASE.xml"
run 4 "disks moved between builds" \
	"$VERIFY" --cross-disks "$BASE-unpatched=$UNPATCHED" "$BASE=$PATCHED" "master=$MASTER" \
	--title "4. disks moved between builds: $BASE unpatched, $BASE patched, master (upgrade and downgrade)" \
	--junit "$REPORTS/cross-disks-$BASE.xml"

((${#failed[@]} == 0)) || die "backport verification: run(s) ${failed[*]} did not hold up"
log "backport verification: run(s) ${ran[*]} held up"
