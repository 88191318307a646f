//! Figure 6: per-cluster checksums of large snapshots. Thick lvols of
//! 64 GiB and 1 TiB over one sparse AIO file (clusters allocated, never
//! written: the pass reads holes), snapshotted, then range checksums
//! registered: their time, the metadata they take, what a `get` of the
//! first and of the last 256 clusters costs, and the lvstore's load time
//! with them against without.

use super::{ms, secs, timed, Figure, Plan, Row, Samples};
use crate::error::{Error, Result};
use crate::lab::{BaseKind, Lab, CLUSTER, MIB};
use crate::steps;
use crate::target::log_line;
use spdk_rpc::methods::*;
use std::time::Duration;

/// Snapshot sizes in GiB.
pub const SIZES_GIB: [u64; 2] = [64, 1024];
/// Clusters per `get` (Longhorn asks for its ranges in such pieces).
pub const GET_CLUSTERS: u64 = 256;
/// `get` calls timed per position.
const GETS: usize = 20;

/// Time a reattach of the disk: `bdev_aio_create` until the examine that
/// loads the lvstore is done.
fn load_time(lab: &mut Lab) -> Result<Duration> {
    lab.remove_disk("d")?;
    let (_, t) = timed(|| lab.readd_disk("d"))?;
    let stores = lab.tgt.ok(&BdevLvolGetLvstores::default())?;
    if !stores.iter().any(|s| s.name == "lvs") {
        return Err(Error::Check(
            "the lvstore did not load after the reattach".into(),
        ));
    }
    Ok(t)
}

pub fn range_checksums(plan: &Plan) -> Result<Figure> {
    let mut f = Figure::new(
        plan,
        6,
        "Scale of per-cluster checksums",
        "Thick lvols of 64 GiB and 1 TiB (4 MiB clusters) over one sparse AIO file, snapshotted. \
         Register: `bdev_lvol_register_snapshot_range_checksums`, request to answer (each \
         repetition for 64 GiB, once for 1 TiB: the pass reads 1 TiB). Metadata: the snapshot's \
         metadata pages as the inspector reads them from the file, before and after. Get: \
         `bdev_lvol_get_snapshot_range_checksums` of 256 clusters at the start and at the end, \
         20 calls each, interleaved. Load: the disk detached and attached again, \
         `bdev_aio_create` to the end of the examine that loads the lvstore, before and after \
         the checksums are stored.",
    );
    let total_mib: u64 = SIZES_GIB.iter().sum::<u64>() * 1024 + 2048;
    let mut lab = Lab::with_build(plan.patched.clone(), BaseKind::Aio)?;
    lab.create_lvstore("d", "lvs", total_mib)?;
    let mut snaps = vec![];
    for gib in SIZES_GIB {
        let v = steps::thick_lvol(&mut lab, "lvs", &format!("v{gib}"), gib * 1024)?;
        snaps.push((gib, steps::snapshot(&mut lab, &v, &format!("s{gib}"))?));
    }
    let file = lab.disk_file("d")?;
    let md_pages = |name: &str| -> Result<usize> {
        let store = lvs_inspect::Store::open(&file).map_err(|e| Error::Tool(format!("{e}")))?;
        let b = store
            .blob_by_name(name)
            .ok_or_else(|| Error::Check(format!("no blob {name} on disk")))?;
        Ok(b.md_pages.len())
    };
    let mut load_before = Samples::default();
    for _ in 0..plan.reps {
        load_before.push(ms(load_time(&mut lab)?));
    }
    for (gib, snap) in &snaps {
        let pages_before = md_pages(&format!("s{gib}"))?;
        let reps = if *gib >= 1024 { 1 } else { plan.reps };
        let mut reg = Samples::default();
        for _ in 0..reps {
            log_line(&format!("bench: range checksums of {gib} GiB"));
            // A pass over 1 TiB takes minutes: longer than the client's
            // default timeout.
            let mut conn = lab.tgt.connect()?;
            let (_, t) = timed(|| {
                conn.call_timeout(
                    &BdevLvolRegisterSnapshotRangeChecksums {
                        name: snap.clone(),
                        ..Default::default()
                    },
                    Duration::from_secs(3600),
                )
                .map_err(|e| Error::Check(format!("range checksums of {snap}: {e}")))
            })?;
            reg.push(secs(t));
        }
        let pages_after = md_pages(&format!("s{gib}"))?;
        let clusters = gib * 1024 * MIB / CLUSTER;
        let (mut first, mut last) = (Samples::default(), Samples::default());
        for _ in 0..GETS {
            for (start, out) in [(0, &mut first), (clusters - GET_CLUSTERS, &mut last)] {
                let (got, t) = timed(|| {
                    lab.tgt.ok(&BdevLvolGetSnapshotRangeChecksums {
                        name: snap.clone(),
                        cluster_start_index: start,
                        cluster_count: GET_CLUSTERS,
                    })
                })?;
                if got.len() as u64 != GET_CLUSTERS {
                    return Err(Error::Check(format!(
                        "get of {GET_CLUSTERS} clusters at {start} of {snap} gave {}",
                        got.len()
                    )));
                }
                out.push(ms(t));
            }
        }
        let size = if *gib >= 1024 {
            format!("{} TiB", gib / 1024)
        } else {
            format!("{gib} GiB")
        };
        f.rows.push(Row::context(
            format!("{size}: register ({clusters} clusters, s)"),
            reg.show(1),
        ));
        let per_cluster = (pages_after - pages_before) as f64 * 4096.0 / clusters as f64;
        f.rows.push(Row::context(
            format!("{size}: metadata pages before / after"),
            format!(
                "{pages_before} / {pages_after} (+{} KiB)",
                (pages_after - pages_before) * 4
            ),
        ));
        f.rows.push(Row::goal(
            format!("{size}: metadata bytes per cluster"),
            format!("{per_cluster:.1}"),
            "compact: at most 10 (an 8-byte value each)",
            per_cluster <= 10.0,
        ));
        f.rows.push(Row::context(
            format!("{size}: get of the first / last {GET_CLUSTERS} clusters (ms)"),
            format!("{} / {}", first.show(2), last.show(2)),
        ));
        let r = last.median() / first.median();
        f.rows.push(Row::goal(
            format!("{size}: get of the last / of the first"),
            format!("{r:.2}"),
            "the same cost wherever the range is (at most 1.5)",
            r <= 1.5,
        ));
    }
    let mut load_after = Samples::default();
    for _ in 0..plan.reps {
        load_after.push(ms(load_time(&mut lab)?));
    }
    f.rows.push(Row::context(
        "lvstore load without / with the checksums (ms)",
        format!("{} / {}", load_before.show(0), load_after.show(0)),
    ));
    f.rows.push(Row::context(
        "lvstore load with / without",
        format!("{:.2}", load_after.median() / load_before.median()),
    ));
    f.notes.push(
        "How the per-cluster values are kept: by position, 8 bytes a cluster, 500 to an internal \
         xattr (a window) that fills one metadata page; a window ends with the last cluster the \
         snapshot holds in it, and one where it holds none is not stored. A get looks up by name \
         only the windows its range falls in; a load parses every page of the snapshot's metadata."
            .into(),
    );
    Ok(f)
}
