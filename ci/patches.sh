#!/usr/bin/env bash
# Patch series tooling. The series for BASE lives in patches/BASE/ and is
# applied to build/BASE/spdk by git am.
#
#   ci/patches.sh apply        [--base BASE]  apply the series to the build tree
#   ci/patches.sh export       [--base BASE]  write the build tree's commits back to patches/BASE
#   ci/patches.sh check-export [--base BASE]  fail if re-exporting would change patches/BASE
#   ci/patches.sh check-each   [--base BASE]  build every commit alone and run its unit tests
#   ci/patches.sh check-format [--base BASE]  SPDK's scripts/check_format.sh on the series
#                                             (only the checkers in $CHECKERS, if set)
#   ci/patches.sh submit       [--base BASE]  the series signed off by you (git config
#                                             user.name, user.email), with a Change-Id on
#                                             each commit, in build/submit/BASE/spdk
#                                             ($SUBMIT_DIR); SUBMIT_CHECKS=0 skips the
#                                             checks (for the test of submit only)
#
# Work on the series in build/BASE/spdk (git commit, rebase -i, ...), then export.
source "$(dirname "$0")/lib.sh"

cmd=${1:-}
shift || true
base_args "$@"
TREE=$(tree_dir "$BASE")
PIN=$(manifest "$BASE" spdk pin)
DIR=$ROOT/patches/$BASE

# Stable output: no signature, no commit ids, no numbering that changes when a
# patch is added, and settings that a user's git config can't change.
export_series() { # TREE OUTDIR
	local tree=$1 out=$2
	mkdir -p "$out"
	find "$out" -maxdepth 1 -name '*.patch' -delete
	git -C "$tree" -c core.abbrev=12 -c diff.renames=true -c diff.noprefix=false \
		-c diff.mnemonicPrefix=false -c diff.algorithm=default -c format.signature= \
		-c format.coverLetter=false -c format.numbered=false \
		format-patch -q --no-signature --zero-commit --no-numbered --subject-prefix=PATCH \
		--no-cover-letter -o "$out" "$PIN..HEAD" >/dev/null
}

# The identity the series is kept under: its commits' author and their
# Signed-off-by. It certifies nothing (the Developer Certificate of Origin is
# a real person's word); `submit` puts the submitter's identity in its place.
PLACEHOLDER_NAME="Placeholder for the submitter"
PLACEHOLDER_EMAIL=dco-placeholder@spdk-harness.invalid

need_tree() {
	[[ -e $TREE/.git ]] || "$ROOT/ci/build.sh" --base "$BASE" tree
}

case $cmd in
apply)
	"$ROOT/ci/build.sh" --base "$BASE" tree
	;;
export)
	need_tree
	[[ -z $(git -C "$TREE" status --porcelain --untracked-files=no -- . ':!dpdk' ':!isa-l' ':!isa-l-crypto') ]] ||
		die "build/$BASE/spdk has uncommitted changes: commit them first"
	export_series "$TREE" "$DIR"
	git -C "$TREE" config spdkh.applied "$(series_digest "$BASE")"
	git -C "$TREE" config spdkh.head "$(git -C "$TREE" rev-parse HEAD)"
	log "exported $(find "$DIR" -name '*.patch' | wc -l) patch(es) to patches/$BASE"
	;;
check-export)
	need_tree
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	git clone -q --no-checkout "$TREE" "$tmp/tree"
	git -C "$tmp/tree" -c advice.detachedHead=false checkout -q --detach "$PIN"
	mapfile -t ps < <(series_files "$BASE")
	if ((${#ps[@]})); then
		git -C "$tmp/tree" -c user.name=check -c user.email=check@invalid am -q --keep-cr "${ps[@]}" ||
			die "patches/$BASE does not apply to $PIN"
	fi
	export_series "$tmp/tree" "$tmp/out"
	mkdir -p "$DIR"
	if ! diff -r "$DIR" "$tmp/out" -x '.*' -x 'README*' >"$tmp/diff"; then
		head -40 "$tmp/diff" >&2
		die "re-exporting patches/$BASE changes it: export with 'make patches-export'"
	fi
	log "patches/$BASE: ${#ps[@]} patch(es) apply to ${PIN:0:10} and re-export unchanged"
	;;
check-each)
	"$ROOT/ci/build.sh" --base "$BASE" tree
	mapfile -t commits < <(git -C "$TREE" rev-list --reverse "$PIN..HEAD")
	if ((${#commits[@]} == 0)); then
		log "patches/$BASE is empty: nothing to check commit by commit"
		exit 0
	fi
	head=$(git -C "$TREE" rev-parse HEAD)
	units=$(mktemp -d)
	running=
	restore() {
		[[ -z $running ]] || kill "$running" 2>/dev/null || true
		rm -rf "$units"
		git -C "$TREE" -c advice.detachedHead=false checkout -q -f patched 2>/dev/null || true
	}
	trap restore EXIT
	# The first commit gets the whole make; each next one remakes the library
	# directories its changes reach (ci/build.sh, BUILD_CHANGED_FROM), and runs
	# the unit test binaries that differ from any that passed (UNIT_CHANGED_ONLY).
	# A commit's binaries run from a copy while the next commit builds
	# (UNIT_LATER), one commit's at a time: blob_ut alone takes about 20 s.
	ran() { # wait for the binaries of the commit before, fail naming it
		[[ -n $running ]] || return 0
		wait "$running" || die "$running_what does not pass its unit tests on its own"
		running=
	}
	i=0 prev=
	for c in "${commits[@]}"; do
		i=$((i + 1))
		subject=$(git -C "$TREE" log -1 --format='%h %s' "$c")
		what="commit $i/${#commits[@]} ($subject)"
		log "commit $i/${#commits[@]}: $subject"
		git -C "$TREE" -c advice.detachedHead=false checkout -q -f --detach "$c"
		git -C "$TREE" log -1 --format=%B "$c" | grep -q '^Signed-off-by: ' ||
			die "commit $subject has no Signed-off-by"
		BUILD_CHANGED_FROM=$prev UNIT_CHANGED_ONLY=1 UNIT_LATER=$units/$i "$ROOT/ci/build.sh" --base "$BASE" build unit ||
			die "$what does not build on its own"
		ran
		UNIT_LATER=$units/$i UNIT_LABEL="commit $i/${#commits[@]}: " "$ROOT/ci/build.sh" --base "$BASE" unit-later &
		running=$! running_what=$what
		prev=$c
	done
	ran
	restore
	[[ $(git -C "$TREE" rev-parse HEAD) == "$head" ]] || die "could not return build/$BASE/spdk to the series head"
	log "every one of the ${#commits[@]} commit(s) builds and passes its unit tests on its own"
	;;
check-format)
	"$ROOT/ci/build.sh" --base "$BASE" tree
	# check_format.sh looks at the files git tracks; the nested sources we
	# cloned into dpdk/ and isa-l*/ are not part of the series.
	script=scripts/check_format.sh
	what="scripts/check_format.sh"
	if [[ -n ${CHECKERS:-} ]]; then
		# Only the checkers named (space-separated), for the file types the
		# series changes: a copy of the script whose main body calls no other.
		# (Not every base's script takes checker names as arguments.)
		script=scripts/.check_format_selected.sh
		awk -v keep=" $CHECKERS " '/^check_[a-z_]+ \|\| rc=1$/ && index(keep, " " $1 " ") == 0 { next } { print }' \
			"$TREE/scripts/check_format.sh" >"$TREE/$script"
		chmod +x "$TREE/$script"
		what="scripts/check_format.sh ($(wc -w <<<"$CHECKERS") checkers: $CHECKERS)"
	fi
	rc=0
	(cd "$TREE" && "$script") >"$BUILD_DIR/$BASE/check_format.log" 2>&1 || rc=$?
	[[ $script == scripts/check_format.sh ]] || rm -f "$TREE/$script"
	if ((rc != 0)); then
		grep -vE '^ *(OK|$)' "$BUILD_DIR/$BASE/check_format.log" | tail -40 >&2
		die "$what fails on patches/$BASE (log: build/$BASE/check_format.log)"
	fi
	log "$what is clean on patches/$BASE"
	;;
submit)
	# Who signs: the submitter, never the placeholder. Checked before the
	# checks, which take a quarter of an hour.
	name=$(git -C "$ROOT" config user.name || true)
	email=$(git -C "$ROOT" config user.email || true)
	[[ -n $name && -n $email ]] ||
		die "set git config user.name and user.email: the Signed-off-by of every commit becomes yours, and certifies the Developer Certificate of Origin (https://developercertificate.org) for you"
	if [[ $name == "$PLACEHOLDER_NAME" || $email == "$PLACEHOLDER_EMAIL" || $email == *.invalid || $email != *@* ]]; then
		die "'$name <$email>' is not a person's identity (the series' placeholder, or an address that can't receive mail): set git config user.name and user.email to yours"
	fi
	if [[ ${SUBMIT_CHECKS:-1} != 0 ]]; then
		# make patches-check: re-export, every commit alone, check_format.
		"$0" check-export --base "$BASE"
		"$0" check-each --base "$BASE"
		"$0" check-format --base "$BASE"
	else
		log "SUBMIT_CHECKS=0: the series checks are not run (for the test of submit itself)"
	fi
	mapfile -t ps < <(series_files "$BASE")
	((${#ps[@]})) || die "patches/$BASE is empty: nothing to submit"
	need_tree
	out=${SUBMIT_DIR:-$BUILD_DIR/submit/$BASE}
	rm -rf "$out"
	mkdir -p "$out"
	git clone -q --no-checkout "$TREE" "$out/spdk"
	git -C "$out/spdk" remote set-url origin "$(manifest "$BASE" spdk url)"
	git -C "$out/spdk" -c advice.detachedHead=false checkout -q -B for-review "$PIN"
	sub() { git -C "$out/spdk" -c user.name="$name" -c user.email="$email" "$@"; }
	# A commit's Change-Id comes from the base, the submitter and its
	# subject: submitting again after a change keeps each commit's Change-Id
	# as long as its subject stays, so Gerrit takes it as a new patch set of
	# the same change. A Change-Id the message already has is kept.
	for p in "${ps[@]}"; do
		sub am -q --keep-cr "$p" || die "$(basename "$p") does not apply to ${PIN:0:10}"
		msg=$(sub log -1 --format=%B)
		subject=$(sub log -1 --format=%s)
		change=I$(printf '%s\n%s\n%s\n' "$BASE" "$email" "$subject" | sha1sum | cut -c1-40)
		printf '%s\n' "$msg" |
			grep -vxF "Signed-off-by: $PLACEHOLDER_NAME <$PLACEHOLDER_EMAIL>" |
			git interpret-trailers --if-exists addIfDifferent --trailer "Signed-off-by: $name <$email>" |
			git interpret-trailers --if-exists doNothing --trailer "Change-Id: $change" \
				>"$out/msg"
		sub commit -q --amend --reset-author --no-verify -F "$out/msg"
	done
	rm -f "$out/msg"
	# What goes out: the series' trees unchanged, and no placeholder left.
	applied=$(git -C "$out/spdk" rev-list --count "$PIN..HEAD")
	((applied == ${#ps[@]})) || die "submit: $applied commits for ${#ps[@]} patches"
	if git -C "$out/spdk" log --format='%an <%ae>%n%B' "$PIN..HEAD" | grep -qF "$PLACEHOLDER_EMAIL"; then
		die "submit: the placeholder identity is still in build/submit/$BASE/spdk"
	fi
	git -C "$out/spdk" -c core.abbrev=12 format-patch -q --zero-commit -o "$out/patches" "$PIN..HEAD" >/dev/null
	log "$out/spdk, branch for-review: ${#ps[@]} commit(s) on ${PIN:0:10}, authored and signed off by $name <$email>, each with a Change-Id (patches for mail in $out/patches)"
	if [[ $BASE == master ]]; then
		log "to send them to SPDK's Gerrit: git -C $out/spdk push ssh://<gerrit user>@review.spdk.io:29418/spdk/spdk HEAD:refs/for/master"
	else
		log "to send them: push branch for-review of $out/spdk to your fork and open a pull request against the base's branch"
	fi
	;;
*)
	sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
