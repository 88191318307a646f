//! Disks that move between builds: a node upgraded from Longhorn v1.8.x
//! (its `longhorn-v24.09` base) to a build with our series keeps its disks,
//! and one rolled back takes ours to the old build.
//!
//! For each ordered pair of builds, a target of the first writes an lvstore
//! with what a Longhorn replica holds: a chain of snapshots with registered
//! checksums (per cluster too where the build offers them), a detached
//! clone, and, where the build takes xattrs at snapshot time as Longhorn
//! v1.8 does, a backing image whose `checksum` xattr is its SHA-512. The
//! target stops; the disk is checked against its listing by the inspector,
//! as at every restart; a target of the second build loads it. Then: the
//! same lvols, parents and clusters; the same bytes; the same checksums;
//! per-cluster values where both builds have them, and none (-ENODEV, so
//! the engine registers again) where only the first did; the backing
//! image's xattr untouched, and no checksum read from it.

use crate::build::SpdkBuild;
use crate::data::{expect_bytes, pattern};
use crate::error::Result;
use crate::lab::{BaseKind, Lab, Restart, CLUSTER, MIB};
use crate::offline::on_disk;
use crate::outcome::{Expect, Outcome};
use crate::steps::{
    backing_image_sha512, backing_image_snapshot, clone_snapshot, has_ranges, snapshot, thin_lvol,
};
use crate::{ensure, ensure_eq, fail};
use spdk_rpc::methods::*;
use spdk_rpc::Errno;
use std::collections::BTreeMap;
use std::time::Instant;

/// What the first build left, to hold the second one to.
struct Written {
    /// alias -> (snapshot, clone, allocated clusters, parent)
    lvols: BTreeMap<String, LvolFacts>,
    checksums: Vec<(String, u64)>,
    /// `lvs0/s1`'s per-cluster values, where the first build registered them.
    ranges: Option<Vec<ClusterChecksum>>,
    /// The bytes of the first 4 clusters of each lvol.
    bytes: Vec<(String, Vec<u8>)>,
    /// The backing image's `checksum` xattr, where the first build made one.
    backing_image: Option<Vec<u8>>,
}

const CLUSTERS: u64 = 4;

/// What a disk move must carry of each lvol: snapshot, clone, allocated
/// clusters, parent.
type LvolFacts = (bool, bool, u64, Option<String>);

fn lvols_of(lab: &mut Lab) -> Result<BTreeMap<String, LvolFacts>> {
    let mut out = BTreeMap::new();
    for l in lab.lvols()? {
        let parent = lab.lvol_bdev(&l.alias)?.base_snapshot;
        out.insert(
            l.alias.clone(),
            (l.is_snapshot, l.is_clone, l.allocated(), parent),
        );
    }
    Ok(out)
}

/// A Longhorn replica's lvstore, on `lab`'s build: `vol` over snapshots `s1`
/// over `s0`, all checksummed; a clone of `s1` with data of its own,
/// detached; and a backing image `bi` with its SHA-512 in a `checksum`
/// xattr, where the build takes xattrs at snapshot time.
fn write(lab: &mut Lab) -> Result<Written> {
    lab.create_lvstore("disk0", "lvs0", 128)?;
    let mib = CLUSTERS * CLUSTER / MIB;
    let vol = thin_lvol(lab, "lvs0", "vol", mib)?;
    let fill = |lab: &mut Lab, lvol: &str, c: u64, seed: u64| {
        lab.write(lvol, c * CLUSTER, &pattern(seed, 64 * 1024))
    };
    fill(lab, &vol, 0, 800)?;
    fill(lab, &vol, 3, 803)?;
    let s0 = snapshot(lab, &vol, "s0")?;
    fill(lab, &vol, 1, 801)?;
    let s1 = snapshot(lab, &vol, "s1")?;
    fill(lab, &vol, 2, 802)?;
    let c = clone_snapshot(lab, &s1, "c")?;
    fill(lab, &c, 3, 813)?;
    lab.unexport(&c)?;
    if lab.has_method("bdev_lvol_detach_parent")? {
        lab.tgt.ok(&BdevLvolDetachParent { name: c.clone() })?;
    }
    let mut checksums = vec![];
    for s in [&s0, &s1] {
        lab.tgt.ok(&BdevLvolRegisterSnapshotChecksum {
            name: s.clone(),
            ..Default::default()
        })?;
    }
    let ranges = if has_ranges(lab)? {
        lab.tgt.ok(&BdevLvolRegisterSnapshotRangeChecksums {
            name: s1.clone(),
            ..Default::default()
        })?;
        Some(lab.tgt.ok(&BdevLvolGetSnapshotRangeChecksums {
            name: s1.clone(),
            cluster_start_index: 0,
            cluster_count: CLUSTERS,
        })?)
    } else {
        None
    };
    for s in [&s0, &s1] {
        checksums.push((
            s.clone(),
            lab.tgt
                .ok(&BdevLvolGetSnapshotChecksum { name: s.clone() })?
                .checksum,
        ));
    }
    // Longhorn v1.8's backing image: a snapshot created with its SHA-512 in
    // a `checksum` xattr. Upstream's bdev_lvol_snapshot takes no xattrs.
    let head = thin_lvol(lab, "lvs0", "bi-head", mib)?;
    fill(lab, &head, 0, 820)?;
    lab.unexport(&head)?;
    let backing_image = backing_image_snapshot(lab, &head, "bi")?.then(backing_image_sha512);
    let mut bytes = vec![];
    for l in [&vol, &s0, &s1, &c] {
        bytes.push((l.clone(), lab.read(l, 0, CLUSTERS * CLUSTER)?));
        lab.unexport(l)?;
    }
    Ok(Written {
        lvols: lvols_of(lab)?,
        checksums,
        ranges,
        bytes,
        backing_image,
    })
}

/// The target holds what `w` says was written: the lvols (`loaded`, as
/// [`lvols_of`] lists them), their bytes and the whole checksums.
fn expect_written(
    lab: &mut Lab,
    w: &Written,
    loaded: BTreeMap<String, LvolFacts>,
    when: &str,
) -> Result<()> {
    ensure_eq!(
        loaded,
        w.lvols,
        "lvols (snapshot, clone, clusters, parent) {when} against what was written"
    );
    for (l, want) in &w.bytes {
        let got = lab.read(l, 0, CLUSTERS * CLUSTER)?;
        expect_bytes(&format!("{l} {when}"), &got, want)?;
        lab.unexport(l)?;
    }
    for (s, want) in &w.checksums {
        ensure_eq!(
            lab.tgt
                .ok(&BdevLvolGetSnapshotChecksum { name: s.clone() })?
                .checksum,
            *want,
            "checksum of {s} {when}"
        );
    }
    Ok(())
}

/// Move the disk of `from` to `to` and check what carried over. Returns what
/// carried and what did not, by design.
fn move_disk(from: &SpdkBuild, to: &(String, SpdkBuild)) -> Result<String> {
    let mut lab = Lab::with_build(from.clone(), BaseKind::Aio)?;
    let w = write(&mut lab)?;
    // The stop, the inspector's check against the listing, and the start of
    // the other build, on the one restart path.
    lab.restart_on(to.1.clone(), Restart::Graceful, |st| {
        if let Some(sha) = &w.backing_image {
            let Some(bi) = on_disk(st, "disk0", "bi")? else {
                fail!("lvs0/bi is not on disk");
            };
            ensure!(
                bi.xattr("checksum").is_some_and(|x| &x.raw == sha),
                "the backing image's checksum xattr on disk is not the {}-byte SHA-512 it was made with",
                sha.len()
            );
        }
        Ok(())
    })?;
    let label = &to.0;
    let loaded = lvols_of(&mut lab)?;
    if loaded.is_empty() && refuses_long_names(from, &to.1) {
        return names_do_not_carry(&mut lab, from, label, &w);
    }
    expect_written(&mut lab, &w, loaded, &format!("on {label}"))?;
    let mut notes = vec![format!("{} checksums", w.checksums.len())];
    let to_ranges = has_ranges(&mut lab)?;
    match (&w.ranges, to_ranges) {
        (Some(want), true) => {
            let got = lab.tgt.ok(&BdevLvolGetSnapshotRangeChecksums {
                name: "lvs0/s1".into(),
                cluster_start_index: 0,
                cluster_count: CLUSTERS,
            })?;
            // A build that leaves out unallocated clusters answers fewer
            // entries; each value it does answer must be the same.
            let mine: BTreeMap<u64, u64> =
                got.iter().map(|c| (c.cluster_index, c.checksum)).collect();
            let theirs: BTreeMap<u64, u64> =
                want.iter().map(|c| (c.cluster_index, c.checksum)).collect();
            for (i, v) in &theirs {
                ensure!(
                    mine.get(i).copied().unwrap_or(0) == *v,
                    "per-cluster checksum of lvs0/s1 cluster {i} on {label}: {:?}, written {v}",
                    mine.get(i)
                );
            }
            notes.push("per-cluster values".into());
        }
        (Some(_), false) => {
            notes.push("per-cluster values stay on disk, unread (no range RPCs)".into())
        }
        (None, true) => {
            // Nothing registered them: the engine's probe says so, and it registers.
            let r = lab.tgt.call(&BdevLvolGetSnapshotRangeChecksums {
                name: "lvs0/s1".into(),
                cluster_start_index: 0,
                cluster_count: 1,
            });
            ensure!(
                r.as_ref().err().and_then(|e| e.errno()) == Some(Errno::ENODEV),
                "range checksums of lvs0/s1 on {label}, never registered: expected -ENODEV, got {r:?}"
            );
            notes.push("no per-cluster values: -ENODEV, registered again".into());
        }
        (None, false) => {}
    }
    if w.backing_image.is_some() {
        let r = lab.tgt.call(&BdevLvolGetSnapshotChecksum {
            name: "lvs0/bi".into(),
        });
        ensure!(
            r.as_ref().err().and_then(|e| e.errno()) == Some(Errno::ENODEV),
            "checksum of the backing image lvs0/bi (a foreign 129-byte xattr) on {label}: expected -ENODEV, got {r:?}"
        );
        notes.push("backing image's SHA-512 kept, not read as a checksum".into());
    }
    // The moved disk takes a new checksum on the new build.
    ensure!(
        lab.tgt.ok(&BdevLvolRegisterSnapshotChecksum {
            name: "lvs0/s1".into(),
            ..Default::default()
        })?,
        "register of lvs0/s1 on {label} must return true"
    );
    ensure_eq!(
        lab.tgt
            .ok(&BdevLvolGetSnapshotChecksum {
                name: "lvs0/s1".into()
            })?
            .checksum,
        w.checksums[1].1,
        "checksum of lvs0/s1 registered again on {label}"
    );
    // And survives its own restart, checked again by the inspector.
    lab.restart(Restart::Graceful)?;
    if w.ranges.is_some() && !to_ranges {
        // Rolled back to a build without per-cluster checksums, which then
        // merges s0 into s1: it removes s1's whole checksum and leaves the
        // per-cluster values it does not know. Forward again, they must not
        // be read as s1's.
        lab.tgt.ok(&BdevLvolDelete {
            name: "lvs0/s0".into(),
        })?;
        lab.restart_on(from.clone(), Restart::Graceful, |_| Ok(()))?;
        let r = lab.tgt.call(&BdevLvolGetSnapshotRangeChecksums {
            name: "lvs0/s1".into(),
            cluster_start_index: 0,
            cluster_count: CLUSTERS,
        });
        ensure!(
            r.as_ref().err().and_then(|e| e.errno()) == Some(Errno::ENODEV),
            "per-cluster checksums of lvs0/s1 back on {} after {label} merged s0 into it: expected -ENODEV, got {r:?} (stale values)",
            from.base
        );
        lab.tgt.ok(&BdevLvolRegisterSnapshotRangeChecksums {
            name: "lvs0/s1".into(),
            ..Default::default()
        })?;
        let got = lab.tgt.ok(&BdevLvolGetSnapshotRangeChecksums {
            name: "lvs0/s1".into(),
            cluster_start_index: 0,
            cluster_count: CLUSTERS,
        })?;
        ensure_eq!(
            got.iter()
                .filter(|c| c.checksum != 0)
                .map(|c| c.cluster_index)
                .collect::<Vec<_>>(),
            vec![0, 1, 3],
            "clusters with a checksum in lvs0/s1's per-cluster values after s0 (0, 3) merged into it (1)"
        );
        notes.push(format!(
            "merged on {label} and back on {}: per-cluster values -ENODEV, not stale",
            from.base
        ));
    }
    lab.tgt.check_alive()?;
    Ok(notes.join(", "))
}

/// Longhorn's base raised `SPDK_LVOL_NAME_MAX` from upstream's 64 to 256
/// (its lvol names run to 100 characters) and pads every lvol's `name`
/// xattr to that length, as upstream pads it to 64. Upstream's load refuses
/// a `name` xattr longer than its limit ("Cannot assign lvol name"), so
/// none of the lvols of a disk written by a Longhorn build loads on a build
/// of upstream's tree.
fn refuses_long_names(from: &SpdkBuild, to: &SpdkBuild) -> bool {
    from.base.starts_with("longhorn") && !to.base.starts_with("longhorn")
}

/// What does not carry, and that trying does no harm: the new build loaded
/// none of the lvols, and says why; taken back to the build that wrote it,
/// the disk holds everything it held.
fn names_do_not_carry(lab: &mut Lab, from: &SpdkBuild, label: &str, w: &Written) -> Result<String> {
    let log = std::fs::read_to_string(lab.tgt.log_path()).unwrap_or_default();
    let refused = log.matches("Cannot assign lvol name").count();
    ensure!(
        refused > 0,
        "no lvol of the disk loaded on {label}, and its log does not say they were refused for their names"
    );
    lab.tgt.check_alive()?;
    lab.restart_on(from.clone(), Restart::Graceful, |_| Ok(()))?;
    let loaded = lvols_of(lab)?;
    expect_written(
        lab,
        w,
        loaded,
        &format!("back on {} after {label} refused them", from.base),
    )?;
    Ok(format!(
        "does not carry: {refused} lvols refused on {label} (\"Cannot assign lvol name\": Longhorn pads names to 256 bytes, upstream takes 64); back on {}, all {} lvols, bytes and checksums intact",
        from.base,
        w.lvols.len()
    ))
}

/// One outcome per ordered pair of builds: `cross_disk_<from>_to_<to>`.
pub fn run(builds: &[(String, SpdkBuild)]) -> Vec<Outcome> {
    let mut out = vec![];
    for (i, from) in builds.iter().enumerate() {
        for (j, to) in builds.iter().enumerate() {
            if i == j {
                continue;
            }
            let t0 = Instant::now();
            let result = move_disk(&from.1, to)
                .map(|notes| format!("{} -> {}: {notes}", from.0, to.0))
                .map_err(|e| format!("{} -> {}: {e}", from.0, to.0));
            let name: &'static str = Box::leak(
                format!("cross_disk_{}_to_{}", from.0, to.0)
                    .replace(['-', '.'], "_")
                    .into_boxed_str(),
            );
            out.push(Outcome {
                name,
                result,
                secs: t0.elapsed().as_secs_f64(),
                expect: Expect::Pass,
            });
        }
    }
    out
}
