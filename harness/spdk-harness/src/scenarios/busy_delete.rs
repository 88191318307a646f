//! Busy-safe lvol destroy: a delete that finds the blob held by another
//! operation returns "Device or resource busy" and changes nothing; the same
//! delete succeeds once the operation has ended, and stays done across
//! restarts. Upstream instead drops the lvol ("forced removal") while its blob
//! stays on disk, so it comes back after a restart.

use crate::data::{expect_bytes, pattern};
use crate::error::{Error, Result};
use crate::lab::{Lab, Restart, CLUSTER};
use crate::offline::on_disk;
use crate::outcome::{Scenario, CHECKSUM_UNSTOPPABLE, ESNAP_PARENT_DELETE, FORCED_REMOVAL};
use crate::steps::{
    delay_bdev, expect_gone_for_good, expect_interrupted, expect_rpc_error, expect_still_listed,
    head_and_snapshot, poll, require, send, slow_lvstore, snapshot, start_pass, stop_running_pass,
    thin_lvol, write, Latency, BUSY, CHECKSUM_RPCS, HANG_AFTER, STOP_RPC,
};
use crate::{ensure, ensure_eq, fail};
use spdk_rpc::code;
use spdk_rpc::methods::*;
use std::time::Duration;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "busy_delete_checksum",
            about: "delete a snapshot while a checksum pass holds it: refused, I/O goes on, restarts keep it; stop, then deleted for good",
            needs: CHECKSUM_RPCS,
            bug: Some(FORCED_REMOVAL),
            run: checksum_pass,
        },
        Scenario {
            name: "busy_delete_esnap_parent",
            about: "delete a snapshot, and its lvstore, while esnap clones in another lvstore read from it: refused, nothing lost",
            needs: &[],
            bug: Some(ESNAP_PARENT_DELETE),
            run: esnap_parent,
        },
        Scenario {
            name: "busy_delete_shallow_copy",
            about: "delete a snapshot, and its lvstore, while a shallow copy holds it: refused, nothing lost; then deleted for good",
            needs: &[],
            bug: Some(FORCED_REMOVAL),
            run: shallow_copy,
        },
    ]
}

/// The seed's flow: a 1 GiB lvol exported over NVMe-oF, a snapshot, a
/// checksum pass on it, a delete during the pass.
fn checksum_pass(lab: &mut Lab) -> Result<String> {
    // 200 ms per read: a pass over 256 clusters, 4 at a time, takes over 12 s.
    slow_lvstore(lab, "disk0", "lvs0", 2400, Latency::reads(200_000))?;
    let free_before = lab.lvstore("lvs0")?.free_clusters;
    let span = 4 * CLUSTER;
    let (mut model, snap_model, snap_clusters) = head_and_snapshot(lab, "lvs0", 1024, 51)?;

    // Register, then delete, on one connection: SPDK runs them in that order,
    // and the pass holds the snapshot from its first step.
    let (mut conn, pass) = start_pass(lab, "lvs0/snap")?;
    let del = send(
        &mut conn,
        &BdevLvolDelete {
            name: "lvs0/snap".into(),
        },
    )?;
    let r = conn.wait_typed::<BdevLvolDelete>(del, Duration::from_secs(30));
    expect_rpc_error(
        "bdev_lvol_delete of a snapshot a checksum pass holds",
        r,
        code::INTERNAL_ERROR,
        BUSY,
    )?;
    expect_still_listed(lab, "lvs0/snap", "during the checksum pass")?;
    ensure_eq!(
        lab.lvol("lvs0/snap")?.allocated(),
        snap_clusters,
        "clusters of lvs0/snap"
    );
    // I/O on the head goes on, without error: one small write and its read
    // (the lvstore sits on the delay bdev; full comparisons follow the restart).
    write(lab, "lvs0/head", &mut model, CLUSTER, pattern(53, 4096))?;
    let got = lab.read("lvs0/head", CLUSTER, 4096)?;
    expect_bytes(
        "lvs0/head during the checksum pass",
        &got,
        &model[CLUSTER as usize..CLUSTER as usize + 4096],
    )?;

    // Stop the pass: register fails with -EINTR, then nothing holds the snapshot.
    require(lab, STOP_RPC, CHECKSUM_UNSTOPPABLE)?;
    stop_running_pass(lab, "lvs0/snap")?;
    expect_interrupted(&mut conn, pass, "lvs0/snap")?;
    drop(conn);

    // Restarts keep the snapshot and its data (the lvstore now loads from the
    // AIO disk directly, without the delay bdev).
    for how in [Restart::Kill, Restart::Graceful] {
        // The refused delete left the blob on disk, with its clusters.
        lab.restart_inspecting(how, |st| {
            let Some(blob) = on_disk(st, "disk0", "snap")? else {
                fail!("{how:?}: lvs0/snap is not on disk after the refused delete");
            };
            ensure_eq!(
                blob.allocated.len() as u64,
                snap_clusters,
                "{how:?}: clusters of lvs0/snap on disk"
            );
            Ok(())
        })?;
        expect_still_listed(lab, "lvs0/snap", &format!("after a {how:?} restart"))?;
        let got = lab.read("lvs0/snap", 0, span)?;
        expect_bytes(
            &format!("lvs0/snap after a {how:?} restart"),
            &got,
            &snap_model,
        )?;
        let got = lab.read("lvs0/head", 0, span)?;
        expect_bytes(&format!("lvs0/head after a {how:?} restart"), &got, &model)?;
    }

    // Stop a new pass and delete at once: no -EBUSY. Register and stop go on
    // one connection, so the stop finds the pass however fast the disk is.
    let (mut conn, pass) = start_pass(lab, "lvs0/snap")?;
    let stop = send(
        &mut conn,
        &BdevLvolStopSnapshotChecksum {
            name: "lvs0/snap".into(),
        },
    )?;
    ensure!(
        conn.wait_typed::<BdevLvolStopSnapshotChecksum>(stop, Duration::from_secs(60))
            .map_err(|e| Error::Check(format!("stop of a pass sent just before it: {e}")))?,
        "stop must return true"
    );
    ensure!(
        lab.tgt
            .call(&BdevLvolDelete {
                name: "lvs0/snap".into()
            })
            .map_err(|e| Error::Check(format!("delete of lvs0/snap right after stop: {e}")))?,
        "delete of lvs0/snap"
    );
    expect_interrupted(&mut conn, pass, "lvs0/snap")?;
    let got = lab.read("lvs0/head", 0, span)?;
    expect_bytes("lvs0/head after its snapshot merged into it", &got, &model)?;
    lab.unexport("lvs0/head")?;
    ensure!(
        lab.tgt.ok(&BdevLvolDelete {
            name: "lvs0/head".into()
        })?,
        "delete of lvs0/head"
    );
    expect_gone_for_good(lab, "disk0", "lvs0", &["snap", "head"], free_before)?;
    Ok(format!(
        "delete refused while the pass held {snap_clusters} clusters; stop → delete at once; {free_before} clusters free after restarts"
    ))
}

/// The snapshot under test: 64 clusters, so that a shallow copy onto a bdev
/// that delays each write by 1 s, one cluster at a time, holds it for about
/// a minute: longer than the checks take, however slow the target (built
/// with ASan, the reads over NVMe-oF before the lvstore delete took more
/// than the 6 s a 100 ms delay gave, and the delete rightly succeeded). The
/// SIGKILL of step 3 ends the copy.
const SNAP_MIB: u64 = 256;
const WRITE_DELAY_US: u64 = 1_000_000;

fn shallow_copy(lab: &mut Lab) -> Result<String> {
    lab.create_lvstore("disk0", "lvs0", 1024)?;
    let free_before = lab.lvstore("lvs0")?.free_clusters;

    let span = 4 * CLUSTER;
    let (mut model, snap_model, snap_clusters) = head_and_snapshot(lab, "lvs0", SNAP_MIB, 41)?;
    // Read the snapshot over NVMe-oF once: its export must keep serving.
    let got = lab.read("lvs0/snap", 0, span)?;
    expect_bytes("lvs0/snap before the copy", &got, &snap_model)?;

    // The busy operation: a shallow copy of the snapshot onto a slow bdev.
    let dst = lab.add_disk("dst", SNAP_MIB + 16)?;
    delay_bdev(lab, "slow", &dst, Latency::writes(WRITE_DELAY_US))?;
    let op = lab.tgt.ok(&BdevLvolStartShallowCopy {
        src_lvol_name: "lvs0/snap".into(),
        dst_bdev_name: "slow".into(),
    })?;
    let in_progress = |lab: &mut Lab| -> Result<bool> {
        let s = lab.tgt.ok(&BdevLvolCheckShallowCopy {
            operation_id: op.operation_id,
        })?;
        Ok(s.state == "in progress")
    };
    ensure!(in_progress(lab)?, "the shallow copy must be in progress");

    // 1. Delete the snapshot while the copy holds it.
    let r = lab.tgt.call(&BdevLvolDelete {
        name: "lvs0/snap".into(),
    });
    expect_rpc_error(
        "bdev_lvol_delete of a snapshot a shallow copy holds",
        r,
        code::INTERNAL_ERROR,
        BUSY,
    )?;
    expect_still_listed(lab, "lvs0/snap", "during the shallow copy")?;
    ensure_eq!(
        lab.lvol("lvs0/snap")?.allocated(),
        snap_clusters,
        "clusters of lvs0/snap"
    );
    ensure_eq!(
        lab.lvol_bdev("lvs0/head")?.base_snapshot.as_deref(),
        Some("snap"),
        "parent of lvs0/head after the refused delete"
    );
    // Its bdev and export stay: reads of the snapshot go on.
    let got = lab.read("lvs0/snap", 0, span)?;
    expect_bytes(
        "lvs0/snap over NVMe-oF after the refused delete",
        &got,
        &snap_model,
    )?;
    // I/O on the head goes on.
    write(
        lab,
        "lvs0/head",
        &mut model,
        CLUSTER,
        pattern(43, 64 * 1024),
    )?;
    let got = lab.read("lvs0/head", 0, span)?;
    expect_bytes("lvs0/head during the shallow copy", &got, &model)?;

    // 2. Delete the whole lvstore while the copy holds the snapshot.
    let r = lab.tgt.call(&BdevLvolDeleteLvstore {
        lvs_name: Some("lvs0".into()),
        uuid: None,
    });
    expect_rpc_error(
        "bdev_lvol_delete_lvstore while a shallow copy holds a snapshot",
        r,
        code::INVALID_PARAMS,
        BUSY,
    )?;
    ensure!(
        lab.lvstore("lvs0").is_ok(),
        "lvs0 must still exist after a refused delete"
    );
    expect_still_listed(lab, "lvs0/head", "after the refused lvstore delete")?;
    expect_still_listed(lab, "lvs0/snap", "after the refused lvstore delete")?;

    if !in_progress(lab)? {
        fail!("inconclusive: the shallow copy ended before the refused deletes were checked");
    }

    // 3. A crash while the copy runs: everything is still there.
    lab.restart(Restart::Kill)?;
    let got = lab.read("lvs0/snap", 0, span)?;
    expect_bytes("lvs0/snap after a SIGKILL restart", &got, &snap_model)?;
    let got = lab.read("lvs0/head", 0, span)?;
    expect_bytes("lvs0/head after a SIGKILL restart", &got, &model)?;
    lab.restart(Restart::Graceful)?;
    let got = lab.read("lvs0/snap", 0, span)?;
    expect_bytes("lvs0/snap after a graceful restart", &got, &snap_model)?;

    // 4. Nothing holds the snapshot now: the same delete succeeds, then the head's.
    ensure!(
        lab.tgt.ok(&BdevLvolDelete {
            name: "lvs0/snap".into()
        })?,
        "delete of lvs0/snap"
    );
    let got = lab.read("lvs0/head", 0, span)?;
    expect_bytes("lvs0/head after its snapshot merged into it", &got, &model)?;
    lab.unexport("lvs0/head")?;
    ensure!(
        lab.tgt.ok(&BdevLvolDelete {
            name: "lvs0/head".into()
        })?,
        "delete of lvs0/head"
    );
    expect_gone_for_good(lab, "disk0", "lvs0", &["snap", "head"], free_before)?;

    // 5. No flag was left behind: the lvstore deletes normally.
    ensure!(
        lab.tgt.ok(&BdevLvolDeleteLvstore {
            lvs_name: Some("lvs0".into()),
            uuid: None,
        })?,
        "delete of lvs0"
    );
    poll("lvs0 to be gone", Duration::from_secs(10), || {
        Ok(lab.lvstore("lvs0").is_err().then_some(()))
    })?;
    Ok(format!(
        "2 deletes refused while a shallow copy held {snap_clusters} clusters; then deleted, {free_before} clusters free after restarts"
    ))
}

/// A snapshot in lvsA is the external snapshot of an esnap clone in lvsB.
/// Deleting it, or lvsA, would pull the data from under the clone.
fn esnap_parent(lab: &mut Lab) -> Result<String> {
    for (disk, lvs) in [("diskA", "lvsA"), ("diskB", "lvsB")] {
        lab.create_lvstore(disk, lvs, 256)?;
    }
    thin_lvol(lab, "lvsA", "base", 64)?;
    let span = 4 * CLUSTER;
    let mut image = vec![0u8; span as usize];
    for c in 0..4 {
        write(
            lab,
            "lvsA/base",
            &mut image,
            c * CLUSTER,
            pattern(80 + c, 64 * 1024),
        )?;
    }
    snapshot(lab, "lvsA/base", "img")?;
    lab.unexport("lvsA/base")?;
    lab.tgt.ok(&BdevLvolCloneBdev {
        bdev: "lvsA/img".into(),
        lvs_name: "lvsB".into(),
        clone_name: "replica".into(),
    })?;
    let mut replica = image.clone();
    write(
        lab,
        "lvsB/replica",
        &mut replica,
        CLUSTER + 8192,
        pattern(90, 64 * 1024),
    )?;

    let r = lab.tgt.rpc()?.call_timeout(
        &BdevLvolDelete {
            name: "lvsA/img".into(),
        },
        HANG_AFTER,
    );
    if let Err(e @ spdk_rpc::RpcError::Timeout { .. }) = &r {
        fail!(
            "bdev_lvol_delete of lvsA/img, the external snapshot of lvsB/replica, never answered ({e}): \
             the bdev is being unregistered while the esnap clone holds it ({ESNAP_PARENT_DELETE})"
        );
    }
    if let Ok(v) = &r {
        let degraded = lab
            .lvol("lvsB/replica")
            .map(|l| l.is_degraded)
            .unwrap_or(true);
        fail!(
            "bdev_lvol_delete of lvsA/img, the external snapshot of lvsB/replica, returned {v}: \
             the clone lost the data it reads from it (degraded: {degraded}; {ESNAP_PARENT_DELETE})"
        );
    }
    expect_rpc_error(
        "bdev_lvol_delete of an esnap clone's external snapshot",
        r,
        code::INTERNAL_ERROR,
        BUSY,
    )?;
    expect_still_listed(lab, "lvsA/img", "after the refused delete")?;
    let r = lab.tgt.call(&BdevLvolDeleteLvstore {
        lvs_name: Some("lvsA".into()),
        uuid: None,
    });
    expect_rpc_error(
        "bdev_lvol_delete_lvstore of the store holding an external snapshot",
        r,
        code::INVALID_PARAMS,
        BUSY,
    )?;
    ensure!(
        lab.lvstore("lvsA").is_ok(),
        "lvsA must still exist after a refused delete"
    );
    ensure!(
        !lab.lvol("lvsB/replica")?.is_degraded,
        "lvsB/replica must not be degraded"
    );
    let got = lab.read("lvsB/replica", 0, span)?;
    expect_bytes("lvsB/replica after the refused deletes", &got, &replica)?;

    lab.restart(Restart::Kill)?;
    ensure!(
        !lab.lvol("lvsB/replica")?.is_degraded,
        "lvsB/replica after a SIGKILL restart"
    );
    let got = lab.read("lvsB/replica", 0, span)?;
    expect_bytes("lvsB/replica after a SIGKILL restart", &got, &replica)?;
    // (lvsA/img can't be exported while the clone claims it: its bytes show through the clone.)

    // Without dependents the snapshot deletes.
    lab.unexport("lvsB/replica")?;
    ensure!(
        lab.tgt.ok(&BdevLvolDelete {
            name: "lvsB/replica".into()
        })?,
        "delete of lvsB/replica"
    );
    ensure!(
        lab.tgt.ok(&BdevLvolDelete {
            name: "lvsA/img".into()
        })?,
        "delete of lvsA/img once nothing reads from it"
    );
    Ok("2 deletes refused while lvsB/replica read from lvsA/img; its bytes intact across a SIGKILL restart".into())
}
