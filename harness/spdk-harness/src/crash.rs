//! The crash matrix: `spdk_tgt` is SIGKILLed at a seeded point in the middle
//! of each operation that changes an lvol store, and the disk it leaves is
//! held to what the operation promises.
//!
//! Each trial builds the same small world in a lab of its own (lvstore `lvs0`
//! on a delay bdev over disk0, so every I/O of the store takes
//! [`IO_LATENCY_US`]): `snap1` ← `snap2` ← `base`, and `orphan` without a
//! parent, each written through NVMe-oF into the harness's model of its
//! bytes. Then it sends one operation and kills the target after the k-th
//! I/O to the store's disk completes, k drawn from the trial's seed between
//! 0 and the number of I/Os the operation made undisturbed (measured once
//! per run, the calibration), or after the operation answered. After the
//! kill:
//! - the inspector reads the disk while nothing has it open, and a finding
//!   fails the trial;
//! - the target starts again and the lvstore must load;
//! - every lvol is in its before state or its after state, and all of them
//!   in the same one (names, parent links, external snapshot links, snapshot
//!   and clone flags, as a load makes them);
//! - every lvol reads back byte-identical to the model of that state (for
//!   writes over NVMe-oF, each block old or new);
//! - a snapshot's checksum, whole or per cluster, is correct or absent;
//! - after a graceful restart, no cluster leaked: the used cluster mask marks
//!   exactly the clusters the blobs own, and the lvstore's free clusters are
//!   what the inspector counts.
//!
//! A failing trial names its operation, its seed, the point it was killed
//! at and the command that replays it.

use crate::data::{expect_bytes, pattern};
use crate::error::{Error, Result};
use crate::lab::{DdJob, Lab, Restart, CLUSTER, MIB};
use crate::offline::{check_findings_expecting, store};
use crate::outcome::{Expect, Outcome};
use crate::steps::{self, poll, Latency, CRC64_GO_ISO};
use crate::{ensure, ensure_eq, fail};
use spdk_rpc::methods::*;
use spdk_rpc::{Client, Errno, Pending};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Every I/O to the lvstore's disk takes this long while the operation runs:
/// an operation of a dozen metadata writes takes over 100 ms, and the kill
/// lands between two of them by counting, not by timing.
pub const IO_LATENCY_US: u64 = 10_000;
const LVS: &str = "lvs0";
const VOL_MIB: u64 = 32;
const VOL_BYTES: usize = (VOL_MIB * MIB) as usize;
const CLUSTERS: u64 = VOL_MIB * MIB / CLUSTER;
/// How long an undisturbed operation may take.
const OP_BOUND: Duration = Duration::from_secs(120);
/// How the inspector words a mark of an interrupted operation that the next
/// load completes or rolls back.
const RESOLVED_BY_LOAD: &str = "that SPDK's load resolves";

/// The operations a trial kills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `bdev_lvol_register_snapshot_checksum` of snap1
    Checksum,
    /// `bdev_lvol_register_snapshot_range_checksums` of snap1
    RangeChecksums,
    /// `bdev_lvol_detach_parent` of base
    Detach,
    /// `bdev_lvol_delete` of snap2, which merges into base
    Delete,
    /// `bdev_lvol_delete` of snap1 while a checksum pass sent right before
    /// it on the same connection holds it: refused, -EBUSY
    DeleteRefused,
    /// `bdev_lvol_snapshot` of base
    Snapshot,
    /// `bdev_lvol_clone` of snap1
    Clone,
    /// `bdev_lvol_set_parent` of orphan to snap1
    SetParent,
    /// `bdev_lvol_inflate` of snap2 (checksummed)
    Inflate,
    /// `bdev_lvol_decouple_parent` of snap2 (checksummed)
    Decouple,
    /// `bdev_lvol_start_shallow_copy` of snap2 to disk1
    ShallowCopy,
    /// `bdev_lvol_clone_bdev` of the image disk into lvs0
    EsnapClone,
    /// 32 MiB written over base through NVMe-oF
    Writes,
}

pub const OPS: [Op; 13] = [
    Op::Checksum,
    Op::RangeChecksums,
    Op::Detach,
    Op::Delete,
    Op::DeleteRefused,
    Op::Snapshot,
    Op::Clone,
    Op::SetParent,
    Op::Inflate,
    Op::Decouple,
    Op::ShallowCopy,
    Op::EsnapClone,
    Op::Writes,
];

impl Op {
    pub fn label(self) -> &'static str {
        match self {
            Op::Checksum => "checksum",
            Op::RangeChecksums => "range_checksums",
            Op::Detach => "detach",
            Op::Delete => "delete",
            Op::DeleteRefused => "delete_refused",
            Op::Snapshot => "snapshot",
            Op::Clone => "clone",
            Op::SetParent => "set_parent",
            Op::Inflate => "inflate",
            Op::Decouple => "decouple",
            Op::ShallowCopy => "shallow_copy",
            Op::EsnapClone => "esnap_clone",
            Op::Writes => "nvmf_writes",
        }
    }

    /// The outcome's name in the report.
    fn outcome_name(self) -> &'static str {
        match self {
            Op::Checksum => "crash_checksum",
            Op::RangeChecksums => "crash_range_checksums",
            Op::Detach => "crash_detach",
            Op::Delete => "crash_delete",
            Op::DeleteRefused => "crash_delete_refused",
            Op::Snapshot => "crash_snapshot",
            Op::Clone => "crash_clone",
            Op::SetParent => "crash_set_parent",
            Op::Inflate => "crash_inflate",
            Op::Decouple => "crash_decouple",
            Op::ShallowCopy => "crash_shallow_copy",
            Op::EsnapClone => "crash_esnap_clone",
            Op::Writes => "crash_nvmf_writes",
        }
    }

    pub fn parse(s: &str) -> Option<Op> {
        OPS.iter().copied().find(|o| o.label() == s)
    }

    /// The method the target must offer for this operation.
    fn method(self) -> &'static str {
        match self {
            Op::Checksum => "bdev_lvol_register_snapshot_checksum",
            Op::RangeChecksums => "bdev_lvol_register_snapshot_range_checksums",
            Op::Detach => "bdev_lvol_detach_parent",
            Op::Delete => "bdev_lvol_delete",
            Op::DeleteRefused => "bdev_lvol_register_snapshot_checksum",
            Op::Snapshot => "bdev_lvol_snapshot",
            Op::Clone => "bdev_lvol_clone",
            Op::SetParent => "bdev_lvol_set_parent",
            Op::Inflate => "bdev_lvol_inflate",
            Op::Decouple => "bdev_lvol_decouple_parent",
            Op::ShallowCopy => "bdev_lvol_start_shallow_copy",
            Op::EsnapClone => "bdev_lvol_clone_bdev",
            Op::Writes => "nvmf_subsystem_add_ns",
        }
    }
}

/// What to run: `trials` trials over `ops` in turn, trial i with the seed
/// [`trial_seed`]`(seed, i)`; or one trial of one operation with its seed.
#[derive(Debug, Clone)]
pub struct Plan {
    pub seed: u64,
    pub trials: u32,
    pub ops: Vec<Op>,
    pub replay: Option<(Op, u64)>,
}

/// SplitMix64: the seed of trial `i` of a run seeded `seed`.
pub fn trial_seed(seed: u64, i: u32) -> u64 {
    let mut z = seed.wrapping_add(
        u64::from(i)
            .wrapping_add(1)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15),
    );
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Where a trial kills the target: after `ios` I/Os to the store's disk
/// completed, or once the operation answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillAt {
    Ios(u64),
    Answer,
}

impl std::fmt::Display for KillAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KillAt::Ios(k) => write!(f, "after I/O {k}"),
            KillAt::Answer => f.write_str("after the answer"),
        }
    }
}

/// The kill point of a trial seeded `seed` for an operation that made `ios`
/// I/Os undisturbed: one of `0..max(ios, 1)` I/Os or the answer, uniformly.
fn kill_point(seed: u64, ios: u64) -> KillAt {
    let n = ios.max(1);
    match seed % (n + 1) {
        k if k == n => KillAt::Answer,
        k => KillAt::Ios(k),
    }
}

/// What one operation did undisturbed.
#[derive(Debug, Clone, Copy)]
struct Calibration {
    ios: u64,
    took: Duration,
}

/// Run the plan: a calibration per operation, then the trials. One outcome
/// per operation.
pub fn run(plan: &Plan) -> Vec<Outcome> {
    let ops: Vec<Op> = match plan.replay {
        Some((op, _)) => vec![op],
        None => plan.ops.clone(),
    };
    let mut out = vec![];
    let mut per_op: BTreeMap<&'static str, Tally> = BTreeMap::new();
    let mut cals: BTreeMap<&'static str, std::result::Result<Calibration, String>> =
        BTreeMap::new();
    for &op in &ops {
        eprintln!("[crash] calibrating {} ...", op.label());
        let t0 = Instant::now();
        let c = guarded(|| trial(op, None)).map(|t| match t {
            TrialEnd::Calibrated(c) => c,
            TrialEnd::Killed { .. } => unreachable!("a calibration does not kill"),
        });
        match &c {
            Ok(c) => eprintln!(
                "[crash] {}: {} I/Os to the store's disk, {:.0} ms undisturbed",
                op.label(),
                c.ios,
                c.took.as_secs_f64() * 1000.0
            ),
            Err(e) => eprintln!("[crash] {}: calibration failed: {e}", op.label()),
        }
        let tally = per_op.entry(op.outcome_name()).or_default();
        tally.secs += t0.elapsed().as_secs_f64();
        if let Err(e) = &c {
            tally
                .failures
                .push(format!("undisturbed {}: {e}", op.label()));
        }
        cals.insert(op.outcome_name(), c.map_err(|e| e.to_string()));
    }
    let trials: Vec<(Op, u64)> = match plan.replay {
        Some(r) => vec![r],
        None => (0..plan.trials)
            .map(|i| (ops[i as usize % ops.len()], trial_seed(plan.seed, i)))
            .collect(),
    };
    for (i, &(op, seed)) in trials.iter().enumerate() {
        let tally = per_op.entry(op.outcome_name()).or_default();
        let Ok(cal) = cals[op.outcome_name()].clone() else {
            continue;
        };
        let at = kill_point(seed, cal.ios);
        eprintln!(
            "[crash] trial {}/{} {} seed {seed:#018x}: kill {}",
            i + 1,
            trials.len(),
            op.label(),
            describe(at, cal.ios)
        );
        let t0 = Instant::now();
        let r = guarded(|| trial(op, Some(at)));
        tally.secs += t0.elapsed().as_secs_f64();
        tally.trials += 1;
        match r {
            Ok(TrialEnd::Killed {
                side,
                after,
                resolved,
            }) => {
                eprintln!(
                    "[crash]   killed {:.0} ms after the request; {resolved} mark(s) on disk \
                     for the load to resolve; loaded in its {side} state",
                    after.as_secs_f64() * 1000.0
                );
                *tally.sides.entry(side).or_default() += 1;
            }
            Ok(TrialEnd::Calibrated(_)) => unreachable!("a trial kills"),
            Err(e) => {
                let msg = format!(
                    "trial seed {seed:#018x}, {}, killed {}: {e}\n  replay: spdk-verify --crash-matrix --replay {}:{seed:#x}",
                    op.label(),
                    describe(at, cal.ios),
                    op.label()
                );
                eprintln!("[crash]   FAIL: {msg}");
                tally.failures.push(msg);
            }
        }
    }
    for &op in &ops {
        let t = per_op.remove(op.outcome_name()).unwrap_or_default();
        let cal = &cals[op.outcome_name()];
        let result = if t.failures.is_empty() {
            let c = cal.as_ref().expect("no failure means a calibration");
            Ok(format!(
                "{} kill(s) over {} I/Os ({:.0} ms undisturbed): {}",
                t.trials,
                c.ios,
                c.took.as_secs_f64() * 1000.0,
                if t.sides.is_empty() {
                    "none".into()
                } else {
                    t.sides
                        .iter()
                        .map(|(s, n)| format!("{n} loaded {s}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ))
        } else {
            Err(t.failures.join("\n"))
        };
        out.push(Outcome {
            name: op.outcome_name(),
            result,
            secs: t.secs,
            expect: Expect::Pass,
        });
    }
    out
}

#[derive(Default)]
struct Tally {
    trials: u32,
    sides: BTreeMap<&'static str, u32>,
    failures: Vec<String>,
    secs: f64,
}

fn describe(at: KillAt, ios: u64) -> String {
    match at {
        KillAt::Ios(k) => format!("after {k} of the {ios} I/Os to the store's disk completed"),
        KillAt::Answer => "after the answer".into(),
    }
}

/// One trial of `op` killed at `at` (no calibration): the state the lvols
/// loaded in, or what did not hold up.
pub fn kill_once(op: Op, at: KillAt) -> Result<&'static str> {
    match guarded(|| trial(op, Some(at)))? {
        TrialEnd::Killed { side, .. } => Ok(side),
        TrialEnd::Calibrated(_) => unreachable!("a trial with a kill point kills"),
    }
}

/// A panic in a trial is its failure.
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    crate::error::catch_panic("the trial", f)
}

// ------------------------------------------------------------ the model

/// One lvol as the harness believes it is.
#[derive(Debug, Clone, PartialEq)]
struct Vol {
    bytes: Vec<u8>,
    /// Clusters it has allocated itself.
    own: BTreeSet<u64>,
    parent: Option<String>,
    esnap: bool,
    snapshot: bool,
}

impl Vol {
    fn new() -> Self {
        Vol {
            bytes: vec![0; VOL_BYTES],
            own: BTreeSet::new(),
            parent: None,
            esnap: false,
            snapshot: false,
        }
    }
}

/// The lvols of lvs0 by name.
type World = BTreeMap<String, Vol>;

fn write_model(w: &mut World, name: &str, offset: u64, data: &[u8]) {
    let v = w.get_mut(name).expect("a modelled lvol");
    v.bytes[offset as usize..offset as usize + data.len()].copy_from_slice(data);
    let first = offset / CLUSTER;
    let last = (offset + data.len() as u64 - 1) / CLUSTER;
    v.own.extend(first..=last);
}

fn snapshot_model(w: &mut World, origin: &str, snap: &str) {
    let o = w.get_mut(origin).expect("a modelled lvol");
    let s = Vol {
        bytes: o.bytes.clone(),
        own: std::mem::take(&mut o.own),
        parent: o.parent.replace(snap.into()),
        esnap: std::mem::replace(&mut o.esnap, false),
        snapshot: true,
    };
    w.insert(snap.into(), s);
}

/// Clusters `c` of `v` it does not own now read from `from` (zeros if none).
fn inherit(v: &mut Vol, from: Option<&Vol>) {
    for c in 0..CLUSTERS {
        if v.own.contains(&c) {
            continue;
        }
        let r = (c * CLUSTER) as usize..((c + 1) * CLUSTER) as usize;
        match from {
            Some(p) => {
                let src = p.bytes[r.clone()].to_vec();
                v.bytes[r].copy_from_slice(&src);
            }
            None => v.bytes[r].fill(0),
        }
    }
}

/// The world after `op` completed.
fn after(op: Op, before: &World, image: &[u8]) -> World {
    let mut w = before.clone();
    match op {
        Op::Checksum
        | Op::RangeChecksums
        | Op::DeleteRefused
        | Op::ShallowCopy
        | Op::Decouple
        | Op::Inflate => {
            if matches!(op, Op::Decouple | Op::Inflate) {
                // snap2's parent (snap1) has none: both leave it without one.
                let p = w["snap1"].parent.clone();
                w.get_mut("snap2").unwrap().parent = p;
            }
        }
        Op::Detach => {
            let b = w.get_mut("base").unwrap();
            b.parent = None;
            inherit(b, None);
        }
        Op::Delete => {
            let s = w.remove("snap2").unwrap();
            w.get_mut("base").unwrap().parent = s.parent;
        }
        Op::Snapshot => snapshot_model(&mut w, "base", "snap3"),
        Op::Clone => {
            let mut c = Vol::new();
            c.bytes = w["snap1"].bytes.clone();
            c.parent = Some("snap1".into());
            w.insert("clone2".into(), c);
        }
        Op::SetParent => {
            let p = w["snap1"].clone();
            let o = w.get_mut("orphan").unwrap();
            o.parent = Some("snap1".into());
            inherit(o, Some(&p));
        }
        Op::EsnapClone => {
            let mut c = Vol::new();
            c.bytes = image.to_vec();
            c.esnap = true;
            w.insert("eclone".into(), c);
        }
        Op::Writes => write_model(&mut w, "base", 0, &write_data()),
    }
    w
}

fn write_data() -> Vec<u8> {
    pattern(9013, VOL_BYTES)
}

/// What a load makes of an lvol: flags and links, compared between the
/// model and the target.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shape {
    snapshot: bool,
    clone: bool,
    esnap_clone: bool,
    parent: Option<String>,
}

/// The shapes the model's lvols take after a load. A load makes a snapshot
/// without clones a plain read-only lvol.
fn shapes(w: &World) -> BTreeMap<String, Shape> {
    w.iter()
        .map(|(n, v)| {
            let has_clones = w.values().any(|o| o.parent.as_deref() == Some(n.as_str()));
            (
                n.clone(),
                Shape {
                    snapshot: v.snapshot && has_clones,
                    clone: v.parent.is_some(),
                    esnap_clone: v.esnap,
                    parent: v.parent.clone(),
                },
            )
        })
        .collect()
}

/// The shapes the target lists for lvs0's lvols now.
fn listed_shapes(lab: &mut Lab) -> Result<BTreeMap<String, Shape>> {
    let lvols = lab.tgt.ok(&BdevLvolGetLvols::default())?;
    let bdevs = lab.tgt.ok(&BdevGetBdevs::default())?;
    let mut out = BTreeMap::new();
    for l in lvols.into_iter().filter(|l| l.lvs.name == LVS) {
        let d = crate::offline::lvol_bdev_of(&bdevs, &l).ok_or_else(|| {
            Error::Check(format!(
                "{} has no bdev after the load (degraded: {})",
                l.alias, l.is_degraded
            ))
        })?;
        out.insert(
            l.name.clone(),
            Shape {
                snapshot: l.is_snapshot,
                clone: l.is_clone,
                esnap_clone: l.is_esnap_clone,
                parent: d.base_snapshot.clone(),
            },
        );
    }
    Ok(out)
}

// ------------------------------------------------------------- a trial

enum TrialEnd {
    Calibrated(Calibration),
    Killed {
        side: &'static str,
        after: Duration,
        /// Findings on the killed disk that the load resolved.
        resolved: usize,
    },
}

/// The operation on its way.
enum Running {
    /// The request, and the one sent before it on the same connection, if
    /// any (the pass a refused delete finds)
    Rpc(Client, Pending, Option<Pending>),
    Shallow(u32),
    Dd(DdJob),
}

/// What a trial sets up besides lvs0.
struct Setup {
    world: World,
    slow: String,
    image: Vec<u8>,
    image_bdev: Option<String>,
    dst_bdev: Option<String>,
    /// Does the target offer whole and per-cluster checksums?
    checksums: bool,
    ranges: bool,
}

/// One trial in a lab of its own: build the world, run `op`, and either let
/// it finish (a calibration: the world after it must load as modelled) or
/// kill the target at `kill`'s point and check what loads.
fn trial(op: Op, kill: Option<KillAt>) -> Result<TrialEnd> {
    let mut lab = Lab::new()?;
    let lab = &mut lab;
    let missing = lab.missing_methods(&[op.method()])?;
    ensure!(
        missing.is_empty(),
        "the target does not offer {}: this build cannot run the {} trials",
        missing.join(", "),
        op.label()
    );
    let mut s = setup(lab, op)?;
    let before = s.world.clone();
    let after_w = after(op, &before, &s.image);
    steps::set_read_latency(lab, &s.slow, IO_LATENCY_US)?;
    steps::set_write_latency(lab, &s.slow, IO_LATENCY_US)?;
    let io0 = ios(lab, &s.slow)?;
    let t0 = Instant::now();
    let mut running = start(lab, op, &mut s)?;

    let Some(at) = kill else {
        // Undisturbed: the answer is what the operation promises.
        finish(lab, op, running)?;
        let took = t0.elapsed();
        let n = ios(lab, &s.slow)? - io0;
        steps::set_read_latency(lab, &s.slow, 0)?;
        steps::set_write_latency(lab, &s.slow, 0)?;
        lab.restart(Restart::Graceful)?;
        let side = check_loaded(lab, op, &before, &after_w, &s, &["after"])?;
        ensure_eq!(side, "after", "the undisturbed {} loads as", op.label());
        return Ok(TrialEnd::Calibrated(Calibration { ios: n, took }));
    };

    // Wait for the kill point: the k-th I/O to the store's disk, or the answer.
    match at {
        KillAt::Ios(k) => {
            poll(
                &format!("{k} I/Os of the {} to complete", op.label()),
                OP_BOUND,
                || {
                    if ios(lab, &s.slow)? - io0 >= k || done(lab, &mut running)? {
                        return Ok(Some(()));
                    }
                    Ok(None)
                },
            )?;
        }
        KillAt::Answer => {
            poll(&format!("the {} to answer", op.label()), OP_BOUND, || {
                Ok(done(lab, &mut running)?.then_some(()))
            })?;
        }
    }
    lab.stop_target(Restart::Kill)?;
    let killed_after = t0.elapsed();
    drop(running);

    // The disk as the kill left it.
    let stores = lab.inspect_disks()?;
    // What the inspector names as an interrupted operation that SPDK's load
    // resolves (a snapshot's SNAPTMP, a delete's SNAPRM, and the clusters and
    // extent pages such a snapshot shares with the clone its mark names) is
    // expected here; the clean store after the load must have none.
    let (deleting, known): (Vec<String>, Vec<&str>) = match op {
        Op::Delete => (vec![format!("{LVS}/snap2")], vec![RESOLVED_BY_LOAD]),
        _ => (vec![], vec![RESOLVED_BY_LOAD]),
    };
    check_findings_expecting(&stores, "after the SIGKILL", &deleting, &known)?;
    let resolved = stores
        .iter()
        .flat_map(|(_, s)| &s.findings)
        .filter(|f| f.what.contains(RESOLVED_BY_LOAD))
        .count();

    // It loads, in one of its two states, with the bytes of that state.
    lab.start_target()?;
    lab.lvstore(LVS)
        .map_err(|e| Error::Check(format!("the lvol store did not load after the kill: {e}")))?;
    let side = check_loaded(lab, op, &before, &after_w, &s, &["before", "after"])?;
    Ok(TrialEnd::Killed {
        side,
        after: killed_after,
        resolved,
    })
}

/// lvs0 on a delay bdev over disk0, and the world every trial starts from:
/// `snap1` (clusters 0-2) ← `snap2` (2-4) ← `base` (4 and 6, partly), and
/// `orphan` (cluster 7) without a parent; whole and per-cluster checksums of
/// snap2 and, unless the operation registers them, of snap1.
fn setup(lab: &mut Lab, op: Op) -> Result<Setup> {
    let slow = steps::slow_lvstore(lab, "disk0", LVS, 512, Latency::default())?;
    let ranges = steps::has_ranges(lab)?;
    let checksums = lab.missing_methods(steps::CHECKSUM_RPCS)?.is_empty();
    let mut w = World::new();
    let base = steps::thin_lvol(lab, LVS, "base", VOL_MIB)?;
    w.insert("base".into(), Vol::new());
    let put = |lab: &mut Lab, w: &mut World, name: &str, off: u64, data: Vec<u8>| {
        lab.write(&format!("{LVS}/{name}"), off, &data)?;
        write_model(w, name, off, &data);
        Ok::<(), Error>(())
    };
    put(lab, &mut w, "base", 0, pattern(9001, 3 * CLUSTER as usize))?;
    lab.unexport(&base)?;
    steps::snapshot(lab, &base, "snap1")?;
    snapshot_model(&mut w, "base", "snap1");
    put(
        lab,
        &mut w,
        "base",
        2 * CLUSTER,
        pattern(9002, 3 * CLUSTER as usize),
    )?;
    lab.unexport(&base)?;
    steps::snapshot(lab, &base, "snap2")?;
    snapshot_model(&mut w, "base", "snap2");
    put(
        lab,
        &mut w,
        "base",
        4 * CLUSTER + 64 * 1024,
        pattern(9003, 256 * 1024),
    )?;
    put(lab, &mut w, "base", 6 * CLUSTER, pattern(9004, 128 * 1024))?;
    lab.unexport(&base)?;
    let orphan = steps::thin_lvol(lab, LVS, "orphan", VOL_MIB)?;
    w.insert("orphan".into(), Vol::new());
    put(
        lab,
        &mut w,
        "orphan",
        7 * CLUSTER,
        pattern(9005, CLUSTER as usize),
    )?;
    lab.unexport(&orphan)?;
    if checksums {
        let mut snaps = vec!["snap2"];
        if !matches!(op, Op::Checksum | Op::RangeChecksums | Op::DeleteRefused) {
            snaps.push("snap1");
        }
        for snap in snaps {
            let name = format!("{LVS}/{snap}");
            lab.tgt.ok(&BdevLvolRegisterSnapshotChecksum {
                name: name.clone(),
                ..Default::default()
            })?;
            if ranges {
                lab.tgt.ok(&BdevLvolRegisterSnapshotRangeChecksums {
                    name,
                    ..Default::default()
                })?;
            }
        }
    }
    let mut image = vec![];
    let mut image_bdev = None;
    let mut dst_bdev = None;
    match op {
        Op::EsnapClone => {
            let bdev = lab.add_disk("image", VOL_MIB)?;
            image = pattern(9006, VOL_BYTES);
            lab.write(&bdev, 0, &image)?;
            lab.unexport(&bdev)?;
            image_bdev = Some(bdev);
        }
        Op::ShallowCopy => dst_bdev = Some(lab.add_file_disk("disk1", VOL_MIB)?),
        _ => {}
    }
    Ok(Setup {
        world: w,
        slow,
        image,
        image_bdev,
        dst_bdev,
        checksums,
        ranges,
    })
}

/// Completed reads and writes of the delay bdev under lvs0.
fn ios(lab: &mut Lab, slow: &str) -> Result<u64> {
    let st = lab.tgt.ok(&BdevGetIostat {})?;
    st.bdevs
        .iter()
        .find(|b| b.name == slow)
        .map(|b| b.num_read_ops + b.num_write_ops)
        .ok_or_else(|| Error::Check(format!("bdev_get_iostat does not list {slow}")))
}

fn start(lab: &mut Lab, op: Op, s: &mut Setup) -> Result<Running> {
    let n = |x: &str| format!("{LVS}/{x}");
    let rpc = |lab: &mut Lab, f: &dyn Fn(&mut Client) -> Result<Pending>| {
        let mut c = lab.tgt.connect()?;
        let p = f(&mut c)?;
        Ok::<Running, Error>(Running::Rpc(c, p, None))
    };
    match op {
        Op::Checksum => rpc(lab, &|c| {
            steps::send(
                c,
                &BdevLvolRegisterSnapshotChecksum {
                    name: n("snap1"),
                    ..Default::default()
                },
            )
        }),
        Op::RangeChecksums => rpc(lab, &|c| {
            steps::send(
                c,
                &BdevLvolRegisterSnapshotRangeChecksums {
                    name: n("snap1"),
                    ..Default::default()
                },
            )
        }),
        Op::Detach => rpc(lab, &|c| {
            steps::send(c, &BdevLvolDetachParent { name: n("base") })
        }),
        Op::Delete => rpc(lab, &|c| {
            steps::send(c, &BdevLvolDelete { name: n("snap2") })
        }),
        Op::DeleteRefused => {
            // Register, then delete, on one connection: SPDK runs them in
            // that order, and the pass holds snap1 from its first step.
            let mut c = lab.tgt.connect()?;
            let pass = steps::send(
                &mut c,
                &BdevLvolRegisterSnapshotChecksum {
                    name: n("snap1"),
                    ..Default::default()
                },
            )?;
            let del = steps::send(&mut c, &BdevLvolDelete { name: n("snap1") })?;
            Ok(Running::Rpc(c, del, Some(pass)))
        }
        Op::Snapshot => rpc(lab, &|c| {
            steps::send(
                c,
                &BdevLvolSnapshot {
                    lvol_name: n("base"),
                    snapshot_name: "snap3".into(),
                    xattrs: None,
                },
            )
        }),
        Op::Clone => rpc(lab, &|c| {
            steps::send(
                c,
                &BdevLvolClone {
                    snapshot_name: n("snap1"),
                    clone_name: "clone2".into(),
                },
            )
        }),
        Op::SetParent => rpc(lab, &|c| {
            steps::send(
                c,
                &BdevLvolSetParent {
                    lvol_name: n("orphan"),
                    parent_name: n("snap1"),
                },
            )
        }),
        Op::Inflate => rpc(lab, &|c| {
            steps::send(c, &BdevLvolInflate { name: n("snap2") })
        }),
        Op::Decouple => rpc(lab, &|c| {
            steps::send(c, &BdevLvolDecoupleParent { name: n("snap2") })
        }),
        Op::EsnapClone => {
            let bdev = s.image_bdev.clone().expect("an image disk");
            rpc(lab, &|c| {
                steps::send(
                    c,
                    &BdevLvolCloneBdev {
                        bdev: bdev.clone(),
                        lvs_name: LVS.into(),
                        clone_name: "eclone".into(),
                    },
                )
            })
        }
        Op::ShallowCopy => {
            let dst = s.dst_bdev.clone().expect("a destination disk");
            let started = lab.tgt.ok(&BdevLvolStartShallowCopy {
                src_lvol_name: n("snap2"),
                dst_bdev_name: dst,
            })?;
            Ok(Running::Shallow(started.operation_id))
        }
        Op::Writes => Ok(Running::Dd(lab.start_write(
            &n("base"),
            0,
            &write_data(),
            MIB,
            4,
        )?)),
    }
}

/// Has the operation answered (or ended)?
fn done(lab: &mut Lab, r: &mut Running) -> Result<bool> {
    Ok(match r {
        Running::Rpc(c, p, _) => c.try_answer(p).is_some(),
        Running::Shallow(id) => {
            let st = lab
                .tgt
                .ok(&BdevLvolCheckShallowCopy { operation_id: *id })?;
            st.state != "in progress"
        }
        Running::Dd(job) => !job.running()?,
    })
}

/// Wait for an undisturbed operation's answer and hold it to what the
/// operation promises.
fn finish(lab: &mut Lab, op: Op, r: Running) -> Result<()> {
    match r {
        Running::Rpc(mut c, p, first) => {
            let a = c.wait(p, OP_BOUND);
            if let Some(pass) = first {
                let r = c.wait(pass, OP_BOUND);
                ensure!(r.is_ok(), "the checksum pass the delete found: {r:?}");
            }
            match (op, a) {
                (Op::DeleteRefused, Err(e)) if e.errno() == Some(Errno::EBUSY) => Ok(()),
                (Op::DeleteRefused, other) => fail!(
                    "the delete of snap1 while a checksum pass holds it: expected -EBUSY, got {other:?}"
                ),
                (_, Ok(_)) => Ok(()),
                (_, Err(e)) => fail!("the undisturbed {}: {e}", op.label()),
            }
        }
        Running::Shallow(id) => {
            let st = poll("the shallow copy to end", OP_BOUND, || {
                let st = lab.tgt.ok(&BdevLvolCheckShallowCopy { operation_id: id })?;
                Ok((st.state != "in progress").then_some(st))
            })?;
            ensure_eq!(
                st.state.as_str(),
                "complete",
                "the shallow copy's state ({st:?})"
            );
            Ok(())
        }
        Running::Dd(job) => lab.finish_io(job).map(|_| ()),
    }
}

/// What loaded: all lvols in the same one of `sides` (of "before" and
/// "after"), with that state's bytes and checksums that are right or absent;
/// then a graceful restart, and no leaked cluster. Returns the side.
fn check_loaded(
    lab: &mut Lab,
    op: Op,
    before: &World,
    after_w: &World,
    s: &Setup,
    sides: &[&'static str],
) -> Result<&'static str> {
    let got = listed_shapes(lab)?;
    let worlds: Vec<(&'static str, &World)> = sides
        .iter()
        .map(|&side| (side, if side == "before" { before } else { after_w }))
        .collect();
    let matching: Vec<(&'static str, &World)> = worlds
        .iter()
        .filter(|(_, w)| shapes(w) == got)
        .copied()
        .collect();
    if matching.is_empty() {
        let diff = worlds
            .iter()
            .map(|(side, w)| format!("{side}: {}", shape_diff(&shapes(w), &got)))
            .collect::<Vec<_>>()
            .join("; ");
        fail!(
            "the lvols loaded in neither state of the {} but in between: {diff}",
            op.label()
        );
    }
    // Both states may have the same metadata (a pass, writes, a refused
    // delete): the bytes and checksums then tell.
    let side = if matching.len() > 1 {
        "before-or-after (same metadata)"
    } else {
        matching[0].0
    };

    // Bytes, each lvol whole.
    for name in got.keys() {
        let alias = format!("{LVS}/{name}");
        let bytes = lab.read(&alias, 0, VOL_MIB * MIB)?;
        lab.unexport(&alias)?;
        let fits = |w: &World| w.get(name).is_some_and(|v| v.bytes == bytes);
        if matching.iter().any(|(_, w)| fits(w)) {
            continue;
        }
        if op == Op::Writes && name == "base" {
            blockwise(
                &format!("{alias} after a kill during writes"),
                &bytes,
                &before[name].bytes,
                &after_w[name].bytes,
            )?;
            continue;
        }
        let (side, w) = matching[0];
        expect_bytes(
            &format!("{alias} (loaded in its {side} state)"),
            &bytes,
            &w[name].bytes,
        )?;
    }
    if let Some(dst) = &s.dst_bdev {
        // The copy's destination: each block as it was (zeros) or as copied.
        let file = lab.disk_file("disk1")?;
        let got = std::fs::read(&file)
            .map_err(|e| Error::Tool(format!("read {}: {e}", file.display())))?;
        let snap2 = &before["snap2"];
        let mut want = vec![0u8; VOL_BYTES];
        for c in &snap2.own {
            let r = (c * CLUSTER) as usize..((c + 1) * CLUSTER) as usize;
            want[r.clone()].copy_from_slice(&snap2.bytes[r]);
        }
        blockwise(
            &format!("shallow copy destination {dst}"),
            &got[..VOL_BYTES],
            &vec![0; VOL_BYTES],
            &want,
        )?;
    }

    // Checksums now, held to the clusters the disk says each snapshot holds.
    let (ranges, checksums) = (s.ranges, s.checksums);
    let mut stored: Vec<(String, Option<u64>, Option<Vec<ClusterChecksum>>)> = vec![];
    if checksums {
        for name in got.keys() {
            let w = matching[0].1;
            if !w[name].snapshot {
                continue;
            }
            let alias = format!("{LVS}/{name}");
            let whole = match lab.tgt.call(&BdevLvolGetSnapshotChecksum {
                name: alias.clone(),
            }) {
                Ok(c) => Some(c.checksum),
                Err(e) if e.errno() == Some(Errno::ENODEV) => None,
                Err(e) => fail!("bdev_lvol_get_snapshot_checksum of {alias}: {e}"),
            };
            let per = if ranges {
                match lab.tgt.call(&BdevLvolGetSnapshotRangeChecksums {
                    name: alias.clone(),
                    cluster_start_index: 0,
                    cluster_count: CLUSTERS,
                }) {
                    Ok(v) => Some(v),
                    Err(e) if e.errno() == Some(Errno::ENODEV) => None,
                    Err(e) => fail!("bdev_lvol_get_snapshot_range_checksums of {alias}: {e}"),
                }
            } else {
                None
            };
            stored.push((name.clone(), whole, per));
        }
    }

    // A graceful restart: the clean store's masks against what the blobs own.
    let allocated = lab.restart_inspecting(Restart::Graceful, |stores| {
        let st = store(stores, "disk0")?;
        if let Some(m) = &st.masks {
            let owned = st.clusters.metadata + st.clusters.used;
            ensure_eq!(
                m.used_clusters,
                owned,
                "clusters the clean store's mask marks used (metadata included) against those its blobs own: {} leaked",
                m.used_clusters.saturating_sub(owned)
            );
        }
        let mut out = BTreeMap::new();
        for (name, _, _) in &stored {
            let b = st
                .blob_by_name(name)
                .ok_or_else(|| Error::Check(format!("{name} is not on disk")))?;
            let mut idx: Vec<u64> = b.allocated.iter().map(|a| a.blob).collect();
            idx.sort_unstable();
            out.insert(name.clone(), idx);
        }
        Ok(out)
    })?;
    let w = matching[0].1;
    for (name, whole, per) in stored {
        let bytes = &w[&name].bytes;
        let idx = &allocated[&name];
        let crc = |c: u64| {
            CRC64_GO_ISO.checksum(&bytes[(c * CLUSTER) as usize..((c + 1) * CLUSTER) as usize])
        };
        if let Some(v) = whole {
            let mut d = CRC64_GO_ISO.digest();
            for &c in idx {
                d.update(&bytes[(c * CLUSTER) as usize..((c + 1) * CLUSTER) as usize]);
            }
            ensure_eq!(
                v,
                d.finalize(),
                "the whole checksum of {LVS}/{name} after the kill: it must cover the clusters {idx:?} it holds, or be absent"
            );
        }
        if let Some(per) = per {
            for c in per {
                let want = if idx.contains(&c.cluster_index) {
                    crc(c.cluster_index)
                } else {
                    0
                };
                ensure_eq!(
                    c.checksum,
                    want,
                    "the checksum of cluster {} of {LVS}/{name} after the kill (it holds {idx:?}): right or absent",
                    c.cluster_index
                );
            }
        }
    }
    Ok(side)
}

/// Every 4 KiB block of `got` is the block of `old` or that of `new`.
fn blockwise(what: &str, got: &[u8], old: &[u8], new: &[u8]) -> Result<()> {
    ensure_eq!(got.len(), new.len(), "{what}: length");
    for (i, b) in got.chunks(4096).enumerate() {
        let r = i * 4096..i * 4096 + b.len();
        ensure!(
            b == &old[r.clone()] || b == &new[r.clone()],
            "{what}: block {i} (byte {}) is neither what it held nor what was written",
            r.start
        );
    }
    Ok(())
}

fn shape_diff(want: &BTreeMap<String, Shape>, got: &BTreeMap<String, Shape>) -> String {
    let mut d = vec![];
    for (n, w) in want {
        match got.get(n) {
            None => d.push(format!("{n} missing")),
            Some(g) if g != w => d.push(format!("{n} is {g:?}, not {w:?}")),
            _ => {}
        }
    }
    for n in got.keys().filter(|n| !want.contains_key(*n)) {
        d.push(format!("{n} should not exist"));
    }
    d.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_replayable_and_spread() {
        assert_eq!(trial_seed(1, 0), trial_seed(1, 0));
        assert_ne!(trial_seed(1, 0), trial_seed(1, 1));
        assert_ne!(trial_seed(1, 0), trial_seed(2, 0));
        // Every kill point of a 5-I/O operation is drawn in 200 trials.
        let points: BTreeSet<_> = (0..200)
            .map(|i| format!("{:?}", kill_point(trial_seed(7, i), 5)))
            .collect();
        assert_eq!(points.len(), 6, "{points:?}");
        // An operation without I/O is killed right away or after its answer.
        assert_eq!(kill_point(0, 0), KillAt::Ios(0));
        assert_eq!(kill_point(1, 0), KillAt::Answer);
    }

    #[test]
    fn the_model_of_each_operation() {
        let mut w = World::new();
        w.insert("base".into(), Vol::new());
        write_model(&mut w, "base", 0, &pattern(1, 3 * CLUSTER as usize));
        snapshot_model(&mut w, "base", "snap1");
        write_model(
            &mut w,
            "base",
            2 * CLUSTER,
            &pattern(2, 3 * CLUSTER as usize),
        );
        snapshot_model(&mut w, "base", "snap2");
        w.insert("orphan".into(), Vol::new());
        write_model(&mut w, "orphan", 7 * CLUSTER, &pattern(5, CLUSTER as usize));
        assert_eq!(w["snap1"].own, (0..3).collect());
        assert_eq!(w["snap2"].own, (2..5).collect());
        assert!(w["base"].own.is_empty());
        assert_eq!(w["base"].bytes, w["snap2"].bytes);
        // Detach: base keeps nothing of its own, so reads zeros.
        let d = after(Op::Detach, &w, &[]);
        assert!(d["base"].bytes.iter().all(|b| *b == 0));
        assert_eq!(shapes(&d)["base"].parent, None);
        // snap2 loses its only clone: a load makes it a plain read-only lvol.
        assert!(!shapes(&d)["snap2"].snapshot);
        // Delete of snap2 merges: base's parent is snap1, bytes unchanged.
        let m = after(Op::Delete, &w, &[]);
        assert!(!m.contains_key("snap2"));
        assert_eq!(m["base"].parent.as_deref(), Some("snap1"));
        assert_eq!(m["base"].bytes, w["base"].bytes);
        // Inflate of snap2 leaves snap1 without clones: loaded as no snapshot.
        let i = after(Op::Inflate, &w, &[]);
        assert!(!shapes(&i)["snap1"].snapshot);
        assert_eq!(i["snap2"].bytes, w["snap2"].bytes);
        // Set parent: orphan reads snap1 where it holds nothing.
        let p = after(Op::SetParent, &w, &[]);
        assert_eq!(
            p["orphan"].bytes[..CLUSTER as usize],
            w["snap1"].bytes[..CLUSTER as usize]
        );
        assert_eq!(
            p["orphan"].bytes[7 * CLUSTER as usize..],
            w["orphan"].bytes[7 * CLUSTER as usize..]
        );
        // The shapes of before and after differ for every operation that
        // changes metadata, so a trial tells them apart.
        for op in [
            Op::Detach,
            Op::Delete,
            Op::Snapshot,
            Op::Clone,
            Op::SetParent,
            Op::Inflate,
            Op::Decouple,
            Op::EsnapClone,
        ] {
            assert_ne!(
                shapes(&w),
                shapes(&after(op, &w, &[0; VOL_BYTES])),
                "{op:?}"
            );
        }
    }

    #[test]
    fn blockwise_takes_old_or_new_blocks_only() {
        let old = vec![0u8; 3 * 4096];
        let new = vec![1u8; 3 * 4096];
        let mut mix = new.clone();
        mix[..4096].fill(0);
        assert!(blockwise("mix", &mix, &old, &new).is_ok());
        mix[4096] = 7;
        assert!(blockwise("torn", &mix, &old, &new).is_err());
    }
}
