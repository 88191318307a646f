//! `bdev_lvol_detach_parent`: the lvol loses its parent, keeps its own
//! clusters byte for byte, reads zeros where it inherited, and nothing is
//! allocated or copied; persisted across graceful and SIGKILL restarts.
//! Plus Longhorn's chain rebuild end to end, and bad input.

use crate::data::{expect_bytes, expect_zeros, pattern};
use crate::error::{Error, Result};
use crate::lab::{Lab, Restart, CLUSTER, MIB};
use crate::offline::on_disk;
use crate::outcome::{Scenario, DETACH_REPARENTS};
use crate::steps::{
    clone_snapshot, expect_rpc_error, poll, snapshot, thick_lvol, thin_lvol, write, LVOL_MIB,
};
use crate::{ensure, ensure_eq, fail};
use serde_json::json;
use spdk_rpc::methods::*;
use spdk_rpc::{code, Errno};
use std::time::Duration;

const DETACH: &[&str] = &["bdev_lvol_detach_parent"];
/// Clusters 0..4 of each lvol are written and read back.
const SPAN: u64 = 4 * CLUSTER;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "detach_basic",
            about: "detach a clone: own cluster kept, inherited ones zeros, no allocation; graceful and SIGKILL restart",
            needs: DETACH,
            bug: Some(DETACH_REPARENTS),
            run: basic,
        },
        Scenario {
            name: "detach_chain_rebuild",
            about: "Longhorn's rebuild of a corrupt snap2: detach, delete, clone + shallow copy + snapshot, set_parent",
            needs: DETACH,
            bug: Some(DETACH_REPARENTS),
            run: chain_rebuild,
        },
        Scenario {
            name: "detach_bad_input",
            about: "unknown, no parent, esnap, degraded esnap, busy, several clones, read-only, malformed params",
            needs: DETACH,
            bug: None,
            run: bad_input,
        },
    ]
}

fn detach(lab: &mut Lab, name: &str) -> std::result::Result<bool, spdk_rpc::RpcError> {
    lab.tgt.call(&BdevLvolDetachParent { name: name.into() })
}

/// The parent of `alias` as `bdev_get_bdevs` reports it.
fn parent_of(lab: &mut Lab, alias: &str) -> Result<Option<String>> {
    Ok(lab.lvol_bdev(alias)?.base_snapshot)
}

/// After a detach, `alias` has no parent. One that has the detached parent's
/// parent instead is Longhorn's bug, named as such.
fn expect_no_parent(lab: &mut Lab, alias: &str, grandparent: &str, when: &str) -> Result<()> {
    match parent_of(lab, alias)? {
        None => Ok(()),
        Some(p) if p == grandparent => fail!(
            "{when}: {alias} has parent {p}, the parent's own parent, after bdev_lvol_detach_parent \
             (it must have none): {DETACH_REPARENTS}"
        ),
        Some(p) => fail!("{when}: {alias} has parent {p} after bdev_lvol_detach_parent; it must have none"),
    }
}

fn clones_of(lab: &mut Lab, alias: &str) -> Result<Vec<String>> {
    let mut c = lab.lvol_bdev(alias)?.clones;
    c.sort();
    Ok(c)
}

// ------------------------------------------------------------------ basic

struct Basic {
    snap_model: Vec<u8>,
    clone_own: Vec<u8>,
    clone_clusters: u64,
    free: u64,
}

fn basic(lab: &mut Lab) -> Result<String> {
    lab.create_lvstore("disk0", "lvs0", 256)?;
    thin_lvol(lab, "lvs0", "vol", LVOL_MIB)?;
    let mut vol = vec![0u8; SPAN as usize];
    // base (cluster 3) → snap (clusters 0, 2) → clone: the clone's parent has
    // a parent of its own, which detach must not hand the clone over to.
    write(
        lab,
        "lvs0/vol",
        &mut vol,
        3 * CLUSTER + 4096,
        pattern(13, 64 * 1024),
    )?;
    snapshot(lab, "lvs0/vol", "base")?;
    write(lab, "lvs0/vol", &mut vol, 0, pattern(10, 64 * 1024))?;
    write(
        lab,
        "lvs0/vol",
        &mut vol,
        2 * CLUSTER + 8192,
        pattern(12, 64 * 1024),
    )?;
    snapshot(lab, "lvs0/vol", "snap")?;
    clone_snapshot(lab, "lvs0/snap", "clone")?;
    let mut clone = vol.clone();
    write(
        lab,
        "lvs0/clone",
        &mut clone,
        CLUSTER + 4096,
        pattern(11, 64 * 1024),
    )?;
    ensure_eq!(
        parent_of(lab, "lvs0/clone")?.as_deref(),
        Some("snap"),
        "parent of clone before detach"
    );

    let before = lab.lvol("lvs0/clone")?;
    let free = lab.lvstore("lvs0")?.free_clusters;
    ensure_eq!(before.allocated(), 1, "clusters of clone before detach");

    let r = detach(lab, "lvs0/clone")
        .map_err(|e| Error::Check(format!("bdev_lvol_detach_parent lvs0/clone: {e}")))?;
    ensure!(r, "bdev_lvol_detach_parent must return true");

    // What the clone reads now: its own cluster 1, zeros elsewhere.
    let mut own = vec![0u8; SPAN as usize];
    own[CLUSTER as usize..2 * CLUSTER as usize]
        .copy_from_slice(&clone[CLUSTER as usize..2 * CLUSTER as usize]);
    let b = Basic {
        snap_model: vol,
        clone_own: own,
        clone_clusters: before.allocated(),
        free,
    };
    check_basic(lab, &b, "after detach")?;
    for how in [Restart::Graceful, Restart::Kill] {
        // On disk, read while no target has it open: no parent link, same clusters.
        lab.restart_inspecting(how, |st| {
            let Some(blob) = on_disk(st, "disk0", "clone")? else {
                fail!("{how:?}: lvs0/clone is not on disk");
            };
            ensure_eq!(
                blob.parent,
                lvs_inspect::Parent::None,
                "{how:?}: parent link of lvs0/clone on disk"
            );
            ensure_eq!(
                blob.allocated.len() as u64,
                b.clone_clusters,
                "{how:?}: clusters of lvs0/clone on disk"
            );
            Ok(())
        })?;
        check_basic(lab, &b, &format!("after a {how:?} restart"))?;
    }
    Ok(format!(
        "clone clusters {} → {}, free {} → {}, 3 inherited clusters (1 from the grandparent) read zeros; same after both restarts",
        b.clone_clusters, b.clone_clusters, b.free, b.free
    ))
}

fn check_basic(lab: &mut Lab, b: &Basic, when: &str) -> Result<()> {
    expect_no_parent(lab, "lvs0/clone", "base", when)?;
    let clone = lab.lvol("lvs0/clone")?;
    ensure!(
        !clone.is_clone,
        "{when}: lvs0/clone still reports is_clone in bdev_lvol_get_lvols"
    );
    ensure!(
        clone.is_thin_provisioned,
        "{when}: lvs0/clone must stay thin provisioned"
    );
    ensure_eq!(
        clone.allocated(),
        b.clone_clusters,
        "{when}: clusters of lvs0/clone (detach must not allocate)"
    );
    ensure_eq!(
        parent_of(lab, "lvs0/clone")?,
        None,
        "{when}: parent of lvs0/clone"
    );
    ensure_eq!(
        clones_of(lab, "lvs0/snap")?,
        vec!["vol".to_string()],
        "{when}: clones of lvs0/snap"
    );
    ensure_eq!(
        lab.lvstore("lvs0")?.free_clusters,
        b.free,
        "{when}: free clusters of lvs0"
    );
    let got = lab.read("lvs0/clone", 0, SPAN)?;
    expect_bytes(
        &format!("{when}: lvs0/clone clusters 0-3 (own cluster 1, zeros elsewhere)"),
        &got,
        &b.clone_own,
    )?;
    expect_zeros(
        &format!("{when}: lvs0/clone cluster 0, inherited before detach"),
        &got[..CLUSTER as usize],
    )?;
    expect_zeros(
        &format!("{when}: lvs0/clone cluster 3, inherited from the grandparent before detach"),
        &got[3 * CLUSTER as usize..],
    )?;
    let got = lab.read("lvs0/snap", 0, SPAN)?;
    expect_bytes(
        &format!("{when}: lvs0/snap is untouched"),
        &got,
        &b.snap_model,
    )?;
    Ok(())
}

// ---------------------------------------------------------- chain rebuild

/// snap1 (c0) → snap2 (c1) → snap3 (c2) → head (c3) on lvstore `lvs`.
/// `snap2_seed` chooses the bytes of snap2's cluster: a wrong seed is a
/// corrupt snap2.
fn build_replica(lab: &mut Lab, lvs: &str, snap2_seed: u64) -> Result<Vec<u8>> {
    let head = thin_lvol(lab, lvs, "head", LVOL_MIB)?;
    let mut model = vec![0u8; SPAN as usize];
    write(lab, &head, &mut model, 0, pattern(21, 128 * 1024))?;
    snapshot(lab, &head, "snap1")?;
    write(
        lab,
        &head,
        &mut model,
        CLUSTER + 64 * 1024,
        pattern(snap2_seed, 128 * 1024),
    )?;
    snapshot(lab, &head, "snap2")?;
    write(lab, &head, &mut model, 2 * CLUSTER, pattern(23, 128 * 1024))?;
    snapshot(lab, &head, "snap3")?;
    write(
        lab,
        &head,
        &mut model,
        3 * CLUSTER + 4096,
        pattern(24, 128 * 1024),
    )?;
    Ok(model)
}

fn chain_rebuild(lab: &mut Lab) -> Result<String> {
    lab.create_lvstore("diskA", "lvsA", 256)?;
    lab.create_lvstore("diskB", "lvsB", 256)?;
    let a_model = build_replica(lab, "lvsA", 22)?;
    let b_model = build_replica(lab, "lvsB", 99)?;
    ensure!(a_model != b_model, "replica B's snap2 must start corrupt");
    let got = lab.read("lvsB/head", 0, SPAN)?;
    ensure!(
        got != a_model,
        "B's head must differ from A's before the rebuild"
    );
    let snap3_b = lab.read("lvsB/snap3", 0, SPAN)?;
    let snap3_clusters = lab.lvol("lvsB/snap3")?.allocated();

    // 1. Detach snap3 from the corrupt snap2, without touching snap3's data.
    ensure!(
        detach(lab, "lvsB/snap3").map_err(|e| Error::Check(format!("detach lvsB/snap3: {e}")))?,
        "detach must return true"
    );
    expect_no_parent(lab, "lvsB/snap3", "snap1", "after detach")?;
    ensure_eq!(
        lab.lvol("lvsB/snap3")?.allocated(),
        snap3_clusters,
        "clusters of lvsB/snap3 after detach"
    );
    let mut own3 = vec![0u8; SPAN as usize];
    own3[2 * CLUSTER as usize..3 * CLUSTER as usize]
        .copy_from_slice(&snap3_b[2 * CLUSTER as usize..3 * CLUSTER as usize]);
    let got = lab.read("lvsB/snap3", 0, SPAN)?;
    expect_bytes(
        "lvsB/snap3 after detach: its own cluster 2, zeros elsewhere",
        &got,
        &own3,
    )?;

    // 2. Delete the corrupt snap2: it has no clone left.
    lab.tgt.ok(&BdevLvolDelete {
        name: "lvsB/snap2".into(),
    })?;

    // 3. Rebuild snap2 from A: clone of snap1, shallow copy of A's snap2, snapshot.
    clone_snapshot(lab, "lvsB/snap1", "rebuild")?;
    let op = lab.tgt.ok(&BdevLvolStartShallowCopy {
        src_lvol_name: "lvsA/snap2".into(),
        dst_bdev_name: "lvsB/rebuild".into(),
    })?;
    let st = poll(
        "shallow copy of lvsA/snap2",
        Duration::from_secs(120),
        || {
            let s = lab.tgt.ok(&BdevLvolCheckShallowCopy {
                operation_id: op.operation_id,
            })?;
            match s.state.as_str() {
                "in progress" => Ok(None),
                _ => Ok(Some(s)),
            }
        },
    )?;
    ensure_eq!(
        st.state.as_str(),
        "complete",
        "shallow copy state (error: {:?})",
        st.error
    );
    snapshot(lab, "lvsB/rebuild", "snap2")?;
    lab.tgt.ok(&BdevLvolDelete {
        name: "lvsB/rebuild".into(),
    })?;

    // 4. Re-link snap3 to the rebuilt snap2.
    ensure!(
        lab.tgt.ok(&BdevLvolSetParent {
            lvol_name: "lvsB/snap3".into(),
            parent_name: "lvsB/snap2".into(),
        })?,
        "bdev_lvol_set_parent must return true"
    );

    let check = |lab: &mut Lab, when: &str| -> Result<()> {
        ensure_eq!(
            parent_of(lab, "lvsB/snap3")?.as_deref(),
            Some("snap2"),
            "{when}: parent of lvsB/snap3"
        );
        ensure_eq!(
            parent_of(lab, "lvsB/snap2")?.as_deref(),
            Some("snap1"),
            "{when}: parent of lvsB/snap2"
        );
        ensure_eq!(
            parent_of(lab, "lvsB/head")?.as_deref(),
            Some("snap3"),
            "{when}: parent of lvsB/head"
        );
        let a = lab.read("lvsA/head", 0, SPAN)?;
        expect_bytes(&format!("{when}: lvsA/head"), &a, &a_model)?;
        let b = lab.read("lvsB/head", 0, SPAN)?;
        expect_bytes(&format!("{when}: lvsB/head against lvsA/head"), &b, &a)?;
        let a2 = lab.read("lvsA/snap2", 0, SPAN)?;
        let b2 = lab.read("lvsB/snap2", 0, SPAN)?;
        expect_bytes(
            &format!("{when}: rebuilt lvsB/snap2 against lvsA/snap2"),
            &b2,
            &a2,
        )?;
        Ok(())
    };
    check(lab, "after the rebuild")?;
    lab.restart(Restart::Graceful)?;
    check(lab, "after a graceful restart")?;
    lab.restart(Restart::Kill)?;
    check(lab, "after a SIGKILL restart")?;
    Ok(format!(
        "B's head = A's head ({} MiB compared), snap3 kept {} cluster(s) through detach; after both restarts",
        SPAN / MIB,
        snap3_clusters
    ))
}

// -------------------------------------------------------------- bad input

fn bad_input(lab: &mut Lab) -> Result<String> {
    lab.create_lvstore("disk0", "lvs0", 3 * 1024 + 256)?;
    let einval = -(Errno::EINVAL as i32);
    let enodev = -(Errno::ENODEV as i32);
    let ebusy = -(Errno::EBUSY as i32);
    let mut refused = 0;

    // The data that must survive every refused request.
    thin_lvol(lab, "lvs0", "keep", LVOL_MIB)?;
    let mut keep = vec![0u8; SPAN as usize];
    write(lab, "lvs0/keep", &mut keep, CLUSTER, pattern(31, 64 * 1024))?;
    snapshot(lab, "lvs0/keep", "keep-snap")?;

    expect_rpc_error(
        "detach of an unknown lvol",
        detach(lab, "lvs0/no_such"),
        enodev,
        "No such device",
    )?;
    refused += 1;
    expect_rpc_error(
        "detach of an lvol without a parent",
        detach(lab, "lvs0/keep-snap"),
        einval,
        "Invalid argument",
    )?;
    refused += 1;

    // Malformed params.
    let rpc = lab.tgt.rpc()?;
    expect_rpc_error(
        "detach without params",
        rpc.call_raw("bdev_lvol_detach_parent", None),
        code::INTERNAL_ERROR,
        "spdk_json_decode_object failed",
    )?;
    expect_rpc_error(
        "detach with a number as name",
        rpc.call_raw("bdev_lvol_detach_parent", Some(json!({"name": 7}))),
        code::INTERNAL_ERROR,
        "spdk_json_decode_object failed",
    )?;
    expect_rpc_error(
        "detach with an unknown parameter",
        rpc.call_raw(
            "bdev_lvol_detach_parent",
            Some(json!({"name": "lvs0/keep", "force": true})),
        ),
        code::INTERNAL_ERROR,
        "spdk_json_decode_object failed",
    )?;
    refused += 3;

    // An external-snapshot clone, then the same clone degraded.
    let ext = lab.add_disk("ext", 16)?;
    lab.write(&ext, 0, &pattern(32, 64 * 1024))?;
    // An external snapshot is read-only to its clones: the NVMe-oF export used
    // to write it must go first (SPDK v24.09's target claims it for writing).
    lab.unexport(&ext)?;
    lab.tgt.ok(&BdevLvolCloneBdev {
        bdev: ext.clone(),
        lvs_name: "lvs0".into(),
        clone_name: "esc".into(),
    })?;
    expect_rpc_error(
        "detach of an esnap clone",
        detach(lab, "lvs0/esc"),
        einval,
        "Invalid argument",
    )?;
    ensure!(
        lab.lvol("lvs0/esc")?.is_esnap_clone,
        "lvs0/esc must stay an esnap clone after a refused detach"
    );
    // The same clone with its external snapshot missing: a restart without
    // the ext disk. (Removing the disk under the running clone would do too on
    // SPDK master; on v24.09 bdev_aio_delete then never answers, because the
    // esnap clone ignores the remove event and keeps the bdev open.)
    lab.forget_disk("ext")?;
    lab.restart(Restart::Graceful)?;
    poll(
        "lvs0/esc to become degraded",
        Duration::from_secs(10),
        || Ok(lab.lvol("lvs0/esc")?.is_degraded.then_some(())),
    )?;
    // A degraded lvol has no bdev. Our RPC finds it by its lvol name and
    // refuses it as any esnap clone (-EINVAL); one that looks names up among
    // bdevs (SPDK v24.09's) finds nothing (-ENODEV). Either way it is refused
    // and nothing changes; with a bdev, only -EINVAL is right.
    let r = detach(lab, "lvs0/esc");
    let has_bdev = lab.lvol_bdev("lvs0/esc").is_ok();
    match &r {
        Err(e) if !has_bdev && e.errno() == Some(Errno::ENODEV) => {}
        _ => expect_rpc_error(
            "detach of a degraded esnap clone",
            r,
            einval,
            "Invalid argument",
        )?,
    }
    ensure!(
        lab.lvol("lvs0/esc")?.is_esnap_clone,
        "degraded lvs0/esc must stay an esnap clone"
    );
    refused += 2;

    // A snapshot with several clones: one clone detaches, the other keeps its parent.
    clone_snapshot(lab, "lvs0/keep-snap", "c1")?;
    clone_snapshot(lab, "lvs0/keep-snap", "c2")?;
    ensure_eq!(
        clones_of(lab, "lvs0/keep-snap")?,
        vec!["c1", "c2", "keep"],
        "clones of keep-snap"
    );
    ensure!(
        detach(lab, "lvs0/c1").map_err(|e| Error::Check(format!("detach lvs0/c1: {e}")))?,
        "detach c1"
    );
    ensure_eq!(
        clones_of(lab, "lvs0/keep-snap")?,
        vec!["c2", "keep"],
        "clones of keep-snap after detaching c1"
    );
    let got = lab.read("lvs0/c2", 0, SPAN)?;
    expect_bytes("lvs0/c2 still reads keep-snap", &got, &keep)?;
    let got = lab.read("lvs0/c1", 0, SPAN)?;
    expect_zeros("lvs0/c1 after detach (it owned nothing)", &got)?;

    // A read-only lvol: detach works and it stays read-only.
    lab.tgt.ok(&BdevLvolSetReadOnly {
        name: "lvs0/c2".into(),
    })?;
    ensure!(
        detach(lab, "lvs0/c2")
            .map_err(|e| Error::Check(format!("detach read-only lvs0/c2: {e}")))?,
        "detach c2"
    );
    let err = lab.write("lvs0/c2", 0, &pattern(33, 4096));
    ensure!(
        err.is_err(),
        "a write to read-only lvs0/c2 succeeded after detach"
    );

    // Busy: an inflate of a 1 GiB clone holds the blob while it copies.
    let rb = busy_while_inflating(lab, ebusy)?;
    refused += 1;

    // The target is alive and the data intact.
    lab.tgt.check_alive()?;
    let got = lab.read("lvs0/keep", 0, SPAN)?;
    expect_bytes("lvs0/keep after the bad requests", &got, &keep)?;
    ensure_eq!(
        parent_of(lab, "lvs0/keep")?.as_deref(),
        Some("keep-snap"),
        "parent of lvs0/keep"
    );
    Ok(format!(
        "{refused} bad requests refused with the right code; {rb}"
    ))
}

/// Detach an lvol while `bdev_lvol_inflate` copies 1 GiB into it: -EBUSY,
/// and the inflate then completes.
fn busy_while_inflating(lab: &mut Lab, ebusy: i32) -> Result<String> {
    thick_lvol(lab, "lvs0", "big", 1024)?;
    snapshot(lab, "lvs0/big", "big-snap")?;
    let total = lab.lvol("lvs0/big-snap")?.allocated();
    let mut conn = lab.tgt.connect()?;
    let pending = conn
        .send(&BdevLvolInflate {
            name: "lvs0/big".into(),
        })
        .map_err(|e| Error::Check(format!("send inflate: {e}")))?;
    // Wait until the inflate has allocated a first cluster: it holds the blob now.
    poll(
        "inflate of lvs0/big to start",
        Duration::from_secs(30),
        || {
            let n = lab.lvol("lvs0/big")?.allocated();
            Ok((n > 0).then_some(()))
        },
    )?;
    let r = detach(lab, "lvs0/big");
    let during = lab.lvol("lvs0/big")?.allocated();
    if r.is_ok() || during == total {
        ensure!(
            during < total,
            "inconclusive: the inflate finished ({during}/{total} clusters) before the detach was answered"
        );
    }
    expect_rpc_error(
        "detach while an inflate holds the lvol",
        r,
        ebusy,
        "Device or resource busy",
    )?;
    ensure_eq!(
        parent_of(lab, "lvs0/big")?.as_deref(),
        Some("big-snap"),
        "parent of lvs0/big after a refused detach"
    );
    let done = conn
        .wait_typed::<BdevLvolInflate>(pending, Duration::from_secs(300))
        .map_err(|e| Error::Check(format!("inflate after the refused detach: {e}")))?;
    ensure!(done, "inflate must complete after the refused detach");
    Ok(format!("busy at {during}/{total} clusters inflated"))
}
