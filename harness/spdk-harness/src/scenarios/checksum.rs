//! Snapshot checksums that can be stopped: values checked against an
//! independent CRC-64/GO-ISO (the `crc` crate) over the bytes read back
//! through NVMe-oF; Longhorn's known values; the stop flow; invalidation.

use crate::data::pattern;
use crate::error::{Error, Result};
use crate::lab::{Lab, Restart, CLUSTER, MIB};
use crate::offline::on_disk;
use crate::outcome::{Scenario, CHECKSUM_UNSTOPPABLE, PASS_UNBOUNDED, RANGE_HOLES};
use crate::steps::{
    create_lvol, expect_errno, expect_interrupted, expect_rpc_error, has_ranges, oracle_checksums,
    range_answer, slow_lvstore, snapshot, start_pass, stop_running_pass, thick_lvol, Clear,
    Latency, Provision, CHECKSUM_RPCS, CRC64_GO_ISO, STOP_RPC, STOP_RPCS,
};
use crate::{ensure, ensure_eq, fail};
use spdk_rpc::methods::*;
use spdk_rpc::{Errno, RpcError};
use std::time::Instant;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "checksum_oracle",
            about: "checksums of empty, one-cluster, sparse, full and 1 GiB snapshots equal a Rust CRC-64/GO-ISO of the bytes; per cluster too where offered; after restarts",
            needs: CHECKSUM_RPCS,
            bug: None,
            run: oracle,
        },
        Scenario {
            name: "checksum_longhorn_values",
            about: "one cluster of 0xCC, one of 0xBB, both: Longhorn's known checksums",
            needs: CHECKSUM_RPCS,
            bug: None,
            run: longhorn_values,
        },
        Scenario {
            name: "checksum_stop",
            about: "stop a pass on a 1 GiB snapshot mid-way from a second connection: -EINTR, -ENODEV, -ESRCH, immediate delete",
            needs: STOP_RPCS,
            bug: Some(CHECKSUM_UNSTOPPABLE),
            run: stop,
        },
        Scenario {
            name: "checksum_pass_options",
            about: "register with a queue depth, a busy share and a rate limit: the same values, no faster than the limit; out-of-range options refused with -EINVAL and the snapshot not held; stop and get refuse the register's params",
            needs: STOP_RPCS,
            bug: Some(PASS_UNBOUNDED),
            run: pass_options,
        },
        Scenario {
            name: "checksum_invalidation",
            about: "deleting a snapshot's parent merges clusters into it: its checksum is gone, and re-registering gives the new value",
            needs: CHECKSUM_RPCS,
            bug: None,
            run: invalidation,
        },
    ]
}

fn get(lab: &mut Lab, snap: &str) -> std::result::Result<u64, RpcError> {
    lab.tgt
        .call(&BdevLvolGetSnapshotChecksum { name: snap.into() })
        .map(|c| c.checksum)
}

fn get_range(lab: &mut Lab, snap: &str, clusters: u64) -> Result<Vec<ClusterChecksum>> {
    lab.tgt.ok(&BdevLvolGetSnapshotRangeChecksums {
        name: snap.into(),
        cluster_start_index: 0,
        cluster_count: clusters,
    })
}

struct Shape {
    name: &'static str,
    mib: u64,
    provision: Provision,
    /// Clusters written (partly): what the snapshot allocates, for thin lvols.
    written: Vec<u64>,
}

fn oracle(lab: &mut Lab) -> Result<String> {
    lab.create_lvstore("disk0", "lvs0", 1600)?;
    let ranges = has_ranges(lab)?;
    let shapes = [
        Shape {
            name: "empty",
            mib: 64,
            provision: Provision::Thin,
            written: vec![],
        },
        Shape {
            name: "one",
            mib: 64,
            provision: Provision::Thin,
            written: vec![5],
        },
        Shape {
            name: "sparse",
            mib: 64,
            provision: Provision::Thin,
            written: vec![0, 3, 7, 15],
        },
        Shape {
            name: "full",
            mib: 32,
            provision: Provision::Thin,
            written: (0..8).collect(),
        },
        Shape {
            name: "gib",
            mib: 1024,
            provision: Provision::Thick,
            written: vec![0, 100, 255],
        },
    ];
    let mut expected = vec![];
    for (n, s) in shapes.iter().enumerate() {
        let vol = create_lvol(lab, "lvs0", s.name, s.mib, s.provision, Clear::Nothing)?;
        for &c in &s.written {
            lab.write(
                &vol,
                c * CLUSTER + 8192,
                &pattern(100 + n as u64 * 17 + c, 128 * 1024),
            )?;
        }
        let snap = snapshot(lab, &vol, &format!("{}-snap", s.name))?;
        let clusters = s.mib * MIB / CLUSTER;
        let allocated: Vec<u64> = if s.provision == Provision::Thin {
            s.written.clone()
        } else {
            (0..clusters).collect()
        };
        ensure_eq!(
            lab.lvol(&snap)?.allocated(),
            allocated.len() as u64,
            "allocated clusters of {snap}"
        );
        let (whole, per) = oracle_checksums(lab, &snap, &allocated)?;
        if allocated.is_empty() {
            ensure_eq!(whole, 0, "the oracle's checksum of no data");
        }

        let t0 = Instant::now();
        ensure!(
            lab.tgt.ok(&BdevLvolRegisterSnapshotChecksum {
                name: snap.clone(),
                ..Default::default()
            })?,
            "register must return true"
        );
        let secs = t0.elapsed().as_secs_f64();
        ensure_eq!(
            get(lab, &snap).map_err(rpc(&snap))?,
            whole,
            "checksum of {snap} against the Rust oracle"
        );
        // Range checksums: same whole value, one entry per cluster (0 where
        // the snapshot has not allocated it).
        if ranges {
            ensure!(
                lab.tgt.ok(&BdevLvolRegisterSnapshotRangeChecksums {
                    name: snap.clone(),
                    ..Default::default()
                })?,
                "range register must return true"
            );
            ensure_eq!(
                get(lab, &snap).map_err(rpc(&snap))?,
                whole,
                "checksum of {snap} after the range pass"
            );
            ensure_eq!(
                get_range(lab, &snap, clusters)?,
                range_answer(&per, clusters, 0, clusters),
                "per-cluster checksums of {snap} ({RANGE_HOLES})"
            );
        }
        expected.push((snap, whole, per, clusters, secs));
    }
    for how in [Restart::Graceful, Restart::Kill] {
        // The xattr on disk holds what the RPC returned.
        lab.restart_inspecting(how, |st| {
            for (snap, whole, ..) in &expected {
                let name = snap.trim_start_matches("lvs0/");
                let Some(blob) = on_disk(st, "disk0", name)? else {
                    fail!("{how:?}: {snap} is not on disk");
                };
                ensure_eq!(
                    blob.checksum(),
                    Some(*whole),
                    "{how:?}: checksum xattr of {snap} on disk"
                );
            }
            Ok(())
        })?;
        for (snap, whole, per, clusters, _) in &expected {
            ensure_eq!(
                get(lab, snap).map_err(rpc(snap))?,
                *whole,
                "checksum of {snap} after a {how:?} restart"
            );
            if ranges {
                ensure_eq!(
                    get_range(lab, snap, *clusters)?,
                    range_answer(per, *clusters, 0, *clusters),
                    "per-cluster checksums of {snap} after a {how:?} restart"
                );
            }
        }
    }
    let gib = expected.last().unwrap();
    Ok(format!(
        "{} shapes equal the oracle{}, before and after restarts; 1 GiB registered in {:.2}s",
        expected.len(),
        if ranges {
            ", whole and per cluster"
        } else {
            " (whole; this target offers no range checksums)"
        },
        gib.4
    ))
}

fn rpc(what: &str) -> impl Fn(RpcError) -> Error + '_ {
    move |e| Error::Check(format!("{what}: {e}"))
}

fn longhorn_values(lab: &mut Lab) -> Result<String> {
    lab.create_lvstore("disk0", "lvs0", 128)?;
    let vol = create_lvol(lab, "lvs0", "vol", 16, Provision::Thin, Clear::Nothing)?;
    lab.write(&vol, 0, &vec![0xcc; CLUSTER as usize])?;
    let s1 = snapshot(lab, &vol, "cc")?;
    lab.write(&vol, CLUSTER, &vec![0xbb; CLUSTER as usize])?;
    let s2 = snapshot(lab, &vol, "bb")?;
    let both = create_lvol(lab, "lvs0", "both", 16, Provision::Thin, Clear::Nothing)?;
    lab.write(&both, 0, &vec![0xcc; CLUSTER as usize])?;
    lab.write(&both, CLUSTER, &vec![0xbb; CLUSTER as usize])?;
    let s3 = snapshot(lab, &both, "ccbb")?;
    for (snap, want) in [
        (&s1, 828947163827886523u64),
        (&s2, 7161606974051404010),
        (&s3, 440587436939872369),
    ] {
        lab.tgt.ok(&BdevLvolRegisterSnapshotChecksum {
            name: snap.clone(),
            ..Default::default()
        })?;
        ensure_eq!(
            get(lab, snap).map_err(rpc(snap))?,
            want,
            "checksum of {snap} (Longhorn's value)"
        );
    }
    // The Rust oracle agrees on the constants.
    ensure_eq!(
        CRC64_GO_ISO.checksum(&vec![0xcc; CLUSTER as usize]),
        828947163827886523,
        "the oracle's value for one cluster of 0xCC"
    );
    Ok("0xCC → 828947163827886523, 0xBB → 7161606974051404010, both → 440587436939872369".into())
}

fn stop(lab: &mut Lab) -> Result<String> {
    slow_lvstore(lab, "disk0", "lvs0", 2400, Latency::reads(20_000))?;
    let big = thick_lvol(lab, "lvs0", "big", 1024)?;
    let span = 4 * CLUSTER;
    let mut model = vec![0u8; span as usize];
    let p = pattern(61, 256 * 1024);
    lab.write(&big, 0, &p)?;
    model[..p.len()].copy_from_slice(&p);
    let other = create_lvol(lab, "lvs0", "other", 64, Provision::Thin, Clear::Nothing)?;
    let other_data = pattern(62, 512 * 1024);
    lab.write(&other, CLUSTER, &other_data)?;
    let snap = snapshot(lab, &big, "big-snap")?;
    let free_before = lab.lvstore("lvs0")?.free_clusters;

    // The pass runs on a connection of its own; stop comes from another.
    let t0 = Instant::now();
    let (mut conn, pending) = start_pass(lab, &snap)?;
    let stop_after = stop_running_pass(lab, &snap)?;
    let stopped_in = t0.elapsed();
    expect_interrupted(&mut conn, pending, &snap)?;

    expect_rpc_error(
        "get after a stopped pass",
        lab.tgt
            .call(&BdevLvolGetSnapshotChecksum { name: snap.clone() }),
        -(Errno::ENODEV as i32),
        "No such device",
    )?;
    expect_rpc_error(
        "a second stop",
        lab.tgt
            .call(&BdevLvolStopSnapshotChecksum { name: snap.clone() }),
        -(Errno::ESRCH as i32),
        "No such process",
    )?;

    // Right after stop's answer, the snapshot deletes without -EBUSY.
    let t1 = Instant::now();
    ensure!(
        lab.tgt
            .call(&BdevLvolDelete { name: snap.clone() })
            .map_err(|e| Error::Check(format!("delete of {snap} right after stop: {e}")))?,
        "delete must return true"
    );
    let delete_secs = t1.elapsed().as_secs_f64();
    ensure!(
        lab.lvol(&snap).is_err(),
        "{snap} must be gone after the delete"
    );

    ensure_eq!(
        lab.lvstore("lvs0")?.free_clusters,
        free_before,
        "free clusters (the snapshot merged into big)"
    );

    // The lvstore unloads cleanly: a graceful stop exits 0 and it loads again
    // (from the AIO disk directly, without the delay bdev).
    lab.restart(Restart::Graceful)?;
    // Other lvols are unaffected.
    let got = lab.read(&big, 0, span)?;
    crate::data::expect_bytes(
        "lvs0/big after the stop, the delete and a restart",
        &got,
        &model,
    )?;
    let got = lab.read(&other, CLUSTER, other_data.len() as u64)?;
    crate::data::expect_bytes("lvs0/other", &got, &other_data)?;
    Ok(format!(
        "pass interrupted {:.0} ms after it was sent (stop answered {:.0} ms after its first try, once the pass had ended); delete right after took {:.0} ms",
        stopped_in.as_secs_f64() * 1000.0,
        stop_after.as_secs_f64() * 1000.0,
        delete_secs * 1000.0
    ))
}

fn invalidation(lab: &mut Lab) -> Result<String> {
    lab.create_lvstore("disk0", "lvs0", 256)?;
    let head = create_lvol(lab, "lvs0", "head", 32, Provision::Thin, Clear::Nothing)?;
    lab.write(&head, 0, &pattern(71, 64 * 1024))?;
    let snap1 = snapshot(lab, &head, "snap1")?;
    lab.write(&head, CLUSTER, &pattern(72, 64 * 1024))?;
    let snap2 = snapshot(lab, &head, "snap2")?;
    let ranges = has_ranges(lab)?;
    if ranges {
        lab.tgt.ok(&BdevLvolRegisterSnapshotRangeChecksums {
            name: snap2.clone(),
            ..Default::default()
        })?;
    } else {
        lab.tgt.ok(&BdevLvolRegisterSnapshotChecksum {
            name: snap2.clone(),
            ..Default::default()
        })?;
    }
    let (before, _) = oracle_checksums(lab, &snap2, &[1])?;
    ensure_eq!(
        get(lab, &snap2).map_err(rpc(&snap2))?,
        before,
        "checksum of snap2 (cluster 1 only)"
    );

    // Deleting snap1 moves its cluster 0 into snap2, its only clone.
    lab.tgt.ok(&BdevLvolDelete {
        name: snap1.clone(),
    })?;
    ensure_eq!(
        lab.lvol(&snap2)?.allocated(),
        2,
        "clusters of snap2 after the merge"
    );
    for how in [None, Some(Restart::Kill)] {
        if let Some(h) = how {
            // On disk too, the xattr is gone.
            lab.restart_inspecting(h, |st| {
                let Some(blob) = on_disk(st, "disk0", "snap2")? else {
                    fail!("snap2 is not on disk");
                };
                ensure_eq!(
                    blob.checksum(),
                    None,
                    "checksum xattr of snap2 on disk after the merge"
                );
                Ok(())
            })?;
        }
        expect_rpc_error(
            &format!("get of snap2's checksum after the merge ({how:?})"),
            lab.tgt.call(&BdevLvolGetSnapshotChecksum {
                name: snap2.clone(),
            }),
            -(Errno::ENODEV as i32),
            "No such device",
        )?;
        if ranges {
            expect_rpc_error(
                "get of snap2's range checksums after the merge",
                lab.tgt.call(&BdevLvolGetSnapshotRangeChecksums {
                    name: snap2.clone(),
                    cluster_start_index: 0,
                    cluster_count: 8,
                }),
                -(Errno::ENODEV as i32),
                "No such device",
            )?;
        }
    }
    lab.tgt.ok(&BdevLvolRegisterSnapshotChecksum {
        name: snap2.clone(),
        ..Default::default()
    })?;
    let (after, _) = oracle_checksums(lab, &snap2, &[0, 1])?;
    ensure_eq!(
        get(lab, &snap2).map_err(rpc(&snap2))?,
        after,
        "checksum of snap2 re-registered (clusters 0 and 1)"
    );
    ensure!(
        after != before,
        "the new checksum must differ from the old one"
    );

    // Deleting its child (head) changes none of snap2's data: the value stays.
    lab.unexport(&head)?;
    lab.tgt.ok(&BdevLvolDelete { name: head })?;
    ensure_eq!(
        get(lab, &snap2).map_err(rpc(&snap2))?,
        after,
        "checksum of snap2 after its child was deleted"
    );
    Ok(format!(
        "{before:#018x} removed by the merge; re-registered {after:#018x} = oracle"
    ))
}

/// A register request with these options.
fn with_options(
    snap: &str,
    queue_depth: Option<u64>,
    max_read_bytes_per_sec: Option<u64>,
    busy_share: Option<u64>,
) -> BdevLvolRegisterSnapshotChecksum {
    BdevLvolRegisterSnapshotChecksum {
        name: snap.into(),
        options: ChecksumPassOptions {
            queue_depth,
            max_read_bytes_per_sec,
            busy_share,
        },
    }
}

fn pass_options(lab: &mut Lab) -> Result<String> {
    lab.create_lvstore("disk0", "lvs0", 200)?;
    let vol = thick_lvol(lab, "lvs0", "vol", 64)?;
    for c in 0..16 {
        lab.write(&vol, c * CLUSTER, &pattern(700 + c, 64 * 1024))?;
    }
    let snap = snapshot(lab, &vol, "snap")?;
    let ranges = has_ranges(lab)?;

    // Step: the defaults, then every option at an edge of its range.
    ensure!(
        lab.tgt.ok(&with_options(&snap, None, None, None))?,
        "register must return true"
    );
    let value = get(lab, &snap).map_err(rpc(&snap))?;
    for (q, b) in [(1, 100), (64, 1), (3, 50)] {
        let r = lab.tgt.call(&with_options(&snap, Some(q), None, Some(b)));
        match r {
            Ok(true) => {}
            Ok(false) => fail!("register with queue_depth {q}, busy_share {b} returned false"),
            Err(e) => fail!(
                "{PASS_UNBOUNDED}: register with queue_depth {q}, busy_share {b} refused: {e}"
            ),
        }
        ensure_eq!(
            get(lab, &snap).map_err(rpc(&snap))?,
            value,
            "the checksum with queue_depth {q}, busy_share {b}"
        );
    }
    if ranges {
        let held: Vec<u64> = (0..16).collect();
        lab.tgt.ok(&BdevLvolRegisterSnapshotRangeChecksums {
            name: snap.clone(),
            options: ChecksumPassOptions {
                queue_depth: Some(2),
                busy_share: Some(10),
                ..Default::default()
            },
        })?;
        let (_, per) = oracle_checksums(lab, &snap, &held)?;
        let got = get_range(lab, &snap, 16)?;
        ensure_eq!(
            got,
            per,
            "per-cluster checksums of a range pass with options"
        );
    }

    // Step: a rate limit of 16 MiB/s over 64 MiB, one cluster of burst: the
    // pass can't end before 60 MiB / 16 MiB/s = 3.75 s.
    let t0 = Instant::now();
    lab.tgt
        .ok(&with_options(&snap, None, Some(16 * MIB), None))
        .map_err(|e| Error::Check(format!("{PASS_UNBOUNDED}: register with a rate limit: {e}")))?;
    let took = t0.elapsed();
    ensure!(
        took >= std::time::Duration::from_millis(3500),
        "a pass limited to 16 MiB/s over 64 MiB took {took:?}: the limit was not applied"
    );
    ensure_eq!(
        get(lab, &snap).map_err(rpc(&snap))?,
        value,
        "the checksum of the rate-limited pass"
    );

    // Step: out of range, refused before the pass holds the snapshot.
    for (what, req) in [
        ("queue_depth 0", with_options(&snap, Some(0), None, None)),
        ("queue_depth 65", with_options(&snap, Some(65), None, None)),
        ("busy_share 0", with_options(&snap, None, None, Some(0))),
        ("busy_share 101", with_options(&snap, None, None, Some(101))),
    ] {
        expect_errno(
            &format!("register with {what}"),
            lab.tgt.call(&req),
            Errno::EINVAL,
        )
        .map_err(|e| Error::Check(format!("{PASS_UNBOUNDED}: {e}")))?;
    }
    // Too large for their types: the request can't be decoded.
    for (what, req) in [
        ("busy_share 256", with_options(&snap, None, None, Some(256))),
        (
            "queue_depth 2^32",
            with_options(&snap, Some(1 << 32), None, None),
        ),
    ] {
        ensure!(
            lab.tgt.call(&req).is_err(),
            "register with {what} must fail"
        );
    }
    // The snapshot is free: a default pass runs at once, with the same value.
    lab.tgt.ok(&with_options(&snap, None, None, None))?;
    ensure_eq!(
        get(lab, &snap).map_err(rpc(&snap))?,
        value,
        "the checksum after refusals"
    );

    // Step: stop and get decode their own params.
    let stop = lab.tgt.rpc()?.call_raw(
        STOP_RPC,
        Some(serde_json::json!({"name": snap, "queue_depth": 4})),
    );
    ensure!(
        stop.is_err(),
        "stop with queue_depth must be refused, got {stop:?}"
    );
    let got = lab.tgt.rpc()?.call_raw(
        "bdev_lvol_get_snapshot_checksum",
        Some(serde_json::json!({"name": snap, "busy_share": 5})),
    );
    ensure!(
        got.is_err(),
        "get with busy_share must be refused, got {got:?}"
    );
    ensure_eq!(
        get(lab, &snap).map_err(rpc(&snap))?,
        value,
        "the checksum at the end"
    );
    Ok(format!(
        "3 option sets and the defaults give one value; 16 MiB/s over 64 MiB took {:.2}s; 6 out-of-range values refused, snapshot not held; stop and get refuse register's params",
        took.as_secs_f64()
    ))
}
