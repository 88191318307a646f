//! Longhorn's contract, end to end: what the v2 engine
//! (longhorn/longhorn-spdk-engine, through go-spdk-helper) does with our
//! answers, replayed step for step.
//!
//! - `longhorn_delta_rebuild`: `rebuildingDstRangeShallowCopy` in
//!   `pkg/spdk/replica.go` compares two replicas' range checksums in chunks of
//!   256 clusters, for each index of the source's answer; the clusters it
//!   flags are then copied from the source, or unmapped where the source has
//!   none, into the destination's rebuilding lvol, into which the
//!   destination's old snapshot was merged.
//! - `longhorn_range_bounds`: the engine's eligibility probe (a get of
//!   clusters (0, 1)) and requests outside the snapshot.
//! - `longhorn_stop_stalled`: `stopSnapshotHash` and `waitSnapshotHashStopped`
//!   call the stop, then call it every 500 ms for up to 10 s: `true` is "still
//!   running", -ESRCH or -ENODEV "gone". On a device whose reads stall.
//! - `longhorn_foreign_checksum_xattr`: go-spdk-helper's listing
//!   (`BdevLvolGetWithFilter`) gets the checksum of every snapshot and accepts
//!   only -ENODEV as "none"; Longhorn v1.8's backing images carry a `checksum`
//!   xattr of their own (the image's SHA-512, 129 bytes).

use crate::data::{expect_bytes, pattern};
use crate::error::{Error, Result};
use crate::lab::disk_edit::add_xattr;
use crate::lab::Restart;
use crate::lab::{Lab, CLUSTER, MIB};
use crate::offline::on_disk;
use crate::outcome::{Scenario, FOREIGN_CHECKSUM, RANGE_HOLES, STOP_UNBOUNDED};
use crate::steps::{
    backing_image_sha512, backing_image_snapshot, clone_snapshot, errors_logged_since,
    expect_errno, expect_interrupted, has_ranges, log_mark, oracle_checksums, range_answer,
    set_read_latency, slow_lvstore, snapshot, start_pass, thick_lvol, thin_lvol, Latency,
    CHECKSUM_RPCS, RANGE_RPCS, STOP_RPCS,
};
use crate::{ensure, ensure_eq, fail};
use spdk_rpc::methods::*;
use spdk_rpc::{Errno, RpcError};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

const REBUILD_RPCS: &[&str] = &[
    "bdev_lvol_register_snapshot_checksum",
    "bdev_lvol_get_snapshot_checksum",
    "bdev_lvol_register_snapshot_range_checksums",
    "bdev_lvol_get_snapshot_range_checksums",
];

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "longhorn_delta_rebuild",
            about: "Longhorn's delta rebuild replayed: two replicas' snapshots differ in wrong bytes, a cluster only B holds, a cluster only A holds, over two 256-cluster chunks; the engine's comparison flags exactly those; repaired, B reads as A and the checksums agree",
            needs: REBUILD_RPCS,
            bug: Some(RANGE_HOLES),
            run: delta_rebuild,
        },
        Scenario {
            name: "longhorn_range_bounds",
            about: "the engine's probe (0, 1) fails before a register and succeeds after, whatever cluster 0 holds; ranges past the end answer []; a count of 0 or huge answers -EINVAL; the data stays",
            needs: RANGE_RPCS,
            bug: Some(RANGE_HOLES),
            run: range_bounds,
        },
        Scenario {
            name: "longhorn_foreign_checksum_xattr",
            about: "a snapshot carries Longhorn v1.8's backing-image `checksum` xattr (a 129-byte SHA-512): get answers -ENODEV with no error logged, the listing works, a register is refused with -EEXIST, a merge into it and a restart keep the value",
            needs: CHECKSUM_RPCS,
            bug: Some(FOREIGN_CHECKSUM),
            run: foreign_checksum,
        },
        Scenario {
            name: "longhorn_stop_stalled",
            about: "a checksum pass whose reads stall for 6 s: every stop answers true within the 2 s bound, the engine's 500 ms polling loop sees -ESRCH once the reads return, and the delete goes through",
            needs: STOP_RPCS,
            bug: Some(STOP_UNBOUNDED),
            run: stop_stalled,
        },
    ]
}

// ------------------------------------------------------- delta rebuild

/// The engine's chunk: `lvolRangeShallowCopyLength`.
const ENGINE_CHUNK: u64 = 256;
/// Clusters of the replicas' volume: two chunks, the second partial.
const VOL_CLUSTERS: u64 = 272;

/// The range checksums of `snap` as go-spdk-helper's
/// `BdevLvolGetRangeChecksums` returns them: a map from cluster index.
fn range_map(lab: &mut Lab, snap: &str, start: u64, count: u64) -> Result<HashMap<u64, u64>> {
    let v = lab.tgt.ok(&BdevLvolGetSnapshotRangeChecksums {
        name: snap.into(),
        cluster_start_index: start,
        cluster_count: count,
    })?;
    Ok(v.into_iter()
        .map(|c| (c.cluster_index, c.checksum))
        .collect())
}

/// `rebuildingDstRangeShallowCopy`, step for step: walk the volume's
/// clusters in chunks of 256; get the destination's map, then the source's;
/// for each index of the source's map, a mismatch when the destination's
/// value (0 when it has no entry) differs. Sorted, as the engine sorts.
fn engine_mismatches(lab: &mut Lab, src: &str, dst: &str, total: u64) -> Result<Vec<u64>> {
    let (mut offset, mut count) = (0, ENGINE_CHUNK);
    let mut mismatching = vec![];
    while offset < total {
        if offset + count > total {
            count = total - offset;
        }
        let dst_map = range_map(lab, dst, offset, count)?;
        let src_map = range_map(lab, src, offset, count)?;
        for (idx, v) in &src_map {
            if dst_map.get(idx).copied().unwrap_or(0) != *v {
                mismatching.push(*idx);
            }
        }
        offset += count;
    }
    mismatching.sort();
    Ok(mismatching)
}

/// Write cluster `c` of `vol` with bytes of `seed` (a whole cluster: a
/// range checksum covers whole clusters).
fn fill_cluster(lab: &mut Lab, vol: &str, c: u64, seed: u64) -> Result<()> {
    lab.write(vol, c * CLUSTER, &pattern(seed, CLUSTER as usize))
}

fn delta_rebuild(lab: &mut Lab) -> Result<String> {
    let mib = VOL_CLUSTERS * CLUSTER / MIB;
    // The clusters of the snapshot under rebuild, by what differs.
    let same: &[u64] = &[5, 260]; // (d) both hold, equal bytes
    let wrong: &[u64] = &[7, 266]; // (a) both hold, B's bytes are wrong
    let only_b: &[u64] = &[12, 262]; // (b) B holds (stale), A does not
    let only_a: &[u64] = &[9, 270]; // (c) A holds, B does not
                                    // An older snapshot both replicas share: cluster 0 (the engine's probe
                                    // reads cluster 0, which the snapshot under rebuild does not hold), 9 and 262.
    let shared: &[u64] = &[0, 9, 262];

    let mut snaps = vec![];
    for (r, lvs) in [("A", "lvsA"), ("B", "lvsB")] {
        lab.create_lvstore(&format!("disk{r}"), lvs, 256)?;
        let vol = thin_lvol(lab, lvs, "vol", mib)?;
        for &c in shared {
            fill_cluster(lab, &vol, c, 1000 + c)?;
        }
        snapshot(lab, &vol, "snap0")?;
        for &c in same.iter().chain(wrong) {
            fill_cluster(lab, &vol, c, 2000 + c)?;
        }
        let own = if r == "A" { only_a } else { only_b };
        for &c in own {
            fill_cluster(lab, &vol, c, 3000 + c)?;
        }
        if r == "B" {
            // B's copy of the (a) clusters went wrong.
            for &c in wrong {
                fill_cluster(lab, &vol, c, 4000 + c)?;
            }
        }
        let snap = snapshot(lab, &vol, "snap1")?;
        ensure!(
            lab.tgt.ok(&BdevLvolRegisterSnapshotRangeChecksums {
                name: snap.clone(),
                ..Default::default()
            })?,
            "range register of {snap} must return true"
        );
        // The engine's eligibility probe, on both sides: it must not fail
        // (its answer's shape is longhorn_range_bounds's).
        range_map(lab, &snap, 0, 1).map_err(|e| {
            Error::Check(format!(
                "the engine's probe (0, 1) of {snap}, whose cluster 0 is its parent's: {e}"
            ))
        })?;
        snaps.push(snap);
    }
    let (a, b) = (snaps[0].clone(), snaps[1].clone());

    // The engine's comparison, the source being A.
    let got = engine_mismatches(lab, &a, &b, VOL_CLUSTERS)?;
    let want: BTreeSet<u64> = wrong.iter().chain(only_b).chain(only_a).copied().collect();
    let got_set: BTreeSet<u64> = got.iter().copied().collect();
    if got_set != want {
        let missed: Vec<u64> = want.difference(&got_set).copied().collect();
        let extra: Vec<u64> = got_set.difference(&want).copied().collect();
        let why = if missed.iter().all(|c| only_b.contains(c)) && extra.is_empty() {
            format!(" ({RANGE_HOLES})")
        } else {
            String::new()
        };
        fail!(
            "Longhorn's delta rebuild flags clusters {got:?}; it must flag {want:?}: missed {missed:?}, extra {extra:?}{why}"
        );
    }
    ensure_eq!(got.len(), got_set.len(), "flagged clusters are distinct");

    // Repair B as the engine does: B's head goes (the rebuilding lvol takes
    // its place); B's old snapshot is merged into the rebuilding lvol, whose
    // parent is B's snap0; each flagged cluster is then copied from A's snap1,
    // or given back where A's snap1 has none (it then reads B's snap0, equal
    // to A's). SPDK can't give a cluster of a lvol that has a parent back
    // (an unmap leaves it allocated), so the merge is replayed cluster by
    // cluster: the rebuilding lvol takes B's old clusters but the flagged
    // ones. A cluster the comparison missed keeps B's stale bytes.
    let src_entries = range_map(lab, &a, 0, VOL_CLUSTERS)?;
    let dst_entries = range_map(lab, &b, 0, VOL_CLUSTERS)?;
    lab.tgt.ok(&BdevLvolDelete {
        name: "lvsB/vol".into(),
    })?;
    let rebuild = clone_snapshot(lab, "lvsB/snap0", "rebuild")?;
    let (mut kept, mut copied, mut given_back) = (0, 0, 0);
    for c in 0..VOL_CLUSTERS {
        let held = |m: &HashMap<u64, u64>| m.get(&c).copied().unwrap_or(0) != 0;
        let from = if got.contains(&c) {
            if held(&src_entries) {
                copied += 1;
                Some(&a)
            } else {
                given_back += 1;
                None
            }
        } else if held(&dst_entries) {
            kept += 1;
            Some(&b)
        } else {
            None
        };
        if let Some(from) = from {
            let bytes = lab.read(from, c * CLUSTER, CLUSTER)?;
            lab.write(&rebuild, c * CLUSTER, &bytes)?;
        }
    }
    lab.unexport(&b)?;
    lab.tgt.ok(&BdevLvolDelete { name: b.clone() })?;
    lab.unexport(&rebuild)?;
    let b2 = snapshot(lab, &rebuild, "snap1")?;

    // B's snapshot reads as A's, every byte of the volume.
    let want_bytes = lab.read(&a, 0, VOL_CLUSTERS * CLUSTER)?;
    let got_bytes = lab.read(&b2, 0, VOL_CLUSTERS * CLUSTER)?;
    expect_bytes(
        &format!("{b2} rebuilt against {a}"),
        &got_bytes,
        &want_bytes,
    )?;
    ensure_eq!(
        lab.lvol(&b2)?.allocated(),
        lab.lvol(&a)?.allocated(),
        "clusters of {b2} rebuilt against {a}'s"
    );
    // The checksums agree, whole and per cluster.
    let mut whole = vec![];
    for snap in [&a, &b2] {
        lab.tgt.ok(&BdevLvolRegisterSnapshotRangeChecksums {
            name: snap.clone(),
            ..Default::default()
        })?;
        whole.push(
            lab.tgt
                .ok(&BdevLvolGetSnapshotChecksum { name: snap.clone() })?
                .checksum,
        );
    }
    ensure_eq!(whole[1], whole[0], "whole checksum of {b2} against {a}'s");
    ensure!(
        engine_mismatches(lab, &a, &b2, VOL_CLUSTERS)?.is_empty(),
        "after the repair the engine still flags clusters of {b2}"
    );
    Ok(format!(
        "flagged {got:?} of {VOL_CLUSTERS} clusters (wrong bytes, only B, only A); {copied} copied from A, {given_back} given back, {kept} kept; rebuilt B = A byte for byte, checksum {:#018x}",
        whole[0]
    ))
}

// -------------------------------------------------------- range bounds

fn range(
    lab: &mut Lab,
    snap: &str,
    start: u64,
    count: u64,
) -> std::result::Result<Vec<ClusterChecksum>, RpcError> {
    lab.tgt.call(&BdevLvolGetSnapshotRangeChecksums {
        name: snap.into(),
        cluster_start_index: start,
        cluster_count: count,
    })
}

/// The answer for `(start, count)` is [`range_answer`]'s for a snapshot of
/// `clusters` clusters whose allocated ones have the values `per`.
fn expect_range(
    lab: &mut Lab,
    snap: &str,
    (per, clusters): (&[ClusterChecksum], u64),
    (start, count): (u64, u64),
    when: &str,
) -> Result<()> {
    let got = range(lab, snap, start, count)
        .map_err(|e| Error::Check(format!("range ({start}, {count}) {when}: {e}")))?;
    ensure_eq!(
        got,
        range_answer(per, clusters, start, count),
        "range ({start}, {count}) of a snapshot of {clusters} clusters {when} ({RANGE_HOLES})"
    );
    Ok(())
}

fn range_bounds(lab: &mut Lab) -> Result<String> {
    lab.create_lvstore("disk0", "lvs0", 256)?;
    let vol = thin_lvol(lab, "lvs0", "vol", 64)?;
    let clusters = 64 * MIB / CLUSTER;
    // Clusters 2 and 5 only: cluster 0 is not allocated.
    let held = [2u64, 5];
    for &c in &held {
        fill_cluster(lab, &vol, c, 500 + c)?;
    }
    let snap = snapshot(lab, &vol, "snap")?;

    // Before a register the probe fails as the engine expects (-ENODEV).
    expect_errno(
        "the engine's probe (0, 1) before any register",
        range(lab, &snap, 0, 1),
        Errno::ENODEV,
    )?;
    // A whole-only register does not make it eligible.
    lab.tgt.ok(&BdevLvolRegisterSnapshotChecksum {
        name: snap.clone(),
        ..Default::default()
    })?;
    expect_errno(
        "the engine's probe (0, 1) after a whole-only register",
        range(lab, &snap, 0, 1),
        Errno::ENODEV,
    )?;
    lab.tgt.ok(&BdevLvolRegisterSnapshotRangeChecksums {
        name: snap.clone(),
        ..Default::default()
    })?;
    let (_, per) = oracle_checksums(lab, &snap, &held)?;

    // The probe succeeds although cluster 0 is not allocated.
    let probe = range(lab, &snap, 0, 1)
        .map_err(|e| Error::Check(format!("the engine's probe (0, 1) after the register: {e}")))?;
    ensure_eq!(
        probe,
        range_answer(&per, clusters, 0, 1),
        "the engine's probe (0, 1), cluster 0 unallocated ({RANGE_HOLES})"
    );
    // Every cluster of a range, 0 for those not allocated.
    for r in [(0, clusters), (1, 3), (5, 1), (10, 6)] {
        expect_range(lab, &snap, (&per, clusters), r, "inside it")?;
    }
    // Past the end: stops at the last cluster, or answers [].
    let past: [(u64, u64); 4] = [
        (clusters - 2, 100),
        (clusters, 1),
        (clusters + 1000, 256),
        (u64::MAX, 1),
    ];
    for r in past {
        expect_range(lab, &snap, (&per, clusters), r, "past the end")?;
    }
    // A count of 0, and counts no answer should allocate: -EINVAL, at once.
    for (start, count) in [(0, 0), (0, 65537), (0, u64::MAX), (u64::MAX, u64::MAX)] {
        let t0 = Instant::now();
        let e = expect_errno(
            &format!("range ({start}, {count})"),
            range(lab, &snap, start, count),
            Errno::EINVAL,
        )?;
        ensure!(
            e.message().is_some_and(|m| m.contains("cluster_count")),
            "range ({start}, {count}): the error should name cluster_count: {e}"
        );
        ensure!(
            t0.elapsed() < Duration::from_secs(2),
            "range ({start}, {count}) took {:?}",
            t0.elapsed()
        );
    }
    // The largest count allowed answers what exists.
    expect_range(
        lab,
        &snap,
        (&per, clusters),
        (0, 65536),
        "at the largest count",
    )?;
    // Not a snapshot's name: -ENODEV.
    expect_errno(
        "range of an unknown lvol",
        range(lab, "lvs0/nothing", 0, 1),
        Errno::ENODEV,
    )?;
    // The target is alive and the data intact.
    lab.tgt.check_alive()?;
    for &c in &held {
        let got = lab.read(&snap, c * CLUSTER, CLUSTER)?;
        expect_bytes(
            &format!("cluster {c} of {snap}"),
            &got,
            &pattern(500 + c, CLUSTER as usize),
        )?;
    }
    expect_range(
        lab,
        &snap,
        (&per, clusters),
        (0, clusters),
        "after the bad requests",
    )?;
    Ok(format!(
        "probe (0, 1) -ENODEV before, [{{0, 0}}] after; {} past-the-end ranges cut or []; count 0 and above 65536 -EINVAL; data intact",
        past.len()
    ))
}

// ------------------------------------------------------ stalled stops

/// The stop's bound (2 s in the series), with room for a busy machine.
const STOP_BOUND: Duration = Duration::from_millis(3500);
/// How long the device holds each read once it stalls.
const STALL_US: u64 = 6_000_000;

fn stop_stalled(lab: &mut Lab) -> Result<String> {
    let slow = slow_lvstore(lab, "disk0", "lvs0", 320, Latency::reads(0))?;
    let head = thick_lvol(lab, "lvs0", "head", 64)?;
    lab.write(&head, 0, &pattern(61, 256 * 1024))?;
    lab.unexport(&head)?;
    let snap = snapshot(lab, &head, "snap")?;

    // The device stops answering reads for 6 s; a pass starts and stalls.
    set_read_latency(lab, &slow, STALL_US)?;
    let (mut conn, pass) = start_pass(lab, &snap)?;
    let t0 = Instant::now();

    // The engine's stopSnapshotHash: one stop, whatever it answers but an
    // error, then waitSnapshotHashStopped: a stop every 500 ms for up to 10 s.
    let mut answers: Vec<(Duration, Duration, std::result::Result<bool, RpcError>)> = vec![];
    let mut gone = None;
    let deadline = Duration::from_secs(10);
    while t0.elapsed() < deadline + STOP_BOUND {
        let sent = t0.elapsed();
        let c0 = Instant::now();
        let r = lab
            .tgt
            .call(&BdevLvolStopSnapshotChecksum { name: snap.clone() });
        let took = c0.elapsed();
        let done = match &r {
            Ok(true) => false,
            Ok(false) => fail!("stop of {snap} answered false"),
            Err(e) if matches!(e.errno(), Some(Errno::ESRCH) | Some(Errno::ENODEV)) => true,
            Err(e) => fail!("stop of {snap} at {sent:?}: {e}"),
        };
        if took > STOP_BOUND {
            fail!(
                "stop of {snap} sent {:.1} s into a pass whose reads stall for {} s answered after {:.1} s, beyond the {:.1} s bound ({STOP_UNBOUNDED})",
                sent.as_secs_f64(),
                STALL_US / 1_000_000,
                took.as_secs_f64(),
                STOP_BOUND.as_secs_f64()
            );
        }
        answers.push((sent, took, r));
        if done {
            // The first stop may still meet the pass opening: -ESRCH then.
            if answers.iter().any(|(_, _, r)| matches!(r, Ok(true))) {
                gone = Some(t0.elapsed());
                break;
            }
        } else {
            // The engine's pollInterval: what is replayed, not a wait for a
            // condition (each stop itself waits for the pass, up to its bound).
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    let Some(gone) = gone else {
        fail!(
            "the engine's polling loop never saw the pass of {snap} gone within {deadline:?}: {} stops, all true",
            answers.len()
        );
    };
    let trues = answers
        .iter()
        .filter(|(_, _, r)| matches!(r, Ok(true)))
        .count();
    ensure!(
        trues >= 2,
        "while the reads stalled the stops must keep answering true: {answers:?}"
    );
    ensure!(
        gone <= deadline,
        "the pass of {snap} ended {:.1} s after the stop: Longhorn's loop gives up at 10 s",
        gone.as_secs_f64()
    );
    // The register call answers -EINTR; the snapshot is free.
    expect_interrupted(&mut conn, pass, &snap)?;
    set_read_latency(lab, &slow, 0)?;
    let t1 = Instant::now();
    lab.tgt
        .ok(&BdevLvolDelete { name: snap.clone() })
        .map_err(|e| {
            Error::Check(format!(
                "delete of {snap} after the stop answered -ESRCH: {e}"
            ))
        })?;
    ensure!(
        lab.lvol(&snap).is_err(),
        "{snap} is still listed after its delete"
    );
    let slowest = answers.iter().map(|(_, t, _)| *t).max().unwrap_or_default();
    Ok(format!(
        "reads stalled {} s: {} stops answered true, the slowest in {:.2} s; -ESRCH at {:.1} s; delete in {} ms",
        STALL_US / 1_000_000,
        trues,
        slowest.as_secs_f64(),
        gone.as_secs_f64(),
        t1.elapsed().as_millis()
    ))
}

// ------------------------------------------- a foreign checksum xattr

/// No error-level line in the target's log since `mark`.
fn expect_no_errors_logged(lab: &Lab, mark: u64, when: &str) -> Result<()> {
    let errors = errors_logged_since(lab, mark)?;
    if !errors.is_empty() {
        fail!(
            "{when}, the target logged {} error(s) about an lvol that has nothing wrong ({FOREIGN_CHECKSUM}): {}",
            errors.len(),
            errors.join(" | ")
        );
    }
    Ok(())
}

/// go-spdk-helper's listing: every lvol bdev, and for each snapshot its
/// checksum, where only -ENODEV means "none". Returns the snapshots' names.
fn helper_listing(lab: &mut Lab) -> Result<Vec<String>> {
    let mut snaps = vec![];
    for b in lab.tgt.ok(&BdevGetBdevs::default())? {
        let Some(lvol) = b.lvol() else { continue };
        if !lvol.snapshot {
            continue;
        }
        let name = b.aliases.first().cloned().unwrap_or(b.name.clone());
        match lab.tgt.call(&BdevLvolGetSnapshotChecksum { name: name.clone() }) {
            Ok(_) => {}
            Err(e) if e.errno() == Some(Errno::ENODEV) => {}
            Err(e) => fail!("go-spdk-helper's listing fails at the checksum of {name}: {e} ({FOREIGN_CHECKSUM})"),
        }
        snaps.push(name);
    }
    Ok(snaps)
}

fn foreign_checksum(lab: &mut Lab) -> Result<String> {
    // A base without snapshot xattrs gets the checksum written into disk0's file.
    lab.need_files()?;
    lab.create_lvstore("disk0", "lvs0", 128)?;
    let vol = thin_lvol(lab, "lvs0", "vol", 16)?;
    fill_cluster(lab, &vol, 0, 700)?;
    let s0 = snapshot(lab, &vol, "s0")?;
    fill_cluster(lab, &vol, 1, 701)?;
    lab.unexport(&vol)?;
    let sha = backing_image_sha512();
    // As Longhorn v1.8 makes a backing image: the snapshot is created with
    // its xattrs, where the base takes them.
    let how = match backing_image_snapshot(lab, &vol, "bi")? {
        true => "bdev_lvol_snapshot with xattrs, as Longhorn v1.8 does",
        false => {
            // Upstream has no xattrs there: the xattr goes onto the disk
            // while the target is down, as a disk of Longhorn v1.8 brings it.
            snapshot(lab, &vol, "bi")?;
            let file = lab.disk_file("disk0")?;
            lab.restart_inspecting(Restart::Graceful, |st| {
                let store = crate::offline::store(st, "disk0")?;
                let Some(blob) = store.blob_by_name("bi") else {
                    fail!("lvs0/bi is not on disk");
                };
                add_xattr(&file, store, blob.id, "checksum", &sha)
            })?;
            "written into its metadata on disk while the target was down, as a Longhorn v1.8 disk brings it"
        }
    };
    let bi = "lvs0/bi".to_string();

    // Not a checksum: -ENODEV, as for a snapshot never checksummed, quietly;
    // go-spdk-helper's listing goes through.
    let mark = log_mark(lab);
    expect_errno(
        &format!("get of {bi}'s checksum"),
        lab.tgt
            .call(&BdevLvolGetSnapshotChecksum { name: bi.clone() }),
        Errno::ENODEV,
    )
    .map_err(|e| Error::Check(format!("{e} ({FOREIGN_CHECKSUM})")))?;
    let listed = helper_listing(lab)?;
    ensure!(
        listed.iter().any(|n| n == &bi) && listed.iter().any(|n| n == &s0),
        "go-spdk-helper's listing must show {bi} and {s0}: {listed:?}"
    );
    lab.lvol(&bi)?;
    expect_no_errors_logged(lab, mark, "while the lvols were listed")?;

    // A register does not replace it.
    let named = |e: Error| Error::Check(format!("{e} ({FOREIGN_CHECKSUM})"));
    expect_errno(
        &format!("register of {bi}'s checksum over its foreign xattr"),
        lab.tgt.call(&BdevLvolRegisterSnapshotChecksum {
            name: bi.clone(),
            ..Default::default()
        }),
        Errno::EEXIST,
    )
    .map_err(named)?;
    if has_ranges(lab)? {
        expect_errno(
            &format!("range register of {bi} over its foreign xattr"),
            lab.tgt.call(&BdevLvolRegisterSnapshotRangeChecksums {
                name: bi.clone(),
                ..Default::default()
            }),
            Errno::EEXIST,
        )
        .map_err(named)?;
    }
    // Deleting its parent merges s0's cluster into it: the checksums of bi
    // are removed, the foreign xattr is not.
    lab.tgt.ok(&BdevLvolDelete { name: s0.clone() })?;
    ensure_eq!(
        lab.lvol(&bi)?.allocated(),
        2,
        "clusters of {bi} after the merge"
    );
    let mark = log_mark(lab);
    lab.restart_inspecting(Restart::Graceful, |st| {
        let Some(blob) = on_disk(st, "disk0", "bi")? else {
            fail!("{bi} is not on disk");
        };
        let Some(x) = blob.xattr("checksum") else {
            fail!("{bi}'s checksum xattr is gone from the disk after a register and a merge ({FOREIGN_CHECKSUM})");
        };
        ensure!(
            x.raw == sha,
            "{bi}'s checksum xattr on disk changed after a register and a merge: {} bytes ({FOREIGN_CHECKSUM})",
            x.raw.len()
        );
        Ok(())
    })?;
    expect_errno(
        &format!("get of {bi}'s checksum after the restart"),
        lab.tgt
            .call(&BdevLvolGetSnapshotChecksum { name: bi.clone() }),
        Errno::ENODEV,
    )?;
    helper_listing(lab)?;
    expect_no_errors_logged(
        lab,
        mark,
        "while the lvstore loaded and the lvols were listed",
    )?;
    // Its bytes are the image's.
    for c in 0..2 {
        let got = lab.read(&bi, c * CLUSTER, CLUSTER)?;
        expect_bytes(
            &format!("cluster {c} of {bi}"),
            &got,
            &pattern(700 + c, CLUSTER as usize),
        )?;
    }
    Ok(format!(
        "129-byte xattr ({how}): get -ENODEV, no error logged, register -EEXIST, kept through a merge and a restart"
    ))
}
