//! Each verification scenario as a test. Targets are exclusive: the file lock
//! keeps two tests (or test binaries) from running SPDK processes at once on
//! the two shared cores, and each test has a target of its own.

use rstest::rstest;
use serial_test::file_serial;
use spdk_harness::scenarios::run_or_panic;

#[rstest]
#[case::baseline_snapshot_clone("baseline_snapshot_clone")]
#[case::baseline_restart_graceful("baseline_restart_graceful")]
#[case::baseline_restart_sigkill("baseline_restart_sigkill")]
#[case::baseline_bad_input("baseline_bad_input")]
#[case::detach_basic("detach_basic")]
#[case::detach_chain_rebuild("detach_chain_rebuild")]
#[case::detach_bad_input("detach_bad_input")]
#[case::checksum_oracle("checksum_oracle")]
#[case::checksum_longhorn_values("checksum_longhorn_values")]
#[case::checksum_stop("checksum_stop")]
#[case::checksum_invalidation("checksum_invalidation")]
#[case::busy_delete_checksum("busy_delete_checksum")]
#[case::busy_delete_esnap_parent("busy_delete_esnap_parent")]
#[case::busy_delete_shallow_copy("busy_delete_shallow_copy")]
#[case::shared_image_one_copy("shared_image_one_copy")]
#[case::shared_image_load_order("shared_image_load_order")]
#[case::shared_image_remove_disk("shared_image_remove_disk")]
#[case::shared_image_delete_refused("shared_image_delete_refused")]
#[case::shared_image_detach_refused("shared_image_detach_refused")]
#[file_serial(spdk_target)]
fn scenario(#[case] name: &str) {
    let fig = run_or_panic(name);
    eprintln!("{name}: {fig}");
}

#[test]
fn every_scenario_has_a_test_case() {
    let src = include_str!("scenarios.rs");
    for s in spdk_harness::scenarios::all() {
        assert!(
            src.contains(&format!("#[case::{}(\"{}\")]", s.name, s.name)),
            "scenario {} has no #[case] in tests/scenarios.rs",
            s.name
        );
    }
}
