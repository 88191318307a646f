# Top-level entry points. The README names `make verify` (the main job) and
# `make test` (all tests); the rest are the steps they are made of.
#
# BASE selects the patch base: master (default) or another base in ci/sources.tsv.

BASE ?= master
# The Longhorn v1.8.x base and its backport series (patches/$(BACKPORT)).
BACKPORT ?= longhorn-v24.09
SHELL := /bin/bash
CARGO ?= cargo
JUNIT_DIR ?= build/reports

.PHONY: all deps build unit unit-sanitize lvol-tests verify verify-sanitize crash-matrix races verify-backport test harness-test bench patches-apply patches-export \
	patches-check patches-check-export patches-check-each patches-check-format \
	patches-check-format-series patches-submit clean

# The checkers of scripts/check_format.sh that concern the files the series
# changes (C sources and headers, .map files, Markdown, Python, the RPC schema,
# the CHANGELOG). CI runs these; the whole set (shellcheck over every script
# in the tree, Go) runs in ci/nightly.
SERIES_CHECKERS := check_permissions check_c_style check_comment_style check_spaces_before_tabs \
	check_trailing_whitespace check_forbidden_functions check_cunit_style check_eof \
	check_posix_includes check_naming_conventions check_include_style check_opts_structs \
	check_attr_packed check_python_style check_changelog check_json_rpc check_markdown_format \
	check_rpc_args check_rpc_schema check_spdx_lic check_extern_c

all: build

## Install Debian/pip packages and cargo-nextest, set up hugepages (idempotent).
deps:
	@ci/setup.sh

## Clone the pinned sources, apply patches/$(BASE), build spdk_tgt, spdk_dd, bdevperf.
build: deps
	@ci/build.sh --base $(BASE) tree build

## Build and run the unit tests of blob, lvol, vbdev_lvol and util.
unit: build
	@ci/build.sh --base $(BASE) unit

## The same unit tests built with ASan (leaks included) and UBSan, beside the
## normal build (build/$(BASE)-sanitize): any sanitizer report fails them.
unit-sanitize: deps
	@ci/build.sh --base $(BASE) --sanitize tree build unit

## The main job: build what is missing, run the verification scenarios on AIO
## files in a temp dir, print the table and write JUnit XML.
verify: build
	@mkdir -p $(JUNIT_DIR)
	@$(CARGO) build -q --release -p spdk-harness --bin spdk-verify
	@SPDK_BASE=$(BASE) target/release/spdk-verify --junit $(JUNIT_DIR)/verify-$(BASE).xml

## The verify suite (or SCENARIOS) and the crash matrix's fixed seeds against
## spdk_tgt built with ASan (leaks included) and UBSan (build/$(BASE)-sanitize):
## an error kills the target, and every scenario ends with a SIGTERM that must
## exit 0, which it does not after a leak report. The ASan build gets no
## DPDK memory from hugepages here ("create bdev zero buffer failed"), so it
## runs with --no-huge (SPDK_HARNESS_NO_HUGE=1). Leak reports get whole
## allocation stacks from ASan's fast unwinder, as the sanitized build keeps
## frame pointers (ci/build.sh). In ci/nightly, not in CI.
SCENARIOS ?=
SANITIZER_ENV := SPDK_HARNESS_NO_HUGE=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=24 SPDK_HARNESS_CLEAN_EXIT=1
verify-sanitize: deps
	@ci/build.sh --base $(BASE) --sanitize tree build
	@mkdir -p $(JUNIT_DIR)
	@$(CARGO) build -q --release -p spdk-harness --bin spdk-verify
	@$(SANITIZER_ENV) SPDK_BASE=$(BASE) SPDK_TREE=$(abspath build/$(BASE)-sanitize/spdk) \
		target/release/spdk-verify --title "verify: base $(BASE) built with ASan and UBSan" \
		--junit $(JUNIT_DIR)/verify-$(BASE)-sanitize.xml $(SCENARIOS)
	@$(SANITIZER_ENV) SPDK_BASE=$(BASE) SPDK_TREE=$(abspath build/$(BASE)-sanitize/spdk) \
		target/release/spdk-verify --crash-matrix --trials $(CRASH_TRIALS) --seed $(CRASH_SEED) \
		--title "crash matrix: base $(BASE) built with ASan and UBSan" \
		--junit $(JUNIT_DIR)/crash-matrix-$(BASE)-sanitize.xml

## The crash matrix's fixed seeds: SIGKILL spdk_tgt at seeded points of each
## operation that changes an lvol store, then hold what loads to the model
## (spdk-verify --crash-matrix; CRASH_TRIALS, CRASH_SEED). ci/nightly runs 1000.
CRASH_TRIALS ?= 26
CRASH_SEED ?= 1
crash-matrix: build
	@mkdir -p $(JUNIT_DIR)
	@$(CARGO) build -q --release -p spdk-harness --bin spdk-verify
	@SPDK_BASE=$(BASE) target/release/spdk-verify --crash-matrix --trials $(CRASH_TRIALS) \
		--seed $(CRASH_SEED) --junit $(JUNIT_DIR)/crash-matrix-$(BASE).xml

## Races, many times each: stop against completion, stop against delete, and
## five more, with seeded jitter; every outcome held to the allowed set
## (spdk-verify --races; RACE_RUNS, RACE_SEED). ci/nightly runs 100 of each.
RACE_RUNS ?= 4
RACE_SEED ?= 1
races: build
	@mkdir -p $(JUNIT_DIR)
	@$(CARGO) build -q --release -p spdk-harness --bin spdk-verify
	@SPDK_BASE=$(BASE) target/release/spdk-verify --races --runs $(RACE_RUNS) --seed $(RACE_SEED) \
		--junit $(JUNIT_DIR)/races-$(BASE).xml

## The backport: build $(BACKPORT) unpatched and with patches/$(BACKPORT) (and
## master), then four runs (ci/verify-backport.sh): unpatched (each fixed bug
## must show, named), patched (all pass), checksums and disks across the three
## builds. BACKPORT_RUNS picks some (.ci/run: 2 3 4; ci/nightly: all).
BACKPORT_RUNS ?= 1 2 3 4
verify-backport: deps
	@ci/build.sh --base master tree build
	@ci/build.sh --base $(BACKPORT) --unpatched tree build
	@ci/build.sh --base $(BACKPORT) tree build
	@$(CARGO) build -q --release -p spdk-harness --bin spdk-verify
	@JUNIT_DIR=$(abspath $(JUNIT_DIR)) RUNS="$(BACKPORT_RUNS)" ci/verify-backport.sh $(BACKPORT)

## The benchmarks: not part of CI and not a test (a goal not met is reported,
## not failed). Builds what they compare with (Longhorn's base with and
## without patches/$(BACKPORT)), then measures every figure with interleaved
## repetitions and writes docs/PERFORMANCE.md; with BENCH_FIGURES=N,...
## build/bench/PERFORMANCE.md. Two targets hold 1 GiB malloc bdevs at once,
## so it asks for 8 GiB of hugepages. About 45 minutes here.
BENCH_REPS ?= 5
BENCH_SEED ?= 1
BENCH_FIGURES ?= all
BENCH_OUT ?= $(if $(filter all,$(BENCH_FIGURES)),docs/PERFORMANCE.md,build/bench/PERFORMANCE.md)
bench: build
	@HUGE_PAGES=4096 ci/setup.sh
	@ci/build.sh --base $(BACKPORT) --unpatched tree build
	@ci/build.sh --base $(BACKPORT) tree build
	@mkdir -p build/bench
	@$(CARGO) build -q --release -p spdk-harness --bin spdk-verify
	@SPDK_BASE=$(BASE) target/release/spdk-verify --bench --reps $(BENCH_REPS) --seed $(BENCH_SEED) \
		--figures $(BENCH_FIGURES) --out $(BENCH_OUT)

## All tests: SPDK unit tests of the patched libraries, the same built with
## ASan and UBSan, the harness's own tests (client, inspector, checks that a
## broken target fails), then every scenario against the running target
## (make verify), the crash matrix's fixed seeds (make crash-matrix) and the
## races (make races).
test: unit unit-sanitize harness-test lvol-tests verify crash-matrix races

## SPDK's own functional tests that patches/$(BASE) adds (test/lvol/*.sh: detach,
## snapshot checksums, esnap parents), in build/$(BASE)/spdk as SPDK's CI runs
## them, with spdk_dd for data instead of NBD (ci/lvol-tests.sh).
lvol-tests: build
	@ci/lvol-tests.sh --base $(BASE)

harness-test: build
	@SPDK_BASE=$(BASE) $(CARGO) nextest run --workspace --no-fail-fast --profile ci

patches-apply:
	@ci/patches.sh apply --base $(BASE)

patches-export:
	@ci/patches.sh export --base $(BASE)

patches-check-export:
	@ci/patches.sh check-export --base $(BASE)

patches-check-each:
	@ci/patches.sh check-each --base $(BASE)

patches-check-format:
	@ci/patches.sh check-format --base $(BASE)

## scripts/check_format.sh with only $(SERIES_CHECKERS) (what CI runs).
patches-check-format-series:
	@CHECKERS="$(SERIES_CHECKERS)" ci/patches.sh check-format --base $(BASE)

## Every check of the series: re-export, per-commit build and unit tests, style.
patches-check: patches-check-export patches-check-each patches-check-format

## The series ready for review, signed off by you (git config user.name and
## user.email; the placeholder identity is refused): every check of
## patches-check, then build/submit/$(BASE)/spdk, branch for-review, each
## commit with a Change-Id, for git push to Gerrit (refs/for/master).
patches-submit:
	@ci/patches.sh submit --base $(BASE)

clean:
	rm -rf build target
