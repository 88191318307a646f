# shellcheck shell=bash
# Shared helpers for the ci/ scripts. Source it; it does nothing on its own.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MANIFEST=$ROOT/ci/sources.tsv
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
JOBS=${JOBS:-$(nproc)}
_T0=${_T0:-$(date +%s)}
export _T0

# Progress line with the time elapsed since the first script of this run started.
log() {
	printf '[%5ss] %s\n' "$(($(date +%s) - _T0))" "$*" >&2
}

die() {
	printf 'ERROR: %s\n' "$*" >&2
	exit 1
}

# manifest BASE COMPONENT FIELD: FIELD is url, pin or reason.
manifest() {
	local base=$1 comp=$2 field=$3
	awk -F'\t+' -v b="$base" -v c="$comp" -v f="$field" '
		/^#/ || NF < 4 { next }
		$1 == b && $2 == c {
			if (f == "url") print $3
			else if (f == "pin") print $4
			else if (f == "reason") print $5
			found = 1; exit
		}
		END { if (!found) exit 1 }' "$MANIFEST" ||
		die "ci/sources.tsv has no row for base '$base' component '$comp'"
}

manifest_components() {
	awk -F'\t+' -v b="$1" '!/^#/ && NF >= 4 && $1 == b { print $2 }' "$MANIFEST"
}

manifest_bases() {
	awk -F'\t+' '!/^#/ && NF >= 4 && $2 == "spdk" { print $1 }' "$MANIFEST"
}

# Use ccache for every C compile, SPDK's and DPDK's meson alike. Paths are
# hashed relative to the checkout so a fresh clone elsewhere still hits.
setup_ccache() {
	command -v ccache >/dev/null || die "ccache is missing: run 'make deps' first"
	export PATH=/usr/lib/ccache:$PATH
	export CCACHE_BASEDIR=$ROOT
	export CCACHE_NOHASHDIR=1
	export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
	export CCACHE_SLOPPINESS=${CCACHE_SLOPPINESS:-time_macros,include_file_mtime,include_file_ctime}
}

# fetch_git URL PIN DEST: DEST becomes a checkout of PIN, cloned from URL.
# git's url.<base>.insteadOf may map URL to a local mirror; nothing here names one.
fetch_git() {
	local url=$1 pin=$2 dest=$3
	if [[ -e $dest/.git ]] && [[ $(git -C "$dest" rev-parse -q --verify HEAD 2>/dev/null) == "$pin" ]]; then
		return 0
	fi
	rm -rf "$dest"
	mkdir -p "$(dirname "$dest")"
	log "fetching $url at $pin"
	git clone -q --no-checkout "$url" "$dest" 2>"$dest.clone.log" ||
		die "source unavailable: cannot clone $url (needed at $pin); see $dest.clone.log. Where GitHub is unreachable, map the URL to a mirror with git's url.<mirror>.insteadOf"
	if ! git -C "$dest" cat-file -e "$pin^{commit}" 2>/dev/null; then
		git -C "$dest" fetch -q origin "$pin" 2>>"$dest.clone.log" ||
			die "source unavailable: $url has no commit $pin"
	fi
	git -C "$dest" -c advice.detachedHead=false checkout -q --detach "$pin" ||
		die "cannot check out $pin of $url"
	rm -f "$dest.clone.log"
}

series_digest() {
	local base=$1
	{
		manifest "$base" spdk pin
		series_files "$base" | xargs -r cat
	} | sha256sum | cut -c1-16
}

# base_args ARGS...: BASE from --base BASE or --base=BASE (default master);
# any other argument is an error. For the scripts that take nothing else.
# shellcheck disable=SC2034 # BASE is read by the script that sources this file
base_args() {
	BASE=master
	while (($#)); do
		case $1 in
		--base) BASE=$2; shift 2 ;;
		--base=*) BASE=${1#--base=}; shift ;;
		*) die "unknown argument '$1'" ;;
		esac
	done
}

tree_dir() {
	echo "$BUILD_DIR/$1/spdk"
}

# The series of BASE, in order (none if patches/BASE does not exist).
series_files() {
	[[ -d $ROOT/patches/$1 ]] || return 0
	find "$ROOT/patches/$1" -maxdepth 1 -name '*.patch' | sort
}
