#!/usr/bin/env bash
# Build a patched SPDK tree from the pinned sources in ci/sources.tsv.
#
#   ci/build.sh [--base BASE] [--unpatched | --sanitize] STAGE...
#
# Stages, run in the order given (default: tree build):
#   tree    clone the base at its pin into build/BASE/spdk, fetch its nested
#           sources (DPDK, isa-l, isa-l_crypto) and apply patches/BASE/ with git am
#   build   configure (only what we use) and build spdk_tgt, spdk_dd, bdevperf
#   unit    build and run the unit tests of blob, lvol, vbdev_lvol and util
#           (with UNIT_CHANGED_ONLY=1, only the binaries whose bytes differ
#           from every build of them that passed; with UNIT_LATER=DIR, copy
#           the binaries to run into DIR and run none)
#   unit-later  run the binaries a 'unit' stage left in UNIT_LATER=DIR, as
#           'unit' would have (ci/patches.sh check-each runs them while it
#           builds the next commit)
#
# --unpatched builds the base without its series, in build/BASE-unpatched/spdk:
# the negative control the harness must fail on.
#
# --sanitize builds the patched base with AddressSanitizer (leaks included) and
# UndefinedBehaviorSanitizer, beside the normal build, in
# build/BASE-sanitize/spdk; its unit stage fails on any report.
#
# Every stage is idempotent: a re-run with unchanged inputs does no work.
# The spdk/ submodule is only read, never modified.
source "$(dirname "$0")/lib.sh"

BASE=master
UNPATCHED=0
SANITIZE=0
stages=()
while (($#)); do
	case $1 in
	--base) BASE=$2; shift 2 ;;
	--base=*) BASE=${1#--base=}; shift ;;
	--unpatched) UNPATCHED=1; shift ;;
	--sanitize) SANITIZE=1; shift ;;
	-h | --help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) stages+=("$1"); shift ;;
	esac
done
((${#stages[@]})) || stages=(tree build)

BDIR=$BUILD_DIR/$BASE
((UNPATCHED && SANITIZE)) && die "--unpatched and --sanitize do not go together"
((UNPATCHED)) && BDIR=$BDIR-unpatched
((SANITIZE)) && BDIR=$BDIR-sanitize
TREE=$BDIR/spdk
PIN=$(manifest "$BASE" spdk pin)
URL=$(manifest "$BASE" spdk url)
STAMPS=$BDIR/stamps
mkdir -p "$STAMPS"

configure_flags() {
	# Everything we do not use is switched off: lvol, aio, nvme and NVMe-oF/TCP stay.
	local common=(--disable-tests --disable-unit-tests --disable-examples --disable-apps --enable-werror --without-vhost --without-virtio --without-crypto
		--without-fio --without-xnvme --without-ocf --without-uring --without-rdma --without-ublk
		--without-nvme-cuse --without-idxd --without-usdt --without-iscsi-initiator
		--without-vfio-user --without-dpdk-compressdev --without-rbd --without-daos --without-fc)
	((SANITIZE)) && common+=(--enable-asan --enable-ubsan)
	case $BASE in
	master) echo "${common[@]}" --without-fsdev ;;
	*) echo "${common[@]}" ;;
	esac
}

stage_tree() {
	if [[ $BASE == master ]]; then
		local gitlink
		gitlink=$(git -C "$ROOT" ls-files -s spdk 2>/dev/null | awk '$1 == "160000" {print $2}' || true)
		[[ -z $gitlink || $gitlink == "$PIN" ]] ||
			die "spdk/ submodule is at $gitlink but ci/sources.tsv pins $PIN"
		if ! git -C "$ROOT/spdk" cat-file -e "$PIN^{commit}" 2>/dev/null; then
			log "initialising the spdk/ submodule ($URL)"
			git -C "$ROOT" submodule update --init spdk >/dev/null 2>&1 ||
				die "source unavailable: cannot fetch $URL at $PIN for the spdk/ submodule. Where GitHub is unreachable, map the URL to a mirror with git's url.<mirror>.insteadOf"
		fi
		# A local clone of the pristine submodule: fast, and it never touches spdk/.
		if [[ ! -e $TREE/.git ]]; then
			mkdir -p "$(dirname "$TREE")"
			git clone -q --no-checkout "$ROOT/spdk" "$TREE"
		fi
	elif [[ ! -e $TREE/.git ]]; then
		fetch_git "$URL" "$PIN" "$TREE"
	fi
	git -C "$TREE" cat-file -e "$PIN^{commit}" 2>/dev/null || die "build tree has no commit $PIN of $URL"

	local comp
	for comp in $(manifest_components "$BASE"); do
		[[ $comp == spdk ]] && continue
		fetch_git "$(manifest "$BASE" "$comp" url)" "$(manifest "$BASE" "$comp" pin)" "$TREE/$comp"
	done
	apply_series
}

apply_series() {
	local digest applied head
	if ((UNPATCHED)); then
		digest="unpatched $PIN"
	else
		digest=$(series_digest "$BASE")
	fi
	applied=$(git -C "$TREE" config --get spdkh.applied || true)
	head=$(git -C "$TREE" rev-parse -q --verify HEAD || true)
	if [[ $applied == "$digest" && $head == "$(git -C "$TREE" config --get spdkh.head || true)" ]]; then
		return 0
	fi
	if [[ -n $applied && $head != "$(git -C "$TREE" config --get spdkh.head || true)" && ${FORCE:-0} != 1 ]]; then
		die "build/$BASE/spdk has commits that are not in patches/$BASE (export them with 'make patches-export', or FORCE=1 to drop them)"
	fi
	local patches=()
	((UNPATCHED)) || mapfile -t patches < <(series_files "$BASE")
	log "applying ${#patches[@]} patch(es) from patches/$BASE onto ${PIN:0:10}"
	git -C "$TREE" am --abort >/dev/null 2>&1 || true
	git -C "$TREE" -c advice.detachedHead=false checkout -q -f -B patched "$PIN"
	if ((${#patches[@]})); then
		git -C "$TREE" -c user.name="spdk-harness" -c user.email="spdk-harness@invalid" \
			am -q --keep-cr "${patches[@]}" ||
			{
				git -C "$TREE" am --abort >/dev/null 2>&1 || true
				die "patches/$BASE does not apply to $PIN"
			}
	fi
	git -C "$TREE" config spdkh.applied "$digest"
	git -C "$TREE" config spdkh.head "$(git -C "$TREE" rev-parse HEAD)"
}

stage_build() {
	[[ -e $TREE/.git ]] || die "no build tree for $BASE: run the 'tree' stage first"
	setup_ccache
	local conf flags cflags=''
	# ASan's allocation stacks (leak reports) come from its fast unwinder,
	# which follows frame pointers: without them an -O2 build's stacks stop
	# after a frame or two, and the slow unwinder (fast_unwind_on_malloc=0)
	# more than doubles the sanitized suite's time.
	((SANITIZE)) && cflags=-fno-omit-frame-pointer
	conf=$(configure_flags)
	flags="$conf${cflags:+ CFLAGS=$cflags}"
	if [[ ! -f $TREE/mk/config.mk || "$(cat "$STAMPS/configure" 2>/dev/null)" != "$flags" ]]; then
		# Objects don't depend on the compiler flags: a tree configured
		# otherwise before starts clean.
		if [[ -f $TREE/mk/config.mk && -f $STAMPS/configure ]]; then
			log "configuration of $BASE changed: make clean"
			make -C "$TREE" clean >/dev/null 2>&1 || true
		fi
		log "configuring $BASE: $flags"
		# shellcheck disable=SC2086
		(cd "$TREE" && env ${cflags:+CFLAGS=$cflags} ./configure $conf >"$BDIR/configure.log" 2>&1) ||
			{ tail -30 "$BDIR/configure.log" >&2; die "configure failed for $BASE"; }
		echo "$flags" >"$STAMPS/configure"
	fi
	# Apps, examples and tests are off in configure so that the top-level make
	# builds only DPDK, isa-l and the libraries; the binaries we use are built
	# one by one below.
	local changed
	if [[ -n ${BUILD_CHANGED_FROM:-} ]] && changed=$(dirs_changed_from "$BUILD_CHANGED_FROM"); then
		# The top-level make's first step: headers copied to build/include,
		# master's generated RPC header.
		run_make "include" -C include all
		local d
		for d in $changed; do
			run_make "$d (changed since ${BUILD_CHANGED_FROM:0:10})" -C "$d"
		done
		[[ -n $changed ]] || log "no library source changed since ${BUILD_CHANGED_FROM:0:10}"
	else
		run_make "libraries (DPDK, isa-l, SPDK lib and module)"
	fi
	run_make "spdk_tgt" -C app/spdk_tgt
	run_make "spdk_dd" -C app/spdk_dd
	run_make "bdevperf" -C examples/bdev/bdevperf
	local bin
	for bin in spdk_tgt spdk_dd bdevperf; do
		[[ -x $TREE/build/bin/$bin || -x $TREE/build/examples/$bin ]] || die "$bin was not built"
	done
	log "built $(basename "$BDIR") at $(git -C "$TREE" describe --always --dirty) ($(git -C "$TREE" rev-list --count "$PIN"..HEAD) patch(es))"
}

# The library directories (lib/ first, then module/) that a tree built at
# commit FROM must remake to be built at HEAD: those holding a file that
# changed, and those with an object that depends on a changed file (the
# compiler's .d files). Fails, for a full make, when a change reaches what the
# .d files don't track: the build system, configure, DPDK, isa-l, a new or
# removed directory, or a tree with no .d files yet.
dirs_changed_from() { # FROM
	local f dir
	local -A dirs=()
	[[ -n $(find "$TREE/lib" -name '*.d' -print -quit) ]] || return 1
	while IFS= read -r f; do
		case $f in
		lib/* | module/*)
			dir=$(dirname "$f")
			while [[ ! -f $TREE/$dir/Makefile ]]; do
				[[ $dir == */* ]] || return 1
				dir=$(dirname "$dir")
			done
			[[ $dir == lib || $dir == module ]] && return 1
			dirs[$dir]=1
			;;
		include/*) ;;
		# Master generates the RPC decoders' header from the RPC schema
		# (include/Makefile, remade first below).
		schema/* | scripts/genrpc.py) f=include/spdk_internal/rpc_autogen.h ;;
		# Built by the stages that use them (app/, examples/, test/unit/ all
		# remake as a whole below), or not built at all.
		app/* | examples/* | test/* | doc/* | python/* | scripts/rpc.py | *.md | .gitignore | .astylerc) continue ;;
		*) return 1 ;;
		esac
		# Every object whose dependencies name the file.
		while IFS= read -r dir; do
			dirs[$dir]=1
		done < <(cd "$TREE" && grep -lrF -e " $f" -e "/$f" --include='*.d' lib module | xargs -r -n1 dirname)
	done < <(git -C "$TREE" diff --name-only "$1" HEAD -- || echo "/failed")
	for dir in "${!dirs[@]}"; do
		[[ -f $TREE/$dir/Makefile ]] || return 1
	done
	((${#dirs[@]} == 0)) || printf '%s\n' "${!dirs[@]}" | sort
}

run_make() {
	local what=$1
	shift
	local logf
	logf=$BDIR/make-$(echo "$what" | tr -c 'a-zA-Z0-9_\n' '-' | cut -c1-20).log
	log "make $what"
	if ! make -C "$TREE" -j"$JOBS" "$@" >"$logf" 2>&1; then
		grep -E 'error|Error' "$logf" | head -20 >&2 || true
		tail -20 "$logf" >&2
		die "make $* failed for $BASE (log: $logf)"
	fi
}

# Tests of BASE itself that fail without our series (ci/known-unit-failures.tsv).
known_failures() { # BINARY
	awk -F'\t+' -v b="$BASE" -v u="$1" '!/^#/ && $1 == b && $2 == u { print $3 }' \
		"$ROOT/ci/known-unit-failures.tsv" | sort -u
}

# The binary ran to its summary and every test that failed is a known failure.
only_known_failures() { # BINARY LOG
	grep -qE '^Run Summary' "$2" || return 1
	local failing
	# A test's log lines can come between its "Test: NAME ..." and "FAILED".
	failing=$(awk 'match($0, /Test: [A-Za-z0-9_]+ \.\.\./) { t = substr($0, RSTART + 6, RLENGTH - 10) }
		/FAILED/ && t != "" { print t; t = "" }
		/passed/ { t = "" }' "$2" | sort -u)
	[[ -n $failing ]] || return 1
	[[ -z $(comm -23 <(echo "$failing") <(known_failures "$1")) ]]
}

# A sanitizer reported something in LOG (ASan, LSan, UBSan); a report also
# fails the binary (exitcode), but UBSan only logs by default.
sanitizer_report() { # LOG
	((SANITIZE)) || return 1
	grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer' "$1"
}

UNIT_DIRS=(test/unit/lib/blob test/unit/lib/lvol test/unit/lib/bdev/vbdev_lvol.c test/unit/lib/util)

# A sanitizer report fails a unit test binary (its exit code).
sanitizer_env() {
	if ((SANITIZE)); then
		export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23
		export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=24
	fi
}

stage_unit() {
	setup_ccache
	sanitizer_env
	local d
	# lib/ut is built by the top-level make only when unit tests are configured.
	run_make "unit lib/ut" -C lib/ut
	for d in "${UNIT_DIRS[@]}"; do
		[[ -d $TREE/$d ]] || die "$d is missing in $BASE"
		run_make "unit $d" -C "$d"
	done
	# Every binary that passes is recorded with its content's hash. With
	# UNIT_CHANGED_ONLY=1 (ci/patches.sh check-each) a binary whose bytes are
	# those that already passed is not run again: its sources, its libraries
	# and the flags it was built with are the same, so is its result.
	local passed=$BDIR/unit-passed.sha256
	touch "$passed"
	local ut failed=0 n=0 same=0 later=0 sum rel
	while IFS= read -r ut; do
		n=$((n + 1))
		rel=${ut#"$TREE"/}
		sum=$(sha256sum "$ut" | cut -d' ' -f1)
		if [[ ${UNIT_CHANGED_ONLY:-0} == 1 ]] && grep -qxF "$sum $rel" "$passed"; then
			same=$((same + 1))
			continue
		fi
		if [[ -n ${UNIT_LATER:-} ]]; then
			# The same bytes left to run for a commit before: the same result,
			# and a failure there stops the check before this commit's turn.
			if cat "$(dirname "$UNIT_LATER")"/*/list 2>/dev/null | cut -d' ' -f2- | grep -qxF "$sum $rel"; then
				same=$((same + 1))
				continue
			fi
			# A copy: the next commit's build remakes the binary in the tree.
			mkdir -p "$UNIT_LATER"
			cp "$ut" "$UNIT_LATER/$n-$(basename "$ut")"
			printf '%s %s %s\n' "$n-$(basename "$ut")" "$sum" "$rel" >>"$UNIT_LATER/list"
			later=$((later + 1))
			continue
		fi
		run_unit "$ut" "$rel" "$sum" "$TREE" || failed=$((failed + 1))
	done < <(for d in "${UNIT_DIRS[@]}"; do find "$TREE/$d" -name '*_ut' -type f -perm -u+x; done | sort)
	((n > 0)) || die "no unit test binaries were built for $BASE"
	((failed == 0)) || die "$failed of $n unit test binaries failed for $BASE"
	if ((later > 0)); then
		log "unit tests: $later binaries left to run from $UNIT_LATER; $same not run again, byte for byte one that passed"
	elif ((same > 0)); then
		log "unit tests: $((n - same)) binaries passed for $BASE; $same not run again, byte for byte one that passed"
	else
		log "unit tests: $n binaries passed for $BASE"
	fi
}

# Run unit test binary UT (REL in the tree, content hash SUM) in directory
# DIR; record it as passed. Fails on a failure that is not the base's own or
# on any sanitizer report.
run_unit() { # UT REL SUM DIR
	local ut=$1 rel=$2 sum=$3 dir=$4 logf
	local passed=$BDIR/unit-passed.sha256 name
	name=$(basename "$rel")
	logf=$BDIR/unit-$name.log
	if (cd "$dir" && "$ut" >"$logf" 2>&1) && ! sanitizer_report "$logf"; then
		log "${UNIT_LABEL:-}unit PASS $rel ($(grep -E '^ +asserts' "$logf" | awk '{print $3}') asserts)"
	elif ! sanitizer_report "$logf" && only_known_failures "$name" "$logf"; then
		log "${UNIT_LABEL:-}unit PASS $rel: only the base's own known failures ($(known_failures "$name" | paste -sd, -)), see ci/known-unit-failures.tsv"
	else
		log "${UNIT_LABEL:-}unit FAIL $rel (log: $logf)"
		grep -B2 -A8 -E 'FAILED|Assertion|Suite .* had failures|Failures' "$logf" | head -40 >&2 || tail -30 "$logf" >&2
		return 1
	fi
	grep -qxF "$sum $rel" "$passed" || echo "$sum $rel" >>"$passed"
}

stage_unit_later() {
	[[ -n ${UNIT_LATER:-} ]] || die "the unit-later stage needs UNIT_LATER=DIR"
	[[ -f $UNIT_LATER/list ]] || return 0
	sanitizer_env
	local copy sum rel failed=0 n=0
	while read -r copy sum rel; do
		n=$((n + 1))
		run_unit "$UNIT_LATER/$copy" "$rel" "$sum" "$UNIT_LATER" || failed=$((failed + 1))
		rm -f "${UNIT_LATER:?}/$copy"
	done <"$UNIT_LATER/list"
	((failed == 0)) || die "${UNIT_LABEL:-}$failed of $n unit test binaries failed for $BASE"
	log "${UNIT_LABEL:-}unit tests: $n binaries passed for $BASE"
}

for s in "${stages[@]}"; do
	case $s in
	tree) stage_tree ;;
	build) stage_build ;;
	unit) stage_unit ;;
	unit-later) stage_unit_later ;;
	*) die "unknown stage '$s'" ;;
	esac
done
