//! Lifecycle faults that are not a cell of the operation × event matrix
//! ([`crate::faults`]): an external snapshot whose device moved to another
//! blob is removed; an inflate starts while its lvol store is being deleted;
//! the target is killed in the middle of the operations that change a
//! checksummed snapshot's clusters.

use crate::crash::{self, KillAt, Op};
use crate::data::{expect_bytes, pattern};
use crate::error::{Error, Result};
use crate::lab::{Lab, Restart, CLUSTER, MIB};
use crate::offline::{store, Reparent};
use crate::outcome::{
    Scenario, ESNAP_MOVED_REMOVAL, ESNAP_PARENT_REMOVAL, LVS_DELETE_RACE, MIDDLE_DELETE_CRASH,
    STALE_CHECKSUM,
};
use crate::steps::{self, log_line, poll, Latency};
use crate::{ensure, ensure_eq, fail};
use spdk_rpc::methods::*;
use spdk_rpc::{Errno, RpcError};
use std::time::{Duration, Instant};

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "lifecycle_esnap_snapshot_removal",
            about: "an esnap clone is snapshotted, then the external snapshot's disk is removed, re-added, removed after a merge and after deletes: each removal answers, the chain degrades and heals, bytes intact",
            needs: &[],
            bug: Some(ESNAP_PARENT_REMOVAL),
            run: esnap_snapshot_removal,
        },
        Scenario {
            name: "lifecycle_lvstore_delete_vs_inflate",
            about: "an inflate sent right behind the delete of its lvol store, with 12 clones on a slow disk: refused, the delete completes, nothing is left",
            needs: &[],
            bug: Some(LVS_DELETE_RACE),
            run: lvstore_delete_vs_inflate,
        },
        Scenario {
            name: "lifecycle_checksum_crash",
            about: "SIGKILL at several points of an inflate, a decouple and a merge of a checksummed snapshot: the checksum on disk is absent or matches the clusters the snapshot holds",
            needs: steps::CHECKSUM_RPCS,
            bug: Some(STALE_CHECKSUM),
            run: checksum_crash,
        },
        Scenario {
            name: "lifecycle_middle_delete_crash",
            about: "SIGKILL after each I/O of the delete of snap2 in snap1 <- snap2 <- base: the lvstore loads, in the before or after state, bytes intact, checksums right or absent, no cluster leaked",
            needs: &[],
            bug: Some(MIDDLE_DELETE_CRASH),
            run: middle_delete_crash,
        },
    ]
}

/// How long a disk's removal may take to answer.
const REMOVAL_BOUND: Duration = Duration::from_secs(5);
/// How long a chain may take to degrade or heal.
const HEAL_BOUND: Duration = Duration::from_secs(10);

// ----------------------------------------------- esnap snapshot removal

const IMAGE_MIB: u64 = 16;

/// Remove disk A; the removal must answer within the bound. `holder` says
/// which blob holds the external snapshot's device, for the message.
fn remove_a(lab: &mut Lab, holder: &str) -> Result<Duration> {
    let t0 = Instant::now();
    let (mut conn, pending) = lab.start_remove_disk("diskA")?;
    match conn.wait_typed::<BdevAioDelete>(pending, REMOVAL_BOUND) {
        Ok(_) => Ok(t0.elapsed()),
        Err(e @ RpcError::Timeout { .. }) => fail!(
            "the removal of diskA, whose image {holder} reads, did not answer within {} s: {e} \
             ({ESNAP_PARENT_REMOVAL}; {ESNAP_MOVED_REMOVAL})",
            REMOVAL_BOUND.as_secs()
        ),
        Err(e) => fail!("the removal of diskA: {e}"),
    }
}

fn degraded(lab: &mut Lab, alias: &str) -> Result<bool> {
    Ok(lab.lvol(alias)?.is_degraded)
}

fn wait_degraded(lab: &mut Lab, aliases: &[&str], want: bool, when: &str) -> Result<Duration> {
    let t0 = Instant::now();
    poll(
        &format!(
            "{} to {} {when}",
            aliases.join(", "),
            if want { "degrade" } else { "heal" }
        ),
        HEAL_BOUND,
        || {
            for a in aliases {
                if degraded(lab, a)? != want {
                    return Ok(None);
                }
            }
            Ok(Some(t0.elapsed()))
        },
    )
}

fn esnap_snapshot_removal(lab: &mut Lab) -> Result<String> {
    lab.create_lvstore("diskA", "lvsA", 128)?;
    lab.create_lvstore("diskB", "lvsB", 128)?;
    let base = steps::thin_lvol(lab, "lvsA", "base", IMAGE_MIB)?;
    let image_bytes = pattern(501, (IMAGE_MIB * MIB) as usize);
    lab.write(&base, 0, &image_bytes)?;
    let image = steps::snapshot(lab, &base, "image")?;
    lab.unexport(&base)?;
    let image_uuid = lab.lvol(&image)?.uuid;
    lab.tgt.ok(&BdevLvolCloneBdev {
        bdev: image_uuid,
        lvs_name: "lvsB".into(),
        clone_name: "head".into(),
    })?;
    let head = "lvsB/head";
    let mut model = image_bytes.clone();
    steps::write(
        lab,
        head,
        &mut model,
        CLUSTER,
        pattern(502, CLUSTER as usize),
    )?;
    // The snapshot takes the external snapshot's device over from head.
    let snap = steps::snapshot(lab, head, "snap")?;
    steps::write(lab, head, &mut model, 2 * CLUSTER, pattern(503, 64 * 1024))?;
    let got = lab.read(head, 0, IMAGE_MIB * MIB)?;
    expect_bytes("lvsB/head before any removal", &got, &model)?;

    // 1. The image's disk goes while the snapshot holds the device.
    let took = remove_a(lab, &snap)?;
    wait_degraded(lab, &[&snap, head], true, "after diskA's removal")?;
    match lab.read(head, 0, CLUSTER) {
        Ok(_) => fail!("{head} served a read of the image's cluster while diskA was gone"),
        Err(e) => log_line(&format!("read of {head} failed as it must: {e}")),
    }
    lab.tgt.check_alive()?;
    lab.unexport(head)?;
    lab.readd_disk("diskA")?;
    let healed = wait_degraded(lab, &[&snap, head], false, "after diskA came back")?;
    let got = lab.read(head, 0, IMAGE_MIB * MIB)?;
    expect_bytes("lvsB/head after diskA came back", &got, &model)?;

    // 2. Deleting the snapshot merges it into head: the device moves back.
    lab.unexport(head)?;
    ensure!(
        lab.tgt.ok(&BdevLvolDelete { name: snap.clone() })?,
        "delete of {snap}"
    );
    remove_a(lab, head)?;
    wait_degraded(lab, &[head], true, "after the merge and diskA's removal")?;
    lab.readd_disk("diskA")?;
    wait_degraded(lab, &[head], false, "after diskA came back again")?;
    let got = lab.read(head, 0, IMAGE_MIB * MIB)?;
    expect_bytes("lvsB/head after the merge and diskA's return", &got, &model)?;

    // 3. A snapshot again, then head deleted: nothing freed is touched when
    //    the disk goes once more, and nothing holds it once both are gone.
    lab.unexport(head)?;
    let snap2 = steps::snapshot(lab, head, "snap2")?;
    ensure!(
        lab.tgt.ok(&BdevLvolDelete { name: head.into() })?,
        "delete of {head}"
    );
    remove_a(lab, &snap2)?;
    wait_degraded(
        lab,
        &[&snap2],
        true,
        "after head's delete and diskA's removal",
    )?;
    lab.readd_disk("diskA")?;
    wait_degraded(lab, &[&snap2], false, "after diskA came back a third time")?;
    let got = lab.read(&snap2, 0, IMAGE_MIB * MIB)?;
    expect_bytes("lvsB/snap2, head's last state", &got, &model)?;
    lab.unexport(&snap2)?;
    ensure!(
        lab.tgt.ok(&BdevLvolDelete {
            name: snap2.clone()
        })?,
        "delete of {snap2}"
    );
    remove_a(lab, "nothing")?;
    lab.readd_disk("diskA")?;
    // A clean shutdown (no use of freed memory at exit) and a clean load.
    lab.restart(Restart::Graceful)?;
    lab.tgt.check_alive()?;
    ensure!(
        lab.lvol(&image).is_ok(),
        "{image} is not listed after the restart"
    );
    Ok(format!(
        "4 removals of diskA answered (first in {:.0} ms): held by a snapshot of the esnap clone, by the clone after a merge, by a snapshot after the clone's delete, by nothing; healed {:.0} ms after the re-add; bytes intact",
        took.as_secs_f64() * 1000.0,
        healed.as_secs_f64() * 1000.0
    ))
}

// ----------------------------------------- lvol store delete vs inflate

const CLONES: usize = 12;

fn lvstore_delete_vs_inflate(lab: &mut Lab) -> Result<String> {
    // Every metadata write takes 50 ms: deleting 13 lvols takes over a second.
    steps::slow_lvstore(lab, "disk0", "lvs0", 256, Latency::writes(50_000))?;
    let base = steps::thin_lvol(lab, "lvs0", "base", 32)?;
    lab.write(&base, 0, &pattern(511, 2 * CLUSTER as usize))?;
    lab.unexport(&base)?;
    let snap = steps::snapshot(lab, &base, "snap")?;
    for i in 1..=CLONES {
        steps::clone_snapshot(lab, &snap, &format!("clone{i}"))?;
    }
    let last = format!("lvs0/clone{CLONES}");

    // The inflate goes right behind the delete on one connection: SPDK starts
    // it while the delete has begun taking the lvol store down.
    let mut conn = lab.tgt.connect()?;
    let del = steps::send(
        &mut conn,
        &BdevLvolDeleteLvstore {
            lvs_name: Some("lvs0".into()),
            uuid: None,
        },
    )?;
    let inflate = steps::send(&mut conn, &BdevLvolInflate { name: last.clone() })?;
    let t0 = Instant::now();
    let inflated = conn.wait_typed::<BdevLvolInflate>(inflate, steps::HANG_AFTER);
    let deleted = conn.wait_typed::<BdevLvolDeleteLvstore>(del, steps::HANG_AFTER);
    if let Err(e) = lab.tgt.check_alive() {
        fail!(
            "the target died while the lvol store was deleted with an inflate on {last} ({LVS_DELETE_RACE}): {e}"
        );
    }
    match &deleted {
        Err(e @ RpcError::Timeout { .. }) => fail!(
            "bdev_lvol_delete_lvstore never answered with an inflate on {last} ({LVS_DELETE_RACE}): {e}"
        ),
        Err(e) => fail!(
            "bdev_lvol_delete_lvstore failed although the inflate on {last} was to be refused: {e} ({LVS_DELETE_RACE})"
        ),
        Ok(v) => ensure!(*v, "bdev_lvol_delete_lvstore returned false"),
    }
    let refused = match inflated {
        Ok(v) => fail!(
            "bdev_lvol_inflate of {last} returned {v} while its lvol store was being deleted: it must be refused ({LVS_DELETE_RACE})"
        ),
        Err(e) => {
            ensure!(
                matches!(e.errno(), Some(Errno::ENODEV) | Some(Errno::EBUSY)),
                "bdev_lvol_inflate of {last} during the lvol store's delete: expected -ENODEV or -EBUSY, got {e}"
            );
            e
        }
    };
    let secs = t0.elapsed().as_secs_f64();
    ensure!(
        lab.lvstore("lvs0").is_err(),
        "lvs0 is still listed after its delete"
    );
    let left: Vec<String> = lab.lvols()?.into_iter().map(|l| l.alias).collect();
    ensure!(
        left.is_empty(),
        "lvols left after the lvol store's delete: {left:?}"
    );
    // Nothing comes back: the disk holds no lvol store.
    lab.restart_inspecting(Restart::Graceful, |stores| {
        ensure!(
            stores.iter().all(|(d, _)| d != "disk0"),
            "disk0 still holds a blobstore after its lvol store was deleted"
        );
        Ok(())
    })?;
    ensure!(lab.lvstore("lvs0").is_err(), "lvs0 is back after a restart");
    Ok(format!(
        "inflate refused ({}), lvstore with {} lvols deleted in {secs:.1} s; nothing back after a restart",
        refused
            .errno()
            .map(|e| format!("-{e:?}"))
            .unwrap_or_default(),
        CLONES + 2
    ))
}

// ------------------------------------------------- checksum under SIGKILL

/// What changes the checksummed snapshot's clusters.
#[derive(Debug, Clone, Copy)]
enum Change {
    /// `bdev_lvol_inflate` of the snapshot
    Inflate,
    /// `bdev_lvol_decouple_parent` of the snapshot
    Decouple,
    /// `bdev_lvol_delete` of its parent, which merges into it
    Merge,
}

/// What the inspector reports of an extent page left marked used.
const MD_PAGE_LEAK: &str = "the used md page mask marks md page(s)";

/// Kill points, as fractions of the change's duration.
const KILL_AT: [f64; 3] = [0.25, 0.5, 0.75];
/// Each write takes this long: a change takes about a second or more.
const CRASH_WRITE_US: u64 = 100_000;

fn checksum_crash(lab: &mut Lab) -> Result<String> {
    let mut trial = 0;
    let mut absent = 0;
    let mut kept = 0;
    for change in [Change::Inflate, Change::Decouple, Change::Merge] {
        // How long the change takes, undisturbed.
        trial += 1;
        let full = crash_trial(lab, change, trial, None)?;
        for f in KILL_AT {
            trial += 1;
            let at = full.mul_f64(f);
            match crash_trial(lab, change, trial, Some(at))? {
                d if d == Duration::ZERO => absent += 1,
                _ => kept += 1,
            }
        }
    }
    Ok(format!(
        "{} SIGKILLs during inflate, decouple and merge of a checksummed snapshot: checksum absent {absent} times, still matching its clusters {kept} times, never stale",
        3 * KILL_AT.len()
    ))
}

/// In a lab of its own (its lvstore on a slow disk: a restart loads it from
/// the disk directly), one chain `p<n>` (cluster 0) ← `s<n>` (cluster 1,
/// checksummed) ← `v<n>`, the change, and a SIGKILL `kill_at` into it (or
/// none: returns how long it took). After a kill, returns zero if the
/// checksum was gone on disk, else one second; a checksum that does not
/// match what `s<n>` holds on disk fails.
fn crash_trial(
    first: &mut Lab,
    change: Change,
    n: u32,
    kill_at: Option<Duration>,
) -> Result<Duration> {
    let mut own = Lab::with_build(first.build.clone(), first.base.clone())?;
    let lab = &mut own;
    // The checksum is read back from the file of disk0.
    lab.need_files()?;
    steps::slow_lvstore(lab, "disk0", "lvs0", 256, Latency::writes(CRASH_WRITE_US))?;
    let vol = steps::thin_lvol(lab, "lvs0", &format!("v{n}"), 32)?;
    lab.write(&vol, 0, &pattern(520 + u64::from(n), CLUSTER as usize))?;
    let p = steps::snapshot(lab, &vol, &format!("p{n}"))?;
    lab.write(
        &vol,
        CLUSTER,
        &pattern(620 + u64::from(n), CLUSTER as usize),
    )?;
    let s = steps::snapshot(lab, &vol, &format!("s{n}"))?;
    lab.unexport(&vol)?;
    lab.tgt.ok(&BdevLvolRegisterSnapshotChecksum {
        name: s.clone(),
        ..Default::default()
    })?;

    let mut conn = lab.tgt.connect()?;
    let t0 = Instant::now();
    let pending = match change {
        Change::Inflate => steps::send(&mut conn, &BdevLvolInflate { name: s.clone() })?,
        Change::Decouple => steps::send(&mut conn, &BdevLvolDecoupleParent { name: s.clone() })?,
        Change::Merge => steps::send(&mut conn, &BdevLvolDelete { name: p.clone() })?,
    };
    let Some(at) = kill_at else {
        conn.wait(pending, Duration::from_secs(60))
            .map_err(|e| Error::Check(format!("{change:?} of trial {n}: {e}")))?;
        let took = t0.elapsed();
        log_line(&format!(
            "{change:?} takes {:.0} ms undisturbed",
            took.as_secs_f64() * 1000.0
        ));
        return Ok(took);
    };
    // The kill point is the trial's parameter, not a wait for a condition.
    if let Some(rest) = at.checked_sub(t0.elapsed()) {
        std::thread::sleep(rest);
    }
    let name = format!("s{n}");
    let file = lab.disk_file("disk0")?;
    // The operation was killed: the snapshot may hold more clusters than
    // listed, and the lvstore fewer free ones; a parent being deleted may be
    // on disk or not.
    lab.growing.push(s.clone());
    // The listing is taken before the kill, and the change may end between
    // the two: the snapshot may then have no parent (`p<n>` has none), and
    // no longer be thin after an inflate.
    match change {
        Change::Inflate => lab.reparenting.push(Reparent {
            alias: s.clone(),
            to: None,
            thin: Some(false),
        }),
        Change::Decouple => lab.reparenting.push(Reparent {
            alias: s.clone(),
            to: None,
            thin: None,
        }),
        Change::Merge => lab.deleting.push(p.clone()),
    }
    let kept = lab.restart_inspecting(Restart::Kill, |stores| {
        let st = store(stores, "disk0")?;
        let blob = st
            .blob_by_name(&name)
            .ok_or_else(|| Error::Check(format!("{name} is not on disk after the kill")))?;
        let Some(value) = blob.checksum() else {
            return Ok(false);
        };
        // It must cover exactly what the snapshot holds on disk.
        let cluster = u64::from(st.super_block.cluster_size);
        let mut allocs = blob.allocated.clone();
        allocs.sort_by_key(|a| a.blob);
        let bytes = std::fs::read(&file).map_err(|e| Error::Tool(format!("read {}: {e}", file.display())))?;
        let mut d = steps::CRC64_GO_ISO.digest();
        for a in &allocs {
            let at = (u64::from(a.disk) * cluster) as usize;
            d.update(&bytes[at..at + cluster as usize]);
        }
        let want = d.finalize();
        ensure_eq!(
            value,
            want,
            "after a SIGKILL {:.0} ms into the {change:?} of trial {n}, the checksum of {name} on disk does not match the {} clusters it holds ({STALE_CHECKSUM})",
            at.as_secs_f64() * 1000.0,
            allocs.len()
        );
        Ok(true)
    })?;
    drop(conn);
    // What the load made of it, held to the disk once more. One defect of
    // upstream's recovery is known: when the load completes a snapshot delete
    // that was cut short after the clone took the snapshot's clusters into
    // its own extent page, the snapshot's extent page stays marked used (4
    // KiB of metadata space, no data).
    if let Change::Merge = change {
        lab.known_findings.push(MD_PAGE_LEAK);
    }
    lab.restart(Restart::Graceful)?;
    Ok(if kept {
        Duration::from_secs(1)
    } else {
        Duration::ZERO
    })
}

// ------------------------------------- a snapshot delete with a parent

/// The delete of snap2 makes four I/Os to the store's disk: the snapshot's
/// pending removal, the clone's extent page, the clone's metadata (now on
/// snap1), the snapshot's removal. A SIGKILL after each of the first three
/// (and after the answer) must leave a disk that loads whole.
fn middle_delete_crash(_first: &mut Lab) -> Result<String> {
    let mut seen = vec![];
    for at in [
        KillAt::Ios(1),
        KillAt::Ios(2),
        KillAt::Ios(3),
        KillAt::Answer,
    ] {
        match crash::kill_once(Op::Delete, at) {
            Ok(side) => seen.push(format!("{at}: {side}")),
            Err(e) => {
                fail!("SIGKILL {at} into the delete of lvs0/snap2 ({MIDDLE_DELETE_CRASH}): {e}")
            }
        }
    }
    Ok(format!(
        "4 SIGKILLs in the delete of a snapshot with a parent, each loaded whole: {}",
        seen.join(", ")
    ))
}
