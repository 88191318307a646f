#!/usr/bin/env bash
# Install what building and testing need, idempotently, and set up hugepages
# where the machine allows it. Safe to run again: it only does what is missing.
source "$(dirname "$0")/lib.sh"

APT_PACKAGES=(
	# SPDK (from its scripts/pkgdep/debian.sh, without the parts we configure off)
	gcc g++ make pkgconf libcunit1-dev libaio-dev libssl-dev libjson-c-dev libcmocka-dev
	uuid-dev libkeyutils-dev libncurses-dev python3 python3-pip python3-dev
	# DPDK and isa-l
	meson ninja-build python3-pyelftools nasm libnuma-dev autoconf automake libtool help2man
	# build speed, patch style checks (scripts/check_format.sh)
	ccache astyle shellcheck pycodestyle git
	# check_format.sh uses \s in awk regexes, which mawk, Debian's default awk, does not know
	gawk
	# harness: bindgen needs libclang
	libclang-dev clang
)
# Python modules SPDK's code generation and DPDK's meson import, for the
# python3 that is first on PATH (it may not be Debian's).
PIP_MODULES=(tabulate:tabulate yaml:pyyaml jsonschema:jsonschema elftools:pyelftools)

missing=()
for p in "${APT_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	log "apt: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null || die "apt-get update failed"
	apt-get install -y -qq "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
fi

pip_missing=()
for m in "${PIP_MODULES[@]}"; do
	python3 -c "import ${m%%:*}" 2>/dev/null || pip_missing+=("${m#*:}")
done
if ((${#pip_missing[@]})); then
	log "pip: installing ${pip_missing[*]} for $(command -v python3)"
	python3 -m pip install -q --disable-pip-version-check "${pip_missing[@]}" 2>/dev/null ||
		python3 -m pip install -q --disable-pip-version-check --break-system-packages "${pip_missing[@]}" ||
		die "pip install ${pip_missing[*]} failed"
fi

command -v cargo >/dev/null || die "cargo is missing: the harness needs a Rust toolchain"
if ! cargo nextest --version >/dev/null 2>&1; then
	log "cargo: installing cargo-nextest"
	cargo install --locked -q cargo-nextest || die "cargo install cargo-nextest failed"
fi

# Hugepages: three SPDK processes may run at once in a test (target under test,
# NVMe-oF export target, spdk_dd), each wanting well over 512 MiB.
HUGE_PAGES=${HUGE_PAGES:-2048}
if [[ -w /proc/sys/vm/nr_hugepages ]]; then
	cur=$(cat /proc/sys/vm/nr_hugepages)
	if ((cur < HUGE_PAGES)); then
		echo "$HUGE_PAGES" >/proc/sys/vm/nr_hugepages 2>/dev/null || true
	fi
	if ! grep -qs '^[^ ]* /dev/hugepages hugetlbfs' /proc/mounts; then
		mkdir -p /dev/hugepages
		mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null || true
	fi
fi
free_pages=$(awk '/^HugePages_Free/ {print $2}' /proc/meminfo)
if grep -qs ' hugetlbfs ' /proc/mounts && ((free_pages * 2 >= 1024)); then
	log "hugepages: $free_pages free 2 MiB pages, hugetlbfs mounted"
else
	log "hugepages: not available here ($free_pages free); targets will run with --no-huge -s"
fi
