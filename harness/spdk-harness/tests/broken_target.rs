//! The harness must fail when the target or the data misbehave: these tests
//! break things on purpose and check that the scenario reports it.

use serial_test::file_serial;
use spdk_harness::build::SpdkBuild;
use spdk_harness::lab::Faults;
use spdk_harness::scenarios::{self, by_name};
use spdk_harness::target::{Target, TargetOpts};
use spdk_harness::Error;

fn run_with(faults: Faults) -> String {
    run_scenario_with("baseline_snapshot_clone", faults)
}

fn run_scenario_with(name: &str, faults: Faults) -> String {
    let s = by_name(name).unwrap();
    match scenarios::run(&s, faults).result {
        Ok(fig) => panic!("the scenario passed despite the fault: {fig}"),
        Err(e) => e,
    }
}

#[test]
#[file_serial(spdk_target)]
fn a_wrong_byte_written_fails_the_byte_check() {
    let e = run_with(Faults {
        corrupt_write_at: Some(100),
        ..Default::default()
    });
    assert!(e.contains("data differs at byte"), "{e}");
}

#[test]
#[file_serial(spdk_target)]
fn a_wrong_byte_in_a_shared_image_fails_the_byte_check() {
    let e = run_scenario_with(
        "shared_image_one_copy",
        Faults {
            corrupt_write_at: Some(100),
            ..Default::default()
        },
    );
    assert!(
        e.contains("lvsA/image, the backing image: data differs at byte 100"),
        "{e}"
    );
}

#[test]
#[file_serial(spdk_target)]
fn a_killed_target_fails_the_scenario_and_says_so() {
    let e = run_with(Faults {
        kill_after_writes: Some(1),
        ..Default::default()
    });
    assert!(e.contains("spdk_tgt (tgt) is not running"), "{e}");
}

#[test]
#[file_serial(spdk_target)]
fn a_target_that_dies_at_start_fails_fast_with_its_log() {
    let build = SpdkBuild::from_env().expect("spdk_tgt must be built");
    let dir = tempfile::tempdir().unwrap();
    // Core 40 does not exist on the machines we run on: spdk_tgt exits at once.
    let t0 = std::time::Instant::now();
    let err =
        Target::start(&build, dir.path(), TargetOpts::new("bad", "0x10000000000")).unwrap_err();
    assert!(t0.elapsed().as_secs() < 20, "took {:?}", t0.elapsed());
    match &err {
        Error::Start { why, tail, .. } => {
            assert!(why.contains("exited"), "{err}");
            assert!(!tail.is_empty(), "the log tail must be shown: {err}");
        }
        other => panic!("expected a start error, got {other}"),
    }
}

#[test]
#[file_serial(spdk_target)]
fn stop_is_graceful_and_drop_kills() {
    let build = SpdkBuild::from_env().expect("spdk_tgt must be built");
    let dir = tempfile::tempdir().unwrap();
    let mut t = Target::start(&build, dir.path(), TargetOpts::new("t", "0x1")).unwrap();
    let (st, killed) = t.stop().unwrap();
    assert!(
        st.success() && !killed,
        "SIGTERM must stop spdk_tgt cleanly: {st}"
    );
    assert!(t.check_alive().is_err());
    t.start_again().unwrap();
    let pid = t.pid().unwrap();
    drop(t);
    // The process is reaped by Drop: /proc has no entry for it any more.
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} survived Drop"
    );
}

#[test]
#[file_serial(spdk_target)]
fn a_write_the_target_refuses_is_an_error() {
    use spdk_harness::lab::Lab;
    use spdk_rpc::methods::*;
    let mut lab = Lab::new().unwrap();
    let bdev = lab.add_disk("d", 64).unwrap();
    lab.tgt
        .ok(&BdevLvolCreateLvstore {
            bdev_name: bdev,
            lvs_name: "l".into(),
            cluster_sz: None,
            clear_method: None,
        })
        .unwrap();
    lab.tgt
        .ok(&BdevLvolCreate {
            lvol_name: "v".into(),
            size_in_mib: 8,
            thin_provision: true,
            lvs_name: "l".into(),
            clear_method: None,
        })
        .unwrap();
    lab.tgt
        .ok(&BdevLvolSetReadOnly { name: "l/v".into() })
        .unwrap();
    // spdk_dd itself exits 0 here; the harness must still see the failure.
    let e = lab.write("l/v", 0, &[1u8; 4096]).unwrap_err().to_string();
    assert!(e.contains("hit I/O errors"), "{e}");
    assert!(lab.read("l/v", 0, 4096).unwrap().iter().all(|&b| b == 0));
}

#[test]
#[file_serial(spdk_target)]
fn a_restart_attaching_in_order_checks_names_first_and_attaches_only_those() {
    use spdk_harness::lab::{Lab, Restart};
    use spdk_rpc::methods::BdevGetBdevs;
    let mut lab = Lab::new().unwrap();
    lab.add_disk("d1", 16).unwrap();
    lab.add_disk("d2", 16).unwrap();
    let e = lab
        .restart_attaching(Restart::Graceful, &["nope"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("no disk named nope"), "{e}");
    let e = lab
        .restart_attaching(Restart::Graceful, &["d1", "d1"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("named twice"), "{e}");
    assert!(lab.tgt.is_alive(), "a bad name must not stop the target");
    let names = |lab: &mut Lab| -> Vec<String> {
        let mut v: Vec<String> = lab
            .tgt
            .ok(&BdevGetBdevs::default())
            .unwrap()
            .into_iter()
            .map(|b| b.name)
            .collect();
        v.sort();
        v
    };
    lab.restart_attaching(Restart::Kill, &[]).unwrap();
    assert!(names(&mut lab).is_empty(), "{:?}", names(&mut lab));
    lab.restart_attaching(Restart::Graceful, &["d2"]).unwrap();
    assert_eq!(names(&mut lab), vec!["d2"]);
    lab.readd_disk("d1").unwrap();
    assert_eq!(names(&mut lab), vec!["d1", "d2"]);
}
