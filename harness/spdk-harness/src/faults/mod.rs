//! Lifecycle faults: each long lvol operation crossed with each lifecycle
//! event that can hit it (issue "Lifecycle faults during long lvol
//! operations"). One table of operations ([`Op`]), one of events
//! ([`Event`]); every pair is a scenario of its own, `lifecycle_<op>_<event>`,
//! and `spdk-verify` prints the cells as a grid ([`grid`]).
//!
//! Every cell starts from the same chain on a slow lvstore (reads delayed, so
//! that the operation lasts seconds): snapshot `p` (clusters 0-3) ← snapshot
//! `s` (clusters 4-11) ← head `vol` (cluster 12), 16 clusters of 4 MiB. The
//! operation runs on `s` on a connection of its own; the event is sent on the
//! same connection right behind it (SPDK starts requests of a connection in
//! order, and each of these operations holds `s` from its first step), or,
//! for a signal, once a request sent behind the operation has answered. Then
//! the cell holds the target to what the event must do:
//!
//! - the event's RPC answers within [`EVENT_BOUND`], or the process exits
//!   within [`EXIT_BOUND`]; no crash, no hang;
//! - after a graceful restart every lvstore loads clean, the disk holds
//!   exactly the lvols listed before (as the event left them), with no
//!   leaked cluster (the restart check, with the inspector); `vol` reads back
//!   byte for byte; a checksum of `s` is absent or covers exactly the
//!   clusters `s` holds on disk, whole and per cluster; a finished shallow
//!   copy holds `s`'s clusters.

use crate::data::{expect_bytes, pattern};
use crate::error::{Error, Result};
use crate::lab::{Lab, Restart, CLUSTER, MIB};
use crate::offline::store;
use crate::outcome::{
    Bug, Scenario, CHECKSUM_UNSTOPPABLE, FORCED_REMOVAL, HOT_REMOVE_HANG, RANGE_HOLES,
    SHUTDOWN_HANG,
};
use crate::steps::{self, poll, Latency};
use crate::{ensure, ensure_eq, fail};
use spdk_rpc::methods::*;
use spdk_rpc::{Client, Errno, Pending, RpcError};
use std::time::{Duration, Instant};

/// How long an event's RPC may take to answer.
pub const EVENT_BOUND: Duration = Duration::from_secs(5);
/// How long the target may take to exit after SIGTERM or `spdk_kill_instance`.
pub const EXIT_BOUND: Duration = Duration::from_secs(10);
/// How long an operation may take to end once its event was handled.
const OP_BOUND: Duration = Duration::from_secs(60);

/// Each read of the slow lvstore takes this long: a pass over `s` (8
/// clusters, 4 at a time) lasts about 1 s, a shallow copy (one at a time)
/// 4 s, an inflate (the 4 clusters of `p`) 2 s.
const READ_DELAY_US: u64 = 500_000;
/// And each write, for an inflate: it copies `p`'s 4 clusters in about 4 s.
const WRITE_DELAY_US: u64 = 300_000;
const LVOL_MIB: u64 = 64;
const CLUSTERS: u64 = LVOL_MIB * MIB / CLUSTER;
const P_CLUSTERS: std::ops::Range<u64> = 0..4;
const S_CLUSTERS: std::ops::Range<u64> = 4..12;
const H_CLUSTER: u64 = 12;

/// A long operation on the snapshot `s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `bdev_lvol_register_snapshot_checksum`
    WholePass,
    /// `bdev_lvol_register_snapshot_range_checksums` (a whole pass where the
    /// target offers no range checksums; the cell's figure says so)
    RangePass,
    /// `bdev_lvol_start_shallow_copy` onto another disk
    ShallowCopy,
    /// `bdev_lvol_inflate`
    Inflate,
}

/// A lifecycle event that hits the operation while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// SIGTERM to the target (what an instance manager's restart sends)
    Sigterm,
    /// `spdk_kill_instance SIGTERM`
    KillInstance,
    /// `bdev_lvol_delete_lvstore` of the store
    LvstoreDelete,
    /// `bdev_delay_delete` of the lvstore's base bdev (a pulled disk), then
    /// the disk added back
    HotRemove,
    /// `bdev_lvol_delete` of `s`
    DeleteLvol,
    /// `bdev_lvol_delete` of `p`, whose only clone is `s`: deleting it would
    /// merge it into `s`
    DeleteParent,
    /// `bdev_lvol_snapshot` of `vol`, the clone of `s`
    SnapshotClone,
    /// `bdev_lvol_stop_snapshot_checksum` of `s`
    Stop,
}

pub const OPS: [Op; 4] = [Op::WholePass, Op::RangePass, Op::ShallowCopy, Op::Inflate];
pub const EVENTS: [Event; 8] = [
    Event::Sigterm,
    Event::KillInstance,
    Event::LvstoreDelete,
    Event::HotRemove,
    Event::DeleteLvol,
    Event::DeleteParent,
    Event::SnapshotClone,
    Event::Stop,
];

impl Op {
    pub fn label(self) -> &'static str {
        match self {
            Op::WholePass => "pass",
            Op::RangePass => "range",
            Op::ShallowCopy => "copy",
            Op::Inflate => "inflate",
        }
    }
}

impl Event {
    pub fn label(self) -> &'static str {
        match self {
            Event::Sigterm => "sigterm",
            Event::KillInstance => "kill_instance",
            Event::LvstoreDelete => "lvstore_delete",
            Event::HotRemove => "hot_remove",
            Event::DeleteLvol => "delete_lvol",
            Event::DeleteParent => "delete_parent",
            Event::SnapshotClone => "snapshot_clone",
            Event::Stop => "stop",
        }
    }
}

/// The bug a cell shows on a build without the fixes (Longhorn's v1.8.x
/// base): the name `--expect-bugs` holds its failure to.
pub fn bug_of(_op: Op, event: Event) -> Option<Bug> {
    match event {
        Event::Sigterm | Event::KillInstance => Some(SHUTDOWN_HANG),
        Event::HotRemove => Some(HOT_REMOVE_HANG),
        Event::LvstoreDelete | Event::DeleteLvol | Event::DeleteParent => Some(FORCED_REMOVAL),
        Event::Stop => Some(CHECKSUM_UNSTOPPABLE),
        Event::SnapshotClone => None,
    }
}

/// The scenario name of a cell.
pub fn cell_name(op: Op, event: Event) -> String {
    format!("lifecycle_{}_{}", op.label(), event.label())
}

/// The cell a scenario name names, if it is one.
pub fn cell_of(name: &str) -> Option<(Op, Event)> {
    OPS.iter()
        .flat_map(|&op| EVENTS.iter().map(move |&ev| (op, ev)))
        .find(|&(op, ev)| cell_name(op, ev) == name)
}

macro_rules! cells {
    ($($f:ident: $op:ident $ev:ident;)*) => {
        /// Every cell, operations by events.
        pub fn scenarios() -> Vec<Scenario> {
            vec![$(
                Scenario {
                    name: concat!("lifecycle_", stringify!($f)),
                    about: "lifecycle cell: see `spdk-verify --list` and faults::Op/Event",
                    needs: needs(Op::$op, Event::$ev),
                    bug: bug_of(Op::$op, Event::$ev),
                    run: $f,
                },
            )*]
        }
        $(
            fn $f(lab: &mut Lab) -> Result<String> {
                run_cell(lab, Op::$op, Event::$ev)
            }
        )*
    };
}

cells! {
    pass_sigterm: WholePass Sigterm;
    pass_kill_instance: WholePass KillInstance;
    pass_lvstore_delete: WholePass LvstoreDelete;
    pass_hot_remove: WholePass HotRemove;
    pass_delete_lvol: WholePass DeleteLvol;
    pass_delete_parent: WholePass DeleteParent;
    pass_snapshot_clone: WholePass SnapshotClone;
    pass_stop: WholePass Stop;
    range_sigterm: RangePass Sigterm;
    range_kill_instance: RangePass KillInstance;
    range_lvstore_delete: RangePass LvstoreDelete;
    range_hot_remove: RangePass HotRemove;
    range_delete_lvol: RangePass DeleteLvol;
    range_delete_parent: RangePass DeleteParent;
    range_snapshot_clone: RangePass SnapshotClone;
    range_stop: RangePass Stop;
    copy_sigterm: ShallowCopy Sigterm;
    copy_kill_instance: ShallowCopy KillInstance;
    copy_lvstore_delete: ShallowCopy LvstoreDelete;
    copy_hot_remove: ShallowCopy HotRemove;
    copy_delete_lvol: ShallowCopy DeleteLvol;
    copy_delete_parent: ShallowCopy DeleteParent;
    copy_snapshot_clone: ShallowCopy SnapshotClone;
    copy_stop: ShallowCopy Stop;
    inflate_sigterm: Inflate Sigterm;
    inflate_kill_instance: Inflate KillInstance;
    inflate_lvstore_delete: Inflate LvstoreDelete;
    inflate_hot_remove: Inflate HotRemove;
    inflate_delete_lvol: Inflate DeleteLvol;
    inflate_delete_parent: Inflate DeleteParent;
    inflate_snapshot_clone: Inflate SnapshotClone;
    inflate_stop: Inflate Stop;
}

/// Methods a cell can't do without: checksums for the passes, stop for the
/// stop cells. A shallow copy or an inflate runs on any target (upstream SPDK
/// has no checksums): the checksum it must leave correct or remove is
/// registered, and checked, where the target offers checksums.
fn needs(op: Op, event: Event) -> &'static [&'static str] {
    match (op, event) {
        (Op::WholePass | Op::RangePass, Event::Stop) => &[
            "bdev_lvol_register_snapshot_checksum",
            "bdev_lvol_get_snapshot_checksum",
            steps::STOP_RPC,
        ],
        (_, Event::Stop) => &[steps::STOP_RPC],
        (Op::WholePass | Op::RangePass, _) => steps::CHECKSUM_RPCS,
        (Op::ShallowCopy | Op::Inflate, _) => &[],
    }
}

// ------------------------------------------------------------- the chain

/// What each lvol reads, and where things are.
struct Chain {
    /// `vol`, whole: `p`'s clusters, then `s`'s, then its own.
    vol: Vec<u8>,
    /// `s`, whole.
    s: Vec<u8>,
    /// Checksums of `s` are offered.
    checksums: bool,
    /// Range checksums of `s` are offered.
    ranges: bool,
}

const LVS: &str = "lvs0";
const DISK: &str = "disk0";
const SLOW: &str = "slow-disk0";

fn build_chain(lab: &mut Lab) -> Result<Chain> {
    steps::slow_lvstore(lab, DISK, LVS, 256, Latency::reads(READ_DELAY_US))?;
    let vol = steps::thin_lvol(lab, LVS, "vol", LVOL_MIB)?;
    let mut model = vec![0u8; (LVOL_MIB * MIB) as usize];
    let span = |r: std::ops::Range<u64>| (r.start * CLUSTER, (r.end - r.start) * CLUSTER);
    let (at, len) = span(P_CLUSTERS);
    steps::write(lab, &vol, &mut model, at, pattern(301, len as usize))?;
    steps::snapshot(lab, &vol, "p")?;
    let (at, len) = span(S_CLUSTERS);
    steps::write(lab, &vol, &mut model, at, pattern(302, len as usize))?;
    steps::snapshot(lab, &vol, "s")?;
    let s = model.clone();
    steps::write(
        lab,
        &vol,
        &mut model,
        H_CLUSTER * CLUSTER,
        pattern(303, CLUSTER as usize),
    )?;
    // The export of vol claims nothing `s` needs; reads of it come later.
    lab.unexport(&vol)?;
    let checksums = lab.missing_methods(steps::CHECKSUM_RPCS)?.is_empty();
    let ranges = checksums && steps::has_ranges(lab)?;
    Ok(Chain {
        vol: model,
        s,
        checksums,
        ranges,
    })
}

// ------------------------------------------------------------- a cell

/// The running operation: its connection and what to wait on.
struct Running {
    conn: Client,
    pending: Option<Pending>,
    /// The shallow copy's operation id.
    copy: Option<u32>,
}

/// How the operation ended.
#[derive(Debug)]
enum Ended {
    Done,
    Failed(RpcError),
    /// The target went away before it answered (SIGTERM, kill_instance).
    Gone,
}

fn run_cell(lab: &mut Lab, op: Op, event: Event) -> Result<String> {
    lab.stop_bound = EXIT_BOUND;
    let chain = build_chain(lab)?;
    let range = op == Op::RangePass && chain.ranges;
    // Every cell starts with a checksum of `s` registered: the copy and the
    // inflate must leave it correct or remove it; a pass replaces it.
    if chain.checksums {
        lab.tgt.ok(&BdevLvolRegisterSnapshotChecksum {
            name: format!("{LVS}/s"),
            ..Default::default()
        })?;
    }
    if op == Op::ShallowCopy {
        lab.add_file_disk("dst", LVOL_MIB + 4)?;
    }
    if op == Op::Inflate {
        // Each cluster the inflate copies is written too: it lasts seconds.
        steps::set_write_latency(lab, SLOW, WRITE_DELAY_US)?;
    }
    // The bdevs a refused delete must leave serving.
    match event {
        Event::DeleteLvol => {
            lab.export(&format!("{LVS}/s"))?;
        }
        Event::DeleteParent => {
            lab.export(&format!("{LVS}/p"))?;
        }
        _ => {}
    }

    let mut run = start(lab, op, range)?;
    let t0 = Instant::now();
    let hit = hit(lab, &mut run, op, event)?;
    let event_secs = t0.elapsed().as_secs_f64();
    let ended = match hit.ended {
        Some(e) => e,
        None => wait_end(lab, &mut run, op)?,
    };
    check_ended(op, event, &ended)?;
    drop(run);

    // After the event, what is left must be whole on disk and read back.
    let held = match hit.held {
        Some(h) => h,
        None => lab.restart_inspecting(Restart::Graceful, after_stop)?,
    };
    let what = hit.what;
    let copied = check_after(lab, &chain, op, event, range, &held)?;
    Ok(format!(
        "{what} in {:.0} ms; op {}{}{}{}",
        event_secs * 1000.0,
        match &ended {
            Ended::Done => "completed".to_string(),
            Ended::Failed(e) => format!("ended: {}", short(e)),
            Ended::Gone => "ended with the process".to_string(),
        },
        copied,
        if op == Op::RangePass && !range {
            " (whole pass: no range checksums offered)"
        } else {
            ""
        },
        if chain.checksums {
            ""
        } else {
            " (no checksums offered)"
        }
    ))
}

fn short(e: &RpcError) -> String {
    match e.errno() {
        Some(n) => format!("-{n:?}"),
        None => e.to_string(),
    }
}

/// Start the operation on `s`, on a connection of its own. Returns once it
/// holds `s`.
fn start(lab: &mut Lab, op: Op, range: bool) -> Result<Running> {
    let mut conn = lab.tgt.connect()?;
    let s = format!("{LVS}/s");
    let mut copy = None;
    let pending = match op {
        Op::WholePass => Some(steps::send(
            &mut conn,
            &BdevLvolRegisterSnapshotChecksum {
                name: s,
                ..Default::default()
            },
        )?),
        Op::RangePass if range => Some(steps::send(
            &mut conn,
            &BdevLvolRegisterSnapshotRangeChecksums {
                name: s,
                ..Default::default()
            },
        )?),
        Op::RangePass => Some(steps::send(
            &mut conn,
            &BdevLvolRegisterSnapshotChecksum {
                name: s,
                ..Default::default()
            },
        )?),
        Op::Inflate => Some(steps::send(&mut conn, &BdevLvolInflate { name: s })?),
        Op::ShallowCopy => {
            let started = conn
                .call_timeout(
                    &BdevLvolStartShallowCopy {
                        src_lvol_name: s,
                        dst_bdev_name: lab.disk_bdev("dst")?,
                    },
                    EVENT_BOUND,
                )
                .map_err(|e| Error::Check(format!("bdev_lvol_start_shallow_copy: {e}")))?;
            copy = Some(started.operation_id);
            None
        }
    };
    Ok(Running {
        conn,
        pending,
        copy,
    })
}

/// A request sent behind the operation on its connection has answered: the
/// operation was started before it, and holds `s`.
fn barrier(run: &mut Running) -> Result<()> {
    let p = steps::send(&mut run.conn, &RpcGetMethods::default())?;
    run.conn
        .wait_typed::<RpcGetMethods>(p, EVENT_BOUND)
        .map_err(|e| Error::Check(format!("a request behind the operation: {e}")))?;
    Ok(())
}

/// An event's answer on the operation's connection, within [`EVENT_BOUND`];
/// a hang names `bug`.
fn answer<R: spdk_rpc::Rpc>(
    run: &mut Running,
    req: &R,
    bug: Option<Bug>,
) -> Result<std::result::Result<R::Result, RpcError>> {
    let p = steps::send(&mut run.conn, req)?;
    match run.conn.wait_typed::<R>(p, EVENT_BOUND) {
        Err(e @ RpcError::Timeout { .. }) => fail!(
            "{} did not answer within {} s while the operation ran: {e}{}",
            R::METHOD,
            EVENT_BOUND.as_secs(),
            bug.map(|b| format!(" ({b})")).unwrap_or_default()
        ),
        r => Ok(r),
    }
}

/// What an event did.
struct Hit {
    what: String,
    /// How the operation ended, if the event decided it.
    ended: Option<Ended>,
    /// The clusters `s` holds on disk, if the event stopped the target.
    held: Option<Vec<u64>>,
}

impl Hit {
    fn said(what: &str) -> Self {
        Hit {
            what: what.into(),
            ended: None,
            held: None,
        }
    }
}

/// Hit the running operation with the event.
fn hit(lab: &mut Lab, run: &mut Running, op: Op, event: Event) -> Result<Hit> {
    let s = format!("{LVS}/s");
    let p = format!("{LVS}/p");
    let busy = |what: &str, r| steps::expect_errno(what, r, Errno::EBUSY).map(|_| ());
    match event {
        Event::Sigterm | Event::KillInstance => {
            barrier(run)?;
            if op == Op::Inflate {
                // It allocates clusters of `s` until the shutdown stops it.
                lab.growing.push(format!("{LVS}/s"));
            }
            let how = if event == Event::Sigterm {
                Restart::Graceful
            } else {
                Restart::Exiting
            };
            let restarted = lab.restart_after(
                how,
                |lab| {
                    if event == Event::KillInstance {
                        // It answers, or the connection goes with the process.
                        let _ = lab.tgt.call(&SpdkKillInstance {
                            sig_name: "SIGTERM".into(),
                        });
                    }
                    Ok(())
                },
                after_stop,
            );
            let held = restarted.map_err(|e| name_hang(e, SHUTDOWN_HANG))?;
            // The answer, if it came before the process went.
            let ended = match run.pending.take() {
                Some(pending) => match run.conn.wait(pending, Duration::from_millis(100)) {
                    Ok(_) => Ended::Done,
                    Err(e) if e.is_transport() || matches!(e, RpcError::Timeout { .. }) => {
                        Ended::Gone
                    }
                    Err(e) => Ended::Failed(e),
                },
                None => Ended::Gone,
            };
            let what = if event == Event::Sigterm {
                "SIGTERM: exited 0, lvstore clean"
            } else {
                "spdk_kill_instance SIGTERM: exited 0, lvstore clean"
            };
            Ok(Hit {
                what: what.into(),
                ended: Some(ended),
                held: Some(held),
            })
        }
        Event::LvstoreDelete => {
            let r = answer(
                run,
                &BdevLvolDeleteLvstore {
                    lvs_name: Some(LVS.into()),
                    uuid: None,
                },
                Some(FORCED_REMOVAL),
            )?;
            busy("bdev_lvol_delete_lvstore while an operation holds s", r)?;
            expect_listed(lab, &["p", "s", "vol"], "after the refused lvstore delete")?;
            Ok(Hit::said("lvstore delete refused (EBUSY)"))
        }
        Event::HotRemove => {
            // The lvstore's base bdev goes, behind the operation on its
            // connection as the other events.
            let r = answer(
                run,
                &BdevDelayDelete { name: SLOW.into() },
                Some(HOT_REMOVE_HANG),
            )?;
            r.map_err(|e| Error::Check(format!("bdev_delay_delete of {SLOW}: {e}")))?;
            lab.forget_delay(SLOW);
            let ended = wait_end(lab, run, op)?;
            ensure!(
                lab.lvstore(LVS).is_err(),
                "{LVS} is still listed after its base bdev was removed"
            );
            // The disk comes back (its bdev is added again): the lvstore
            // loads from it with every lvol.
            lab.remove_disk(DISK)?;
            lab.readd_disk(DISK)?;
            poll(
                &format!("{LVS} to load again"),
                Duration::from_secs(10),
                || Ok(lab.lvstore(LVS).is_ok().then_some(())),
            )?;
            expect_listed(lab, &["p", "s", "vol"], "after the disk came back")?;
            Ok(Hit {
                what: "base bdev removed, lvstore unloaded; disk added back, it loads".into(),
                ended: Some(ended),
                held: None,
            })
        }
        Event::DeleteLvol => {
            let r = answer(
                run,
                &BdevLvolDelete { name: s.clone() },
                Some(FORCED_REMOVAL),
            )?;
            busy("bdev_lvol_delete of s while an operation holds it", r)?;
            steps::expect_still_listed(lab, &s, "after the refused delete")?;
            export_serves(lab, &s, S_CLUSTERS.start)?;
            Ok(Hit::said("delete of s refused (EBUSY), its export serves"))
        }
        Event::DeleteParent => {
            let r = answer(
                run,
                &BdevLvolDelete { name: p.clone() },
                Some(FORCED_REMOVAL),
            )?;
            busy(
                "bdev_lvol_delete of p, whose only clone s an operation holds",
                r,
            )?;
            steps::expect_still_listed(lab, &p, "after the refused delete")?;
            export_serves(lab, &p, P_CLUSTERS.start).map_err(|e| {
                Error::Check(format!(
                    "{e} (refused parent delete: the refused delete tore down the bdev of {p}, \
                     whose only clone an operation holds, before it found out)"
                ))
            })?;
            Ok(Hit::said("delete of p refused (EBUSY), its export serves"))
        }
        Event::SnapshotClone => {
            let r = answer(
                run,
                &BdevLvolSnapshot {
                    lvol_name: format!("{LVS}/vol"),
                    snapshot_name: "s2".into(),
                    ..Default::default()
                },
                None,
            )?;
            r.map_err(|e| Error::Check(format!("bdev_lvol_snapshot of vol: {e}")))?;
            Ok(Hit::said("snapshot of vol taken"))
        }
        Event::Stop => {
            let r = answer(
                run,
                &BdevLvolStopSnapshotChecksum { name: s.clone() },
                Some(CHECKSUM_UNSTOPPABLE),
            )?;
            match op {
                Op::WholePass | Op::RangePass => {
                    let v = r.map_err(|e| Error::Check(format!("stop of the pass on s: {e}")))?;
                    ensure!(v, "stop of the pass on s returned false");
                    Ok(Hit::said("stop: true"))
                }
                Op::ShallowCopy | Op::Inflate => {
                    steps::expect_errno("stop with no pass on s", r, Errno::ESRCH)?;
                    Ok(Hit::said("stop: ESRCH, the operation goes on"))
                }
            }
        }
    }
}

/// The target did not exit within the bound: that is `bug`'s hang, named on
/// the message's first line (the log tail follows).
fn name_hang(e: Error, bug: Bug) -> Error {
    let msg = e.to_string();
    if !msg.contains("did not exit within") {
        return e;
    }
    let (first, rest) = msg.split_once('\n').unwrap_or((&msg, ""));
    Error::Check(format!("{first} ({bug})\n{rest}"))
}

/// Wait for the operation to end on its own.
fn wait_end(lab: &mut Lab, run: &mut Running, op: Op) -> Result<Ended> {
    if let Some(id) = run.copy {
        let status = poll("the shallow copy to end", OP_BOUND, || {
            match lab.tgt.call(&BdevLvolCheckShallowCopy { operation_id: id }) {
                Ok(st) if st.state == "in progress" => Ok(None),
                Ok(st) => Ok(Some(st)),
                Err(e) => fail!("bdev_lvol_check_shallow_copy: {e}"),
            }
        })?;
        return Ok(match status.state.as_str() {
            "complete" => Ended::Done,
            _ => Ended::Failed(RpcError::Rpc {
                method: "bdev_lvol_check_shallow_copy".into(),
                code: errno_code(status.error.as_deref()),
                message: status.error.unwrap_or_else(|| status.state.clone()),
            }),
        });
    }
    let pending = run
        .pending
        .take()
        .ok_or_else(|| Error::Tool(format!("{op:?} has no answer to wait for")))?;
    Ok(match run.conn.wait(pending, OP_BOUND) {
        Ok(_) => Ended::Done,
        Err(e @ RpcError::Timeout { .. }) => {
            fail!("the operation ({op:?}) did not end within {OP_BOUND:?}: {e}")
        }
        Err(e) if e.is_transport() => Ended::Gone,
        Err(e) => Ended::Failed(e),
    })
}

/// The JSON-RPC code of a shallow copy's error text, as -errno where known.
fn errno_code(text: Option<&str>) -> i32 {
    match text {
        Some(t) if t.contains("canceled") || t.contains("cancelled") => -(Errno::ECANCELED as i32),
        _ => spdk_rpc::code::INTERNAL_ERROR,
    }
}

/// How the operation may end after the event.
fn check_ended(op: Op, event: Event, ended: &Ended) -> Result<()> {
    let errno = |e: &RpcError| e.errno();
    match (event, ended) {
        // The process went away; the operation ended with it, or answered.
        (Event::Sigterm | Event::KillInstance, _) => Ok(()),
        (Event::HotRemove, Ended::Failed(e)) if errno(e) == Some(Errno::ECANCELED) => Ok(()),
        (Event::HotRemove, Ended::Failed(e))
            if op == Op::ShallowCopy && e.message().is_some_and(|m| m.contains("anceled")) =>
        {
            Ok(())
        }
        (Event::HotRemove, other) => fail!(
            "the operation must end with -ECANCELED when its lvstore's base bdev is removed, got {other:?}"
        ),
        (Event::Stop, Ended::Failed(e))
            if matches!(op, Op::WholePass | Op::RangePass) && errno(e) == Some(Errno::EINTR) =>
        {
            Ok(())
        }
        (Event::Stop, other) if matches!(op, Op::WholePass | Op::RangePass) => {
            fail!("a stopped pass must end with -EINTR, got {other:?}")
        }
        (_, Ended::Done) => Ok(()),
        (_, other) => fail!(
            "the operation must complete: {event:?} did not concern it, got {other:?}"
        ),
    }
}

/// Every lvstore read from disk was unloaded clean; returns the clusters `s`
/// holds on disk.
fn after_stop(stores: &[(String, lvs_inspect::Store)]) -> Result<Vec<u64>> {
    for (disk, s) in stores {
        ensure!(
            s.clean,
            "the lvstore on disk {disk} was not unloaded clean: its next load runs recovery"
        );
    }
    let st = store(stores, DISK)?;
    let blob = st
        .blob_by_name("s")
        .ok_or_else(|| Error::Check("s is not on disk".into()))?;
    let mut v: Vec<u64> = blob.allocated.iter().map(|a| a.blob).collect();
    v.sort_unstable();
    Ok(v)
}

fn expect_listed(lab: &mut Lab, names: &[&str], when: &str) -> Result<()> {
    for n in names {
        steps::expect_still_listed(lab, &format!("{LVS}/{n}"), when)?;
    }
    Ok(())
}

/// The export of `bdev` still serves reads: one cluster at `cluster`.
fn export_serves(lab: &mut Lab, bdev: &str, cluster: u64) -> Result<()> {
    lab.read(bdev, cluster * CLUSTER, 64 * 1024)
        .map(|_| ())
        .map_err(|e| Error::Check(format!("the export of {bdev} no longer serves reads: {e}")))
}

/// After the restart: links and lvols as the event left them, `vol`'s bytes,
/// `s`'s checksums against what `s` holds on disk, the copy's bytes.
fn check_after(
    lab: &mut Lab,
    chain: &Chain,
    op: Op,
    event: Event,
    range: bool,
    allocated: &[u64],
) -> Result<String> {
    let mut names = vec!["p", "s", "vol"];
    if event == Event::SnapshotClone {
        names.push("s2");
    }
    let listed: Vec<String> = lab
        .lvols()?
        .into_iter()
        .filter(|l| l.lvs.name == LVS)
        .map(|l| l.name)
        .collect();
    let mut want: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut got = listed.clone();
    want.sort();
    got.sort();
    ensure_eq!(got, want, "lvols of {LVS} after the event and a restart");
    let vol_parent = lab.lvol_bdev(&format!("{LVS}/vol"))?.base_snapshot;
    let want_parent = if event == Event::SnapshotClone {
        "s2"
    } else {
        "s"
    };
    ensure_eq!(
        vol_parent.as_deref(),
        Some(want_parent),
        "parent of {LVS}/vol"
    );

    let got = lab.read(&format!("{LVS}/vol"), 0, LVOL_MIB * MIB)?;
    expect_bytes(
        &format!("{LVS}/vol after the event and a restart"),
        &got,
        &chain.vol,
    )?;

    // Checksums of `s` against what it holds on disk.
    if chain.checksums {
        let s_alias = format!("{LVS}/s");
        match lab.tgt.call(&BdevLvolGetSnapshotChecksum {
            name: s_alias.clone(),
        }) {
            Ok(c) => {
                let want = crc_of(&chain.s, allocated);
                ensure_eq!(
                    c.checksum,
                    want,
                    "checksum of s: it must cover exactly the clusters s holds ({allocated:?}), or be absent"
                );
            }
            Err(e) if e.errno() == Some(Errno::ENODEV) => {}
            Err(e) => fail!("bdev_lvol_get_snapshot_checksum of s: {e}"),
        }
        if range {
            match lab.tgt.call(&BdevLvolGetSnapshotRangeChecksums {
                name: s_alias,
                cluster_start_index: 0,
                cluster_count: CLUSTERS,
            }) {
                Ok(per) => {
                    // One entry per cluster of s: the CRC of a cluster it
                    // holds, 0 for one it does not.
                    ensure_eq!(
                        per.iter().map(|c| c.cluster_index).collect::<Vec<_>>(),
                        (0..CLUSTERS).collect::<Vec<_>>(),
                        "clusters of s's range checksums ({RANGE_HOLES})"
                    );
                    for c in &per {
                        let want = if allocated.contains(&c.cluster_index) {
                            crc_of(&chain.s, &[c.cluster_index])
                        } else {
                            0
                        };
                        ensure_eq!(
                            c.checksum,
                            want,
                            "range checksum of cluster {} of s, which s {} ({allocated:?})",
                            c.cluster_index,
                            if want == 0 { "does not hold" } else { "holds" }
                        );
                    }
                }
                Err(e) if e.errno() == Some(Errno::ENODEV) => {}
                Err(e) => fail!("bdev_lvol_get_snapshot_range_checksums of s: {e}"),
            }
        }
    }
    if op == Op::ShallowCopy
        && !matches!(
            event,
            Event::HotRemove | Event::Sigterm | Event::KillInstance
        )
    {
        let dst = lab.disk_file("dst")?;
        let bytes =
            std::fs::read(&dst).map_err(|e| Error::Tool(format!("read {}: {e}", dst.display())))?;
        let (a, b) = (
            (S_CLUSTERS.start * CLUSTER) as usize,
            (S_CLUSTERS.end * CLUSTER) as usize,
        );
        expect_bytes("the shallow copy of s", &bytes[a..b], &chain.s[a..b])?;
        return Ok(format!(
            "; copy holds s's {} clusters",
            S_CLUSTERS.end - S_CLUSTERS.start
        ));
    }
    Ok(String::new())
}

/// CRC-64/GO-ISO of `bytes`' clusters `clusters`, in ascending order.
fn crc_of(bytes: &[u8], clusters: &[u64]) -> u64 {
    let mut d = steps::CRC64_GO_ISO.digest();
    for &c in clusters {
        let a = (c * CLUSTER) as usize;
        d.update(&bytes[a..a + CLUSTER as usize]);
    }
    d.finalize()
}

// ------------------------------------------------------------- the grid

/// The cells that ran, as a grid of operations by events with their
/// verdicts, and a count.
pub fn grid(outcomes: &[crate::outcome::Outcome]) -> Option<String> {
    use std::fmt::Write as _;
    let cell = |op: Op, ev: Event| {
        outcomes
            .iter()
            .find(|o| o.name == cell_name(op, ev))
            .map(|o| o.verdict().label())
    };
    if !OPS
        .iter()
        .any(|&op| EVENTS.iter().any(|&ev| cell(op, ev).is_some()))
    {
        return None;
    }
    let mut s = String::new();
    let _ = write!(s, "\nlifecycle cells (operation × event)\n{:<8}", "");
    for ev in EVENTS {
        let _ = write!(s, " {:>14}", ev.label());
    }
    let _ = writeln!(s);
    let (mut ran, mut held) = (0, 0);
    for op in OPS {
        let _ = write!(s, "{:<8}", op.label());
        for ev in EVENTS {
            let v = cell(op, ev);
            if let Some(v) = v {
                ran += 1;
                if v == "PASS" || v == "XFAIL" {
                    held += 1;
                }
            }
            let _ = write!(s, " {:>14}", v.unwrap_or("-"));
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "{held} of {ran} cells held up");
    Some(s)
}
