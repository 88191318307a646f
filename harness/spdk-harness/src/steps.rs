//! The verbs scenarios share: make lvols, snapshots and clones; put an
//! lvstore on a slow (delay) bdev; write through the data path into a byte
//! model; start, stop and wait on a snapshot checksum pass on a connection of
//! its own; expect an RPC error (`expect_errno`, like SPDK's `NOT rpc_cmd`);
//! see a refused delete keep its lvol and a done delete stay done.
//!
//! A scenario file is steps and assertions: it takes its verbs from here, and
//! never from another scenario file.

use crate::error::{Error, Result};
use crate::lab::{Lab, Restart, CLUSTER, MIB};
use crate::offline::{on_disk, store};
use crate::outcome::{Bug, FORCED_REMOVAL};
use crate::{ensure, ensure_eq, fail};
use spdk_rpc::methods::*;
use spdk_rpc::{Client, Errno, Pending, RpcError};
use std::time::{Duration, Instant};

pub use crate::target::{log_line, poll};

/// How long a request that answers in milliseconds (a delete, refused or not;
/// a disk's removal) may go unanswered before a scenario calls it a hang.
pub const HANG_AFTER: Duration = Duration::from_secs(20);

/// The size of the thin lvols the scenarios write into by default.
pub const LVOL_MIB: u64 = 64;

/// `strerror(EBUSY)`: the message of a refused delete.
pub const BUSY: &str = "Device or resource busy";

// ------------------------------------------------------------ methods

/// Whole-snapshot checksums: every base with checksums has them.
pub const CHECKSUM_RPCS: &[&str] = &[
    "bdev_lvol_register_snapshot_checksum",
    "bdev_lvol_get_snapshot_checksum",
];
/// Per-cluster checksums: checked where the target offers them.
pub const RANGE_RPCS: &[&str] = &[
    "bdev_lvol_register_snapshot_range_checksums",
    "bdev_lvol_get_snapshot_range_checksums",
];
pub const STOP_RPC: &str = "bdev_lvol_stop_snapshot_checksum";
/// Whole-snapshot checksums and their stop.
pub const STOP_RPCS: &[&str] = &[
    "bdev_lvol_register_snapshot_checksum",
    "bdev_lvol_get_snapshot_checksum",
    STOP_RPC,
];

/// Does the target offer range checksums?
pub fn has_ranges(lab: &mut Lab) -> Result<bool> {
    Ok(lab.missing_methods(RANGE_RPCS)?.is_empty())
}

/// A method a scenario needs from here on: fail, naming `bug`, if the target
/// does not offer it.
pub fn require(lab: &mut Lab, method: &str, bug: Bug) -> Result<()> {
    if lab.has_method(method)? {
        return Ok(());
    }
    Err(Error::Check(format!(
        "the target does not offer {method} (not in rpc_get_methods) ({bug})"
    )))
}

// --------------------------------------------------- expected failures

/// Expect a JSON-RPC error with this code, and a message containing `msg`. A
/// `-errno` code also matches that errno in the form of older bases (see
/// [`spdk_rpc::RpcError::errno`]).
pub fn expect_rpc_error<T: std::fmt::Debug>(
    what: &str,
    r: std::result::Result<T, RpcError>,
    want_code: i32,
    msg: &str,
) -> Result<()> {
    match r {
        Ok(v) => Err(Error::Check(format!("{what}: expected JSON-RPC error {want_code}, it succeeded with {v:?}"))),
        Err(e) if e.code() == Some(want_code) && e.message().is_some_and(|m| m.contains(msg)) => Ok(()),
        // The same errno in the form SPDK v24.09 uses for lvol operations:
        // "invalid params" or "internal error" with the errno's text.
        Err(e)
            if spdk_rpc::errno_of(want_code).is_some()
                && e.errno() == spdk_rpc::errno_of(want_code)
                && e.message().is_some_and(|m| m.contains(msg)) =>
        {
            Ok(())
        }
        Err(e) => Err(Error::Check(format!(
            "{what}: expected JSON-RPC error {want_code} ({}) with message containing {msg:?}, got: {e}",
            spdk_rpc::errno_of(want_code).map(|e| format!("{e:?}")).unwrap_or_default()
        ))),
    }
}

/// Expect the request to fail with `errno`, as SPDK's `NOT rpc_cmd` does: a
/// JSON-RPC error whose code is `-errno`, or, in the form of SPDK v24.09's
/// lvol operations, -32602/-32603 with the errno's text as the message
/// ([`RpcError::errno`] reads both). Returns the error for further checks.
pub fn expect_errno<T: std::fmt::Debug>(
    what: &str,
    r: std::result::Result<T, RpcError>,
    errno: Errno,
) -> Result<RpcError> {
    match r {
        Ok(v) => fail!(
            "{what}: expected -{errno:?} (-{}), it succeeded with {v:?}",
            errno as i32
        ),
        Err(e) if e.errno() == Some(errno) => Ok(e),
        Err(e @ RpcError::Timeout { .. }) => {
            fail!(
                "{what}: expected -{errno:?} (-{}), it never answered: {e}",
                errno as i32
            )
        }
        Err(e) => fail!("{what}: expected -{errno:?} (-{}), got: {e}", errno as i32),
    }
}

// ------------------------------------------------------------ data path

/// Write through the data path and record the bytes in the model (the part
/// of them that falls inside it).
pub fn write(
    lab: &mut Lab,
    lvol: &str,
    model: &mut [u8],
    offset: u64,
    data: Vec<u8>,
) -> Result<()> {
    lab.write(lvol, offset, &data)?;
    let end = offset as usize + data.len();
    if end <= model.len() {
        model[offset as usize..end].copy_from_slice(&data);
    }
    Ok(())
}

// ------------------------------------------------ lvols, snapshots, clones

/// How a new lvol's clusters are allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provision {
    /// On first write.
    Thin,
    /// All at creation.
    Thick,
}

/// How the blobstore clears the clusters an lvol gives up (and, thick, gets
/// at creation): `clear_method` of `bdev_lvol_create`. Snapshots and clones
/// take their origin's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clear {
    /// Not sent: SPDK's default (unmap).
    Default,
    /// `none`: nothing is written; for large thick lvols whose bytes the
    /// scenario writes before it reads them.
    Nothing,
    Unmap,
    WriteZeroes,
}

impl Clear {
    fn method(self) -> Option<String> {
        match self {
            Clear::Default => None,
            Clear::Nothing => Some("none".into()),
            Clear::Unmap => Some("unmap".into()),
            Clear::WriteZeroes => Some("write_zeroes".into()),
        }
    }
}

/// Create lvol `name` of `mib` in lvstore `lvs`; returns its alias `lvs/name`.
pub fn create_lvol(
    lab: &mut Lab,
    lvs: &str,
    name: &str,
    mib: u64,
    provision: Provision,
    clear: Clear,
) -> Result<String> {
    lab.tgt.ok(&BdevLvolCreate {
        lvol_name: name.into(),
        size_in_mib: mib,
        thin_provision: provision == Provision::Thin,
        lvs_name: lvs.into(),
        clear_method: clear.method(),
    })?;
    Ok(format!("{lvs}/{name}"))
}

/// A thin lvol with SPDK's default clear method; returns `lvs/name`.
pub fn thin_lvol(lab: &mut Lab, lvs: &str, name: &str, mib: u64) -> Result<String> {
    create_lvol(lab, lvs, name, mib, Provision::Thin, Clear::Default)
}

/// A thick lvol that is not cleared at creation ([`Clear::Nothing`]);
/// returns `lvs/name`.
pub fn thick_lvol(lab: &mut Lab, lvs: &str, name: &str, mib: u64) -> Result<String> {
    create_lvol(lab, lvs, name, mib, Provision::Thick, Clear::Nothing)
}

/// The lvstore part of an alias `lvs/name`.
fn lvs_of(alias: &str) -> Result<&str> {
    alias
        .split_once('/')
        .map(|(lvs, _)| lvs)
        .ok_or_else(|| Error::Tool(format!("{alias} is not an lvol alias (lvs/name)")))
}

/// Snapshot `lvol` (an alias `lvs/name`) as `name`; returns `lvs/name`.
pub fn snapshot(lab: &mut Lab, lvol: &str, name: &str) -> Result<String> {
    let lvs = lvs_of(lvol)?;
    lab.tgt.ok(&BdevLvolSnapshot {
        lvol_name: lvol.into(),
        snapshot_name: name.into(),
        ..Default::default()
    })?;
    Ok(format!("{lvs}/{name}"))
}

/// What Longhorn v1.8 stores in a backing image's `checksum` xattr: the
/// image's SHA-512 in hex, with its NUL (129 bytes).
pub fn backing_image_sha512() -> Vec<u8> {
    let mut v: Vec<u8> = (0..128)
        .map(|i| b"0123456789abcdef"[(i * 7 + 3) % 16])
        .collect();
    v.push(0);
    v
}

/// Snapshot `lvol` as `name` the way Longhorn v1.8 makes a backing image:
/// created with [`backing_image_sha512`] in its `checksum` xattr. Returns
/// false, and makes nothing, where the base's `bdev_lvol_snapshot` takes no
/// xattrs (upstream).
pub fn backing_image_snapshot(lab: &mut Lab, lvol: &str, name: &str) -> Result<bool> {
    let sha = backing_image_sha512();
    let text = String::from_utf8_lossy(&sha[..sha.len() - 1]).into_owned();
    Ok(lab
        .tgt
        .call(&BdevLvolSnapshot {
            lvol_name: lvol.into(),
            snapshot_name: name.into(),
            xattrs: Some([("checksum".to_string(), text)].into()),
        })
        .is_ok())
}

/// Clone snapshot `snap` (an alias `lvs/name`) as `name`; returns `lvs/name`.
pub fn clone_snapshot(lab: &mut Lab, snap: &str, name: &str) -> Result<String> {
    let lvs = lvs_of(snap)?;
    lab.tgt.ok(&BdevLvolClone {
        snapshot_name: snap.into(),
        clone_name: name.into(),
    })?;
    Ok(format!("{lvs}/{name}"))
}

/// A thick `lvs/head` of `mib` with data in clusters 0 and 2, and `lvs/snap`,
/// which takes all its clusters. Returns what the first 4 clusters of head
/// and of snap read, and the clusters of snap.
pub fn head_and_snapshot(
    lab: &mut Lab,
    lvs: &str,
    mib: u64,
    seed: u64,
) -> Result<(Vec<u8>, Vec<u8>, u64)> {
    let head = thick_lvol(lab, lvs, "head", mib)?;
    let mut model = vec![0u8; 4 * CLUSTER as usize];
    write(
        lab,
        &head,
        &mut model,
        0,
        crate::data::pattern(seed, 256 * 1024),
    )?;
    write(
        lab,
        &head,
        &mut model,
        2 * CLUSTER,
        crate::data::pattern(seed + 1, 256 * 1024),
    )?;
    let snap = snapshot(lab, &head, "snap")?;
    let clusters = lab.lvol(&snap)?.allocated();
    ensure_eq!(
        clusters,
        mib * MIB / CLUSTER,
        "clusters of {snap} (all of thick head's)"
    );
    let snap_model = model.clone();
    Ok((model, snap_model, clusters))
}

// ------------------------------------------------------ slow lvstores

/// The latency a delay bdev adds to each I/O, in microseconds (average and
/// p99 alike).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    pub read_us: u64,
    pub write_us: u64,
}

impl Latency {
    pub fn reads(us: u64) -> Self {
        Latency {
            read_us: us,
            write_us: 0,
        }
    }

    pub fn writes(us: u64) -> Self {
        Latency {
            read_us: 0,
            write_us: us,
        }
    }
}

/// Set the read latency of delay bdev `delay` (average and p99) for the I/Os
/// submitted from now on.
pub fn set_read_latency(lab: &mut Lab, delay: &str, us: u64) -> Result<()> {
    set_latency(lab, delay, "read", us)
}

/// Set the write latency of delay bdev `delay` (average and p99) for the
/// I/Os submitted from now on.
pub fn set_write_latency(lab: &mut Lab, delay: &str, us: u64) -> Result<()> {
    set_latency(lab, delay, "write", us)
}

fn set_latency(lab: &mut Lab, delay: &str, io: &str, us: u64) -> Result<()> {
    for kind in [format!("p99_{io}"), format!("avg_{io}")] {
        lab.tgt.ok(&BdevDelayUpdateLatency {
            delay_bdev_name: delay.into(),
            latency_type: kind,
            latency_us: us,
        })?;
    }
    Ok(())
}

/// A delay bdev `name` over bdev `base`.
pub fn delay_bdev(lab: &mut Lab, name: &str, base: &str, latency: Latency) -> Result<String> {
    lab.add_delay(name, base, latency.read_us, latency.write_us)
}

/// A new base disk `disk` of `mib`, a delay bdev `slow-<disk>` on it, and
/// lvstore `lvs` (4 MiB clusters) on that: a pass over 1 GiB then takes
/// seconds, so a stop, a delete or a crash lands mid-way by construction,
/// not by luck. Returns the delay bdev.
///
/// A restart attaches the disk without the delay bdev: the lvstore then
/// loads from the disk directly. The restart check holds the lvstore on the
/// delay bdev against the disk's file, as any other.
pub fn slow_lvstore(
    lab: &mut Lab,
    disk: &str,
    lvs: &str,
    mib: u64,
    latency: Latency,
) -> Result<String> {
    let bdev = lab.add_disk(disk, mib)?;
    let slow = delay_bdev(lab, &format!("slow-{disk}"), &bdev, latency)?;
    lab.create_lvstore_on(slow.clone(), lvs)?;
    Ok(slow)
}

// ------------------------------------------------------ checksum passes

/// CRC-64/GO-ISO, as Go's hash/crc64 computes it with crc64.ISO.
pub const CRC64_GO_ISO: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_GO_ISO);

/// The oracle: CRC-64/GO-ISO of the allocated clusters, each read whole
/// through NVMe-oF, in ascending order; and one CRC per cluster.
pub fn oracle_checksums(
    lab: &mut Lab,
    lvol: &str,
    allocated: &[u64],
) -> Result<(u64, Vec<ClusterChecksum>)> {
    let mut whole = CRC64_GO_ISO.digest();
    let mut per = vec![];
    let mut i = 0;
    while i < allocated.len() {
        // One read per run of adjacent clusters, at most 64 clusters at a time.
        let mut j = i + 1;
        while j < allocated.len() && allocated[j] == allocated[j - 1] + 1 && j - i < 64 {
            j += 1;
        }
        let buf = lab.read(lvol, allocated[i] * CLUSTER, (j - i) as u64 * CLUSTER)?;
        for (k, chunk) in buf.chunks(CLUSTER as usize).enumerate() {
            whole.update(chunk);
            per.push(ClusterChecksum {
                cluster_index: allocated[i + k],
                checksum: CRC64_GO_ISO.checksum(chunk),
            });
        }
        i = j;
    }
    Ok((whole.finalize(), per))
}

/// What `bdev_lvol_get_snapshot_range_checksums` answers for clusters
/// `start..start + count` of a snapshot of `clusters` clusters whose allocated
/// clusters have the values `per` (as [`oracle_checksums`] gives them): one
/// entry per cluster inside the snapshot, 0 where it has not allocated one.
pub fn range_answer(
    per: &[ClusterChecksum],
    clusters: u64,
    start: u64,
    count: u64,
) -> Vec<ClusterChecksum> {
    let end = start.saturating_add(count).min(clusters);
    (start..end)
        .map(|i| ClusterChecksum {
            cluster_index: i,
            checksum: per
                .iter()
                .find(|c| c.cluster_index == i)
                .map_or(0, |c| c.checksum),
        })
        .collect()
}

/// Send a request on `conn` without waiting for its answer.
pub fn send<R: spdk_rpc::Rpc>(conn: &mut Client, req: &R) -> Result<Pending> {
    conn.send(req)
        .map_err(|e| Error::Check(format!("send {}: {e}", R::METHOD)))
}

/// Open a connection of its own and send a checksum register for `snap` on
/// it, without waiting: the pass runs while other requests go out.
pub fn start_pass(lab: &mut Lab, snap: &str) -> Result<(Client, Pending)> {
    let mut conn = lab.tgt.connect()?;
    let p = send(
        &mut conn,
        &BdevLvolRegisterSnapshotChecksum {
            name: snap.into(),
            ..Default::default()
        },
    )?;
    Ok((conn, p))
}

/// Send `stop` until it finds the pass (its open is asynchronous). Fails if
/// the pass ended before any stop found it. Returns how long that took.
pub fn stop_running_pass(lab: &mut Lab, snap: &str) -> Result<Duration> {
    let t0 = Instant::now();
    poll(
        &format!("a checksum pass on {snap} to stop"),
        Duration::from_secs(30),
        || match lab
            .tgt
            .call(&BdevLvolStopSnapshotChecksum { name: snap.into() })
        {
            Ok(true) => Ok(Some(t0.elapsed())),
            Ok(false) => fail!("stop of {snap} returned false"),
            Err(e) if e.errno() == Some(Errno::ESRCH) => Ok(None),
            Err(e) => fail!("stop of {snap}: {e}"),
        },
    )
}

/// The register call sent on `conn` must fail with -EINTR.
pub fn expect_interrupted(conn: &mut Client, p: Pending, snap: &str) -> Result<()> {
    match conn.wait_typed::<BdevLvolRegisterSnapshotChecksum>(p, Duration::from_secs(60)) {
        Ok(v) => fail!("register of {snap} returned {v} although it was stopped mid-way: the stop did not interrupt it"),
        Err(e) if e.errno() == Some(Errno::EINTR) => Ok(()),
        Err(e) => fail!("register of {snap} after the stop: expected -EINTR (-4), got {e}"),
    }
}

// ------------------------------------------------------------- the log

/// Where the target's log ends now; [`errors_logged_since`] reads on from
/// here (across restarts: each start appends to the same log).
pub fn log_mark(lab: &Lab) -> u64 {
    std::fs::metadata(lab.tgt.log_path()).map_or(0, |m| m.len())
}

/// The lines at error level (`*ERROR*`) the target logged after `mark`.
pub fn errors_logged_since(lab: &Lab, mark: u64) -> Result<Vec<String>> {
    let log = std::fs::read(lab.tgt.log_path())
        .map_err(|e| Error::Tool(format!("read {}: {e}", lab.tgt.log_path().display())))?;
    let from = (mark as usize).min(log.len());
    Ok(String::from_utf8_lossy(&log[from..])
        .lines()
        .filter(|l| l.contains("*ERROR*"))
        .map(|l| l.trim().to_string())
        .collect())
}

// ------------------------------------------------------ refused deletes

/// The lvol must still be listed after a refused delete. If it is gone, say
/// so, naming [`FORCED_REMOVAL`], and show what a restart brings back:
/// upstream's forced removal. The restart's own check of the disk then
/// fails too (the lvol is on disk but was not listed); what it said is
/// appended.
pub fn expect_still_listed(lab: &mut Lab, alias: &str, when: &str) -> Result<()> {
    if lab.lvol(alias).is_ok() {
        return Ok(());
    }
    let mut msg = format!(
        "{when}: bdev_lvol_delete of {alias} was refused, but {alias} vanished from bdev_lvol_get_lvols \
         ({FORCED_REMOVAL})"
    );
    // SIGKILL: an upstream target may not even stop on SIGTERM in this state.
    // The restart starts the target again even when its check fails.
    let restarted = lab.restart(Restart::Kill);
    if lab.tgt.is_alive() {
        match lab.lvol(alias) {
            Ok(l) => msg.push_str(&format!(
                "; after a restart {alias} is back with {} clusters: the delete resurrects",
                l.allocated()
            )),
            Err(_) => msg.push_str("; it is still missing after a restart"),
        }
    }
    if let Err(e) = restarted {
        msg.push_str(&format!("; the restart's check: {e}"));
    }
    Err(Error::Check(msg))
}

/// After graceful and SIGKILL restarts, the deleted lvols `names` of lvstore
/// `lvs` on `disk` stay deleted: the lvstore lists no lvol, none is on disk,
/// no data cluster is in use on disk, and the lvstore has the free clusters
/// it had before they existed (`free_before`).
pub fn expect_gone_for_good(
    lab: &mut Lab,
    disk: &str,
    lvs: &str,
    names: &[&str],
    free_before: u64,
) -> Result<()> {
    for how in [Restart::Graceful, Restart::Kill] {
        lab.restart_inspecting(how, |st| {
            for name in names {
                ensure!(
                    on_disk(st, disk, name)?.is_none(),
                    "{how:?}: deleted {lvs}/{name} is still on disk"
                );
            }
            let s = store(st, disk)?;
            ensure_eq!(
                s.clusters.used,
                0,
                "{how:?}: data clusters in use on disk after the deletes"
            );
            Ok(())
        })?;
        let lvols: Vec<String> = lab
            .lvols()?
            .into_iter()
            .filter(|l| l.lvs.name == lvs)
            .map(|l| l.alias)
            .collect();
        ensure!(
            lvols.is_empty(),
            "after a {how:?} restart the deleted lvols are back: {lvols:?}"
        );
        ensure_eq!(
            lab.lvstore(lvs)?.free_clusters,
            free_before,
            "free clusters of {lvs} after a {how:?} restart (as before the lvols existed)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpc_error(code: i32, message: &str) -> RpcError {
        RpcError::Rpc {
            method: "bdev_lvol_delete".into(),
            code,
            message: message.into(),
        }
    }

    #[test]
    fn an_errno_is_read_in_both_forms() {
        let r: std::result::Result<bool, _> = Err(rpc_error(-16, "Device or resource busy"));
        let e = expect_errno("delete", r, Errno::EBUSY).unwrap();
        assert_eq!(e.code(), Some(-16));
        // SPDK v24.09's lvol operations: "internal error" or "invalid params"
        // with the errno's text.
        for code in [
            spdk_rpc::code::INTERNAL_ERROR,
            spdk_rpc::code::INVALID_PARAMS,
        ] {
            let r: std::result::Result<bool, _> = Err(rpc_error(code, BUSY));
            assert!(expect_errno("delete", r, Errno::EBUSY).is_ok(), "{code}");
        }
    }

    #[test]
    fn another_errno_success_or_no_answer_fails() {
        let r: std::result::Result<bool, _> = Err(rpc_error(-22, "Invalid argument"));
        let e = expect_errno("delete of snap", r, Errno::EBUSY)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("delete of snap: expected -EBUSY (-16)") && e.contains("Invalid argument"),
            "{e}"
        );
        let e = expect_errno("delete", Ok(true), Errno::EBUSY)
            .unwrap_err()
            .to_string();
        assert!(e.contains("it succeeded with true"), "{e}");
        let r: std::result::Result<bool, _> = Err(RpcError::Timeout {
            method: "bdev_lvol_delete".into(),
            after: HANG_AFTER,
        });
        let e = expect_errno("delete", r, Errno::EBUSY)
            .unwrap_err()
            .to_string();
        assert!(e.contains("never answered"), "{e}");
        // The text of another errno under "internal error" is that errno.
        let r: std::result::Result<bool, _> =
            Err(rpc_error(spdk_rpc::code::INTERNAL_ERROR, "No such device"));
        assert!(expect_errno("delete", r, Errno::EBUSY).is_err());
    }

    #[test]
    fn a_range_answer_has_every_cluster_inside_the_snapshot() {
        let per = [
            ClusterChecksum {
                cluster_index: 1,
                checksum: 11,
            },
            ClusterChecksum {
                cluster_index: 3,
                checksum: 33,
            },
        ];
        let got: Vec<(u64, u64)> = range_answer(&per, 5, 0, 4)
            .iter()
            .map(|c| (c.cluster_index, c.checksum))
            .collect();
        assert_eq!(got, [(0, 0), (1, 11), (2, 0), (3, 33)]);
        assert_eq!(range_answer(&per, 5, 3, u64::MAX).len(), 2);
        assert!(range_answer(&per, 5, 5, 1).is_empty());
        assert!(range_answer(&per, 5, u64::MAX, u64::MAX).is_empty());
    }

    #[test]
    fn aliases_name_their_lvstore() {
        assert_eq!(lvs_of("lvs0/vol").unwrap(), "lvs0");
        assert!(lvs_of("a-uuid-without-lvs").is_err());
    }

    #[test]
    fn clear_methods_as_spdk_spells_them() {
        assert_eq!(Clear::Default.method(), None);
        assert_eq!(Clear::Nothing.method().as_deref(), Some("none"));
        assert_eq!(Clear::WriteZeroes.method().as_deref(), Some("write_zeroes"));
    }
}
