//! Shared backing images (issue #7): one copy of a Longhorn v2 backing image
//! per node, not one per disk. The image is a read-only snapshot lvol on disk
//! A (`lvsA/image`, with `lvsA/head`, the replica head on A, as its clone);
//! the replica head on every other disk is an external-snapshot (esnap) clone
//! of it made with `bdev_lvol_clone_bdev`, so it holds only the clusters it
//! writes and reads the rest from disk A.
//!
//! Every head is checked whole, byte for byte, against a model: the image is
//! 64 MiB of 4 KiB blocks stamped with seed, cluster and block, and each head
//! writes blocks stamped with a seed of its own, so a block read from the
//! wrong place or from another head's writes is named in the failure.
//!
//! What is proved, one scenario each: the clusters saved; every load order
//! of the lvstores after graceful and SIGKILL restarts (a clone loaded before
//! A is degraded, has no bdev and can't be exported, and heals by itself when
//! A loads); removing disk A under exported clones and adding it back; a
//! refused delete of the image (patches/master 0009, also proved by
//! `busy_delete_esnap_parent` with one clone); a refused detach of an esnap
//! clone (patches/master 0002-0005, also in `detach_bad_input`).

use crate::data::{expect_bytes, stamp_of, stamped};
use crate::error::{Error, Result};
use crate::lab::{Lab, Reattach, Restart, BLOCK, CLUSTER, MIB};
use crate::outcome::{
    Scenario, CLONES_UNLISTED, ESNAP_PARENT_DELETE, ESNAP_PARENT_REMOVAL, REPOINT_DEGRADED,
    REPOINT_SIZE, REPOINT_UNDONE,
};
use crate::steps::{
    expect_rpc_error, log_line, oracle_checksums, poll, snapshot, thin_lvol, BUSY, CRC64_GO_ISO,
    HANG_AFTER,
};
use crate::{ensure, ensure_eq, fail};
use lvs_inspect::{Parent, Store};
use spdk_rpc::methods::*;
use spdk_rpc::{code, Errno, RpcError};
use std::time::{Duration, Instant};

const IMAGE_MIB: u64 = 64;
const IMAGE: u64 = IMAGE_MIB * MIB;
const IMAGE_CLUSTERS: u64 = IMAGE / CLUSTER;
/// Each base disk; A needs the image's 16 clusters, the others a few.
const DISK_MIB: u64 = 256;
const IMAGE_SEED: u64 = 7;
/// Seed of the writes of the head on disk `i` (disk A is 0).
const HEAD_SEED: u64 = 100;
/// How long a clone may take to turn degraded, or to heal.
const HEAL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the removal of disk A may take to answer.
const REMOVE_TIMEOUT: Duration = HANG_AFTER;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "shared_image_one_copy",
            about: "4 disks, a 64 MiB backing image on disk A, esnap clones on B-D with writes of their own: bytes, clusters, savings",
            needs: &[],
            bug: None,
            run: one_copy,
        },
        Scenario {
            name: "shared_image_load_order",
            about: "3 disks attached in all 6 orders after graceful restarts, and clones first after a SIGKILL: degraded, no I/O, heal",
            needs: &[],
            bug: None,
            run: load_order,
        },
        Scenario {
            name: "shared_image_remove_disk",
            about: "remove disk A under esnap clones exported over NVMe-oF: degraded, reads fail, target up; add it back: healed, bytes intact",
            needs: &[],
            bug: Some(ESNAP_PARENT_REMOVAL),
            run: remove_disk,
        },
        Scenario {
            name: "shared_image_delete_refused",
            about: "delete the backing image, or its lvstore, while esnap clones on other disks read it: refused, nothing lost",
            needs: &[],
            bug: Some(ESNAP_PARENT_DELETE),
            run: delete_refused,
        },
        Scenario {
            name: "shared_image_permanent_loss",
            about: "disk A lost for good under 3 esnap clones: image written again on disk E, verified, every clone moved (2 degraded without a bdev); 24 attach orders + SIGKILL",
            needs: &["bdev_lvol_set_parent_bdev"],
            bug: Some(ESNAP_PARENT_REMOVAL),
            run: permanent_loss,
        },
        Scenario {
            name: "shared_image_old_disk_returns",
            about: "clones moved off disk A while it was gone stay on the copy when A comes back, and A's old image can then be deleted under them",
            needs: &["bdev_lvol_set_parent_bdev"],
            bug: Some(ESNAP_PARENT_REMOVAL),
            run: old_disk_returns,
        },
        Scenario {
            name: "shared_image_planned_move",
            about: "the image moves to disk E while A is there, reads and writes running over NVMe-oF; A's image deletable only once no clone reads it",
            needs: &["bdev_lvol_set_parent_bdev"],
            bug: Some(CLONES_UNLISTED),
            run: planned_move,
        },
        Scenario {
            name: "shared_image_verify_copy",
            about: "copies differing in one byte or in size refused by checksums before any clone moves; the other size refused by the RPC too",
            needs: &["bdev_lvol_set_parent_bdev"],
            bug: Some(REPOINT_SIZE),
            run: verify_copy,
        },
        Scenario {
            name: "shared_image_detach_refused",
            about: "bdev_lvol_detach_parent of each esnap clone: -EINVAL, clusters, esnap link and bytes unchanged",
            needs: &["bdev_lvol_detach_parent"],
            bug: None,
            run: detach_refused,
        },
    ]
}

/// One disk of the lab and the replica head on it.
struct Node {
    disk: String,
    lvs: String,
    /// `<lvs>/head`: on disk A the image's own clone, elsewhere an esnap clone.
    head: String,
    /// What the head reads, whole.
    model: Vec<u8>,
    /// The clusters the head wrote (allocated in its own lvstore).
    own: Vec<u64>,
}

struct Shared {
    /// `nodes[0]` is disk A, which holds the image.
    nodes: Vec<Node>,
    image: Vec<u8>,
    image_uuid: String,
}

impl Shared {
    fn a(&self) -> &Node {
        &self.nodes[0]
    }

    fn clones(&self) -> impl Iterator<Item = &Node> {
        self.nodes[1..].iter()
    }

    fn node(&self, disk: &str) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.disk == disk)
            .expect("a disk of the lab")
    }

    /// Who writes blocks stamped with `seed`, for failure messages.
    fn writer(&self, seed: u64) -> String {
        if seed == IMAGE_SEED {
            return "the backing image".into();
        }
        match self.nodes.get(seed.wrapping_sub(HEAD_SEED) as usize) {
            Some(n) => format!("the writes of {}", n.head),
            None => format!("unknown seed {seed}"),
        }
    }
}

/// Compare a whole device with its model; a mismatch also says which block
/// was read instead (seed, cluster, block from its stamp).
fn expect_device(s: &Shared, what: &str, got: &[u8], want: &[u8]) -> Result<()> {
    let Err(e) = expect_bytes(what, got, want) else {
        return Ok(());
    };
    let Some(first) = got.iter().zip(want).position(|(a, b)| a != b) else {
        return Err(e);
    };
    let at = first - first % BLOCK as usize;
    let blk = |buf: &[u8]| buf.get(at..at + BLOCK as usize).and_then(stamp_of);
    let say = |st: Option<(u64, u64, u64)>| match st {
        Some((seed, c, b)) => format!("cluster {c} block {b} of {}", s.writer(seed)),
        None => "no stamp (zeros or foreign bytes)".into(),
    };
    Err(Error::Check(format!(
        "{e}; the block at byte {at} (cluster {}) holds {}, expected {}",
        at as u64 / CLUSTER,
        say(blk(got)),
        say(blk(want))
    )))
}

/// Write stamped blocks of head `i` at `offset` and update its model.
fn head_write(lab: &mut Lab, n: &mut Node, i: usize, offset: u64, len: u64) -> Result<()> {
    let data = stamped(HEAD_SEED + i as u64, CLUSTER, BLOCK, offset, len);
    lab.write(&n.head, offset, &data)?;
    n.model[offset as usize..(offset + len) as usize].copy_from_slice(&data);
    for c in offset / CLUSTER..(offset + len).div_ceil(CLUSTER) {
        if !n.own.contains(&c) {
            n.own.push(c);
        }
    }
    Ok(())
}

/// `n` disks A, B, ... with an lvstore each; the image written through
/// NVMe-oF into `lvsA/head` and snapshotted as `lvsA/image`; an esnap clone
/// `<lvs>/head` of it on every other disk, each writing clusters of its own:
/// head `i` a whole cluster `i`, 64 KiB inside cluster `4 + i`, and 16 KiB
/// across the boundary of clusters `7 + 2i` and `8 + 2i`.
fn build(lab: &mut Lab, n: usize) -> Result<Shared> {
    assert!((2..=4).contains(&n), "2 to 4 disks");
    let mut nodes = vec![];
    for l in ["A", "B", "C", "D"].into_iter().take(n) {
        let (disk, lvs) = (format!("disk{l}"), format!("lvs{l}"));
        lab.create_lvstore(&disk, &lvs, DISK_MIB)?;
        nodes.push(Node {
            head: format!("{lvs}/head"),
            disk,
            lvs,
            model: vec![],
            own: vec![],
        });
    }
    thin_lvol(lab, "lvsA", "head", IMAGE_MIB)?;
    let image = stamped(IMAGE_SEED, CLUSTER, BLOCK, 0, IMAGE);
    lab.write("lvsA/head", 0, &image)?;
    snapshot(lab, "lvsA/head", "image")?;
    let mut s = Shared {
        nodes,
        image_uuid: lab.lvol("lvsA/image")?.uuid,
        image,
    };
    let got = lab.read("lvsA/image", 0, IMAGE)?;
    expect_device(&s, "lvsA/image, the backing image", &got, &s.image)?;
    // The NVMe-oF target claims what it exports (exclusive write): a clone of
    // an exported image could not claim it and would start degraded.
    lab.unexport("lvsA/image")?;
    for node in s.nodes.iter_mut() {
        node.model = s.image.clone();
    }
    for i in 1..n {
        let (lvs, head) = (s.nodes[i].lvs.clone(), s.nodes[i].head.clone());
        lab.tgt.ok(&BdevLvolCloneBdev {
            bdev: s.image_uuid.clone(),
            lvs_name: lvs,
            clone_name: "head".into(),
        })?;
        let l = lab.lvol(&head)?;
        ensure!(
            l.is_esnap_clone && !l.is_degraded,
            "{head} right after bdev_lvol_clone_bdev: esnap clone {}, degraded {}",
            l.is_esnap_clone,
            l.is_degraded
        );
        let i64 = i as u64;
        let node = &mut s.nodes[i];
        head_write(lab, node, i, i64 * CLUSTER, CLUSTER)?;
        head_write(lab, node, i, (4 + i64) * CLUSTER + 8192, 64 * 1024)?;
        head_write(lab, node, i, (8 + 2 * i64) * CLUSTER - 8192, 16 * 1024)?;
    }
    Ok(s)
}

/// Every head reads its model whole; A holds the image's clusters and each
/// clone only its own; the free clusters of each lvstore follow. Returns the
/// clusters in use in each lvstore, in node order.
fn check(lab: &mut Lab, s: &Shared, when: &str) -> Result<Vec<u64>> {
    let image = format!("{}/image", s.a().lvs);
    let img = lab.lvol(&image)?;
    ensure!(
        img.is_snapshot && !img.is_degraded,
        "{when}: {image} must be a healthy snapshot"
    );
    ensure_eq!(
        img.allocated(),
        IMAGE_CLUSTERS,
        "{when}: clusters of {image}"
    );
    ensure_eq!(
        img.uuid.as_str(),
        s.image_uuid.as_str(),
        "{when}: uuid of {image}"
    );
    let mut used = vec![];
    for (i, n) in s.nodes.iter().enumerate() {
        let l = lab.lvol(&n.head)?;
        ensure!(!l.is_degraded, "{when}: {} is degraded", n.head);
        ensure_eq!(
            l.allocated(),
            n.own.len() as u64,
            "{when}: clusters of {} (written: {:?})",
            n.head,
            n.own
        );
        let d = lab.lvol_bdev(&n.head)?;
        if i == 0 {
            ensure_eq!(
                d.base_snapshot.as_deref(),
                Some("image"),
                "{when}: parent of {}",
                n.head
            );
        } else {
            ensure!(l.is_esnap_clone, "{when}: {} is not an esnap clone", n.head);
            ensure_eq!(
                d.external_snapshot_name.as_deref(),
                Some(s.image_uuid.as_str()),
                "{when}: external snapshot of {}",
                n.head
            );
            // The listing names it too, with our series (degraded clones'
            // only listing).
            if let Some(e) = &l.external_snapshot_name {
                ensure_eq!(
                    e.as_str(),
                    s.image_uuid.as_str(),
                    "{when}: external_snapshot_name of {} in bdev_lvol_get_lvols",
                    n.head
                );
            }
        }
        let lvs = lab.lvstore(&n.lvs)?;
        let mine = n.own.len() as u64 + if i == 0 { IMAGE_CLUSTERS } else { 0 };
        ensure_eq!(
            lvs.total_data_clusters - lvs.free_clusters,
            mine,
            "{when}: clusters in use in {} ({} free of {})",
            n.lvs,
            lvs.free_clusters,
            lvs.total_data_clusters
        );
        used.push(mine);
    }
    for n in &s.nodes {
        let got = lab.read(&n.head, 0, IMAGE)?;
        expect_device(s, &format!("{when}: {}, whole", n.head), &got, &n.model)?;
    }
    Ok(used)
}

/// Does `bdev_get_bdevs` list a bdev named (or aliased) `name`?
fn has_bdev(lab: &mut Lab, name: &str) -> Result<bool> {
    let all = lab.tgt.ok(&BdevGetBdevs::default())?;
    Ok(all
        .iter()
        .any(|b| b.name == name || b.aliases.iter().any(|a| a == name)))
}

/// A clone whose image is gone must not serve I/O: either it can't be
/// exported, or a read of its export fails. Never bytes. Returns which.
fn expect_no_io(lab: &mut Lab, s: &Shared, n: &Node, when: &str) -> Result<&'static str> {
    match lab.export(&n.head) {
        Err(e) => {
            // The degraded lvol has no bdev: nvmf_subsystem_add_ns can't open it.
            let code = e.rpc().and_then(RpcError::code);
            ensure_eq!(
                code,
                Some(code::INVALID_PARAMS),
                "{when}: the export of {} failed, but not with the code of a missing bdev: {e}",
                n.head
            );
            Ok("export refused")
        }
        Ok(_) => match lab.read(&n.head, 0, IMAGE) {
            Err(e) => {
                log_line(&format!(
                    "{when}: read of {} failed as it must: {e}",
                    n.head
                ));
                lab.unexport(&n.head)?;
                Ok("read failed")
            }
            Ok(got) => {
                let right = got == n.model;
                let mut msg = format!(
                    "{when}: a read of {} over NVMe-oF succeeded while its image is missing",
                    n.head
                );
                if let Err(e) = expect_device(s, &n.head, &got, &n.model) {
                    msg.push_str(&format!(", with wrong bytes: {e}"));
                } else if right {
                    msg.push_str(" (with the right bytes: the image was never really gone)");
                }
                Err(Error::Check(msg))
            }
        },
    }
}

/// The clone on `n` is listed degraded, still an esnap clone with its own
/// clusters, without a bdev, and serves no I/O.
fn expect_degraded(lab: &mut Lab, s: &Shared, n: &Node, when: &str) -> Result<&'static str> {
    let l = lab.lvol(&n.head)?;
    ensure!(
        l.is_degraded,
        "{when}: {} must be degraded while lvsA is not loaded",
        n.head
    );
    ensure!(
        l.is_esnap_clone,
        "{when}: degraded {} must stay an esnap clone",
        n.head
    );
    // Unknown where the base reports the count only in bdev_get_bdevs (v24.09):
    // a degraded lvol has no bdev there.
    if let Some(c) = l.num_allocated_clusters {
        ensure_eq!(
            c,
            n.own.len() as u64,
            "{when}: clusters of degraded {}",
            n.head
        );
    }
    ensure!(
        !has_bdev(lab, &l.uuid)?,
        "{when}: degraded {} has a bdev",
        n.head
    );
    let how = expect_no_io(lab, s, n, when)?;
    lab.tgt.check_alive()?;
    Ok(how)
}

/// Wait until every clone in `disks` is healthy with a bdev; returns how long.
fn wait_healed(lab: &mut Lab, s: &Shared, disks: &[&str], since: Instant) -> Result<Duration> {
    let heads: Vec<String> = disks
        .iter()
        .filter(|d| **d != s.a().disk)
        .map(|d| s.node(d).head.clone())
        .collect();
    poll(
        &format!("{} to heal", heads.join(", ")),
        HEAL_TIMEOUT,
        || {
            for h in &heads {
                let l = lab.lvol(h)?;
                if l.is_degraded || !has_bdev(lab, &l.uuid)? {
                    return Ok(None);
                }
            }
            Ok(Some(since.elapsed()))
        },
    )
}

fn one_copy(lab: &mut Lab) -> Result<String> {
    let n = 4;
    let s = build(lab, n)?;
    let used = check(lab, &s, "after the clones' writes")?;
    // One copy per disk: every disk holds the image's clusters and its head's.
    let per_disk: u64 = s
        .nodes
        .iter()
        .map(|x| IMAGE_CLUSTERS + x.own.len() as u64)
        .sum();
    let saved = per_disk - used.iter().sum::<u64>();
    ensure_eq!(
        saved,
        (n as u64 - 1) * IMAGE_CLUSTERS,
        "clusters saved against one copy per disk"
    );
    let own: Vec<String> = s.clones().map(|x| x.own.len().to_string()).collect();
    Ok(format!(
        "{n} disks, {IMAGE_MIB} MiB image: {saved} clusters / {} MiB saved (one copy instead of {n}); \
         clones hold only their own {} clusters; {} MiB compared",
        saved * CLUSTER / MIB,
        own.join("/"),
        (n as u64 + 1) * IMAGE_MIB
    ))
}

fn permutations(items: &[&'static str]) -> Vec<Vec<&'static str>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = vec![];
    for (i, first) in items.iter().enumerate() {
        let mut rest = items.to_vec();
        rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, first);
            out.push(p);
        }
    }
    out
}

/// A 3-disk lab through every order of attaching its disks after a restart
/// (all 6, graceful), then clones first after a SIGKILL.
fn load_order(lab: &mut Lab) -> Result<String> {
    let s = build(lab, 3)?;
    check(lab, &s, "before the restarts")?;
    let disks = ["diskA", "diskB", "diskC"];
    let mut runs: Vec<(Vec<&str>, Restart)> = permutations(&disks)
        .into_iter()
        .map(|o| (o, Restart::Graceful))
        .collect();
    runs.push((vec!["diskB", "diskC", "diskA"], Restart::Kill));
    let (mut degraded, mut refused, mut heal_max) = (0, 0, Duration::ZERO);
    for (order, how) in &runs {
        let when = format!(
            "{how:?} restart, disks attached in order {}",
            order.join(", ")
        );
        lab.restart_attaching(*how, &[])?;
        ensure!(
            lab.lvols()?.is_empty(),
            "{when}: lvols listed before any disk is attached"
        );
        let mut a_loaded = false;
        for (k, disk) in order.iter().enumerate() {
            let t0 = Instant::now();
            lab.readd_disk(disk)?;
            let attached = &order[..=k];
            if *disk == s.a().disk {
                a_loaded = true;
                let t = wait_healed(lab, &s, attached, t0)?;
                heal_max = heal_max.max(t);
                log_line(&format!("{when}: healed {t:?} after diskA's attach began"));
            }
            for d in attached.iter().filter(|d| **d != s.a().disk) {
                let n = s.node(d);
                let step = format!("{when}, after attaching {}", attached.join(", "));
                if a_loaded {
                    ensure!(
                        !lab.lvol(&n.head)?.is_degraded,
                        "{step}: {} is degraded though lvsA is loaded",
                        n.head
                    );
                } else {
                    degraded += 1;
                    if expect_degraded(lab, &s, n, &step)? == "export refused" {
                        refused += 1;
                    }
                }
            }
        }
        check(lab, &s, &format!("after a {when}"))?;
    }
    Ok(format!(
        "{} restarts (6 orders graceful, clones first after SIGKILL): {degraded} degraded clones seen, \
         {refused} exports refused, no bytes served; healed within {} ms of A's attach; bytes intact",
        runs.len(),
        heal_max.as_millis()
    ))
}

/// Remove disk A while the clones are exported and have been read.
fn remove_disk(lab: &mut Lab) -> Result<String> {
    let s = build(lab, 3)?;
    check(lab, &s, "before diskA is removed")?;
    let took = remove_disk_a(lab, &s)?;
    let heads: Vec<String> = s.clones().map(|n| n.head.clone()).collect();
    let mut how = vec![];
    for n in s.clones() {
        how.push(expect_no_io(lab, &s, n, "with diskA removed")?);
        lab.tgt.check_alive()?;
    }
    let t1 = Instant::now();
    lab.readd_disk("diskA")?;
    let disks: Vec<&str> = s.nodes.iter().map(|n| n.disk.as_str()).collect();
    let healed = wait_healed(lab, &s, &disks, t1)?;
    // lvsA/head's bdev went away with lvsA and came back: its old export has
    // no namespace. The clones kept their bdevs (their exports were removed
    // after the failed reads).
    lab.unexport(&s.a().head)?;
    check(lab, &s, "after diskA came back")?;
    lab.restart(Restart::Graceful)?;
    check(lab, &s, "after a graceful restart")?;
    Ok(format!(
        "removal answered in {} ms; {} clones degraded ({}); healed {} ms after diskA's re-add; bytes intact, also after a restart",
        took.as_millis(),
        heads.len(),
        how.join(", "),
        healed.as_millis()
    ))
}

/// Remove disk A from the target under the clones (`bdev_aio_delete`),
/// bounded: a removal that does not answer fails naming what the target
/// shows. Then wait for the clones to turn degraded. Returns how long the
/// removal took to answer.
fn remove_disk_a(lab: &mut Lab, s: &Shared) -> Result<Duration> {
    let (mut conn, pending) = lab.start_remove_disk(&s.a().disk)?;
    let t0 = Instant::now();
    match conn.wait(pending, REMOVE_TIMEOUT) {
        Ok(v) => ensure_eq!(v, serde_json::Value::Bool(true), "bdev_aio_delete of diskA"),
        Err(RpcError::Timeout { .. }) => return Err(removal_hangs(lab, s)),
        Err(e) => fail!("bdev_aio_delete of diskA under esnap clones: {e}"),
    }
    let took = t0.elapsed();
    lab.tgt.check_alive()?;
    let heads: Vec<String> = s.clones().map(|n| n.head.clone()).collect();
    poll("the clones to turn degraded", HEAL_TIMEOUT, || {
        for h in &heads {
            if !lab.lvol(h)?.is_degraded {
                return Ok(None);
            }
        }
        Ok(Some(()))
    })?;
    Ok(took)
}

/// The removal of disk A did not answer: say what the target shows then.
fn removal_hangs(lab: &mut Lab, s: &Shared) -> Error {
    let mut seen = vec![];
    match lab.lvols() {
        Ok(ls) => {
            for n in s.clones() {
                if let Some(l) = ls.iter().find(|l| l.alias == n.head) {
                    seen.push(format!("{} degraded: {}", n.head, l.is_degraded));
                }
            }
            let img = ls.iter().any(|l| l.alias == "lvsA/image");
            seen.push(format!("lvsA/image still listed: {img}"));
        }
        Err(e) => seen.push(format!("bdev_lvol_get_lvols failed: {e}")),
    }
    let n = &s.nodes[1];
    seen.push(match lab.read(&n.head, 0, IMAGE) {
        Ok(got) if got == n.model => format!("a read of {} returned its right bytes", n.head),
        Ok(_) => format!("a read of {} returned WRONG bytes", n.head),
        Err(e) => format!(
            "a read of {} failed ({})",
            n.head,
            e.to_string().lines().next().unwrap_or("")
        ),
    });
    seen.push(match lab.readd_disk("diskA") {
        Ok(()) => "re-adding diskA succeeded".into(),
        Err(e) => format!("re-adding diskA failed: {e}"),
    });
    let log = std::fs::read_to_string(lab.tgt.log_path()).unwrap_or_default();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("being removed")
                || l.contains("unsupported event")
                || l.contains("already exists")
        })
        .collect();
    Error::Check(format!(
        "bdev_aio_delete of diskA never answered within {:.0}s while esnap clones on the other disks \
         hold lvsA/image ({ESNAP_PARENT_REMOVAL}): {}\n--- target log ---\n{}",
        REMOVE_TIMEOUT.as_secs_f64(),
        seen.join("; "),
        lines.join("\n")
    ))
}

/// Patch 0009 in the multi-disk setup (see also `busy_delete_esnap_parent`).
fn delete_refused(lab: &mut Lab) -> Result<String> {
    let s = build(lab, 3)?;
    check(lab, &s, "before the deletes")?;
    let r = lab.tgt.rpc()?.call_timeout(
        &BdevLvolDelete {
            name: "lvsA/image".into(),
        },
        HANG_AFTER,
    );
    if let Err(e @ RpcError::Timeout { .. }) = &r {
        fail!(
            "bdev_lvol_delete of lvsA/image, the image of {} esnap clones, never answered ({e}; {ESNAP_PARENT_DELETE})",
            s.nodes.len() - 1
        );
    }
    expect_rpc_error(
        "bdev_lvol_delete of a backing image esnap clones read from",
        r,
        code::INTERNAL_ERROR,
        BUSY,
    )?;
    let r = lab.tgt.call(&BdevLvolDeleteLvstore {
        lvs_name: Some("lvsA".into()),
        uuid: None,
    });
    expect_rpc_error(
        "bdev_lvol_delete_lvstore of the backing image's lvstore",
        r,
        code::INVALID_PARAMS,
        BUSY,
    )?;
    lab.tgt.check_alive()?;
    check(lab, &s, "after the refused deletes")?;
    // The restart holds the disks against the listing: the image is on disk.
    lab.restart(Restart::Kill)?;
    check(lab, &s, "after a SIGKILL restart")?;
    Ok(format!(
        "delete of the image and of lvsA refused (-EBUSY) while {} esnap clones read it; {} heads intact, also after a SIGKILL restart",
        s.nodes.len() - 1,
        s.nodes.len()
    ))
}

fn detach_refused(lab: &mut Lab) -> Result<String> {
    let s = build(lab, 3)?;
    check(lab, &s, "before the detaches")?;
    let einval = -(Errno::EINVAL as i32);
    for n in s.clones() {
        let r = lab.tgt.call(&BdevLvolDetachParent {
            name: n.head.clone(),
        });
        expect_rpc_error(
            &format!("bdev_lvol_detach_parent of esnap clone {}", n.head),
            r,
            einval,
            "Invalid argument",
        )?;
    }
    lab.tgt.check_alive()?;
    check(lab, &s, "after the refused detaches")?;
    lab.restart(Restart::Graceful)?;
    check(lab, &s, "after a graceful restart")?;
    Ok(format!(
        "{} detaches refused with -22; clusters, esnap links and bytes unchanged, also after a restart",
        s.nodes.len() - 1
    ))
}

// ---------------------------------------------------------------- re-homing
//
// The image moves to another disk: disk A failed for good, or the image is
// moved while A is still there. The operator's flow, step by step:
// 1. write the image again on the new disk (as Longhorn downloads it again)
//    and snapshot it;
// 2. compare the copy with the image's fingerprint - size, whole checksum,
//    checksum of every cluster - taken from the original while it is there,
//    or recorded before it was lost; a copy that differs is refused;
// 3. list the esnap clones that read the old image (`bdev_lvol_get_lvols`,
//    `external_snapshot_name`, degraded clones included) and move each with
//    `bdev_lvol_set_parent_bdev` (a degraded clone without a bdev by its
//    `lvs/lvol` name);
// 4. the old image can be deleted once the listing shows no clone reading it.

/// What the flow compares a copy of the image with.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    bytes: u64,
    whole: u64,
    per: Vec<ClusterChecksum>,
}

/// Register the whole and per-cluster checksums of snapshot `snap` and read
/// them back, with its size.
fn fingerprint(lab: &mut Lab, snap: &str) -> Result<Fingerprint> {
    let b = lab.tgt.ok(&BdevGetBdevs {
        name: Some(snap.into()),
        timeout: None,
    })?;
    let Some(b) = b.first() else {
        fail!("bdev_get_bdevs does not list {snap}");
    };
    let bytes = b.num_blocks * u64::from(b.block_size);
    if !lab.has_method("bdev_lvol_register_snapshot_range_checksums")? {
        return read_fingerprint(lab, snap, bytes);
    }
    ensure!(
        lab.tgt.ok(&BdevLvolRegisterSnapshotRangeChecksums {
            name: snap.into(),
            ..Default::default()
        })?,
        "checksum register of {snap} must return true"
    );
    let whole = lab
        .tgt
        .ok(&BdevLvolGetSnapshotChecksum { name: snap.into() })?
        .checksum;
    let per = lab.tgt.ok(&BdevLvolGetSnapshotRangeChecksums {
        name: snap.into(),
        cluster_start_index: 0,
        cluster_count: bytes.div_ceil(CLUSTER),
    })?;
    Ok(Fingerprint { bytes, whole, per })
}

/// [`fingerprint`] on a base without per-cluster checksums (upstream SPDK,
/// Longhorn v1.8.x), so that the flow runs there too: the harness reads the
/// snapshot (every cluster written) and computes what the target would; the
/// whole checksum is the target's where it has the RPC. A snapshot that esnap
/// clones read can't be exported (they claim it), so it is read through its
/// clone that holds no cluster of its own (the lvol it was taken of).
fn read_fingerprint(lab: &mut Lab, snap: &str, bytes: u64) -> Result<Fingerprint> {
    let lvs = snap.split('/').next().unwrap_or_default();
    let mut via = None;
    for c in lab.lvol_bdev(snap)?.clones {
        let alias = format!("{lvs}/{c}");
        if lab.lvol(&alias)?.allocated() == 0 {
            via = Some(alias);
            break;
        }
    }
    let Some(via) = via else {
        fail!("{snap}: the target has no per-cluster checksums, and no clone without clusters of its own to read it through");
    };
    log_line(&format!(
        "{snap}: the target has no per-cluster checksums; the harness computes them, reading {via}"
    ));
    let all: Vec<u64> = (0..bytes / CLUSTER).collect();
    let (mut whole, per) = oracle_checksums(lab, &via, &all)?;
    if lab.has_method("bdev_lvol_register_snapshot_checksum")? {
        lab.tgt.ok(&BdevLvolRegisterSnapshotChecksum {
            name: snap.into(),
            ..Default::default()
        })?;
        whole = lab
            .tgt
            .ok(&BdevLvolGetSnapshotChecksum { name: snap.into() })?
            .checksum;
    }
    Ok(Fingerprint { bytes, whole, per })
}

/// The fingerprint of the original image, held against the harness's
/// model: every cluster allocated, so the whole checksum is the CRC of the
/// image's bytes.
fn image_fingerprint(lab: &mut Lab, s: &Shared) -> Result<Fingerprint> {
    let image = format!("{}/image", s.a().lvs);
    let f = fingerprint(lab, &image)?;
    ensure_eq!(
        f.whole,
        CRC64_GO_ISO.checksum(&s.image),
        "whole checksum of {image} against the CRC of the image's bytes"
    );
    ensure_eq!(
        f.per.len() as u64,
        IMAGE_CLUSTERS,
        "per-cluster checksums of {image}"
    );
    Ok(f)
}

/// Why the flow refuses `got` as a copy of the image whose fingerprint is
/// `want`, or None: same size, same checksum for every cluster, same whole.
fn copy_differs(want: &Fingerprint, got: &Fingerprint) -> Option<String> {
    if got.bytes != want.bytes {
        return Some(format!(
            "its size differs: {} bytes, the image has {}",
            got.bytes, want.bytes
        ));
    }
    let bad: Vec<u64> = want
        .per
        .iter()
        .zip(&got.per)
        .filter(|(w, g)| w != g)
        .map(|(w, _)| w.cluster_index)
        .collect();
    if !bad.is_empty() || got.per.len() != want.per.len() {
        return Some(format!("the checksums of clusters {bad:?} differ"));
    }
    if got.whole != want.whole {
        return Some(format!(
            "its whole checksum differs: {:#x}, the image's is {:#x}",
            got.whole, want.whole
        ));
    }
    None
}

/// Write `data` through NVMe-oF into a new thin lvol `<lvs>/<lvol>` and
/// snapshot it as `<lvs>/<snap>`: a copy of the image, as Longhorn writes a
/// backing image it downloads again. Returns the snapshot's uuid.
fn copy_image(lab: &mut Lab, lvs: &str, lvol: &str, snap: &str, data: &[u8]) -> Result<String> {
    thin_lvol(lab, lvs, lvol, data.len() as u64 / MIB)?;
    lab.write(&format!("{lvs}/{lvol}"), 0, data)?;
    snapshot(lab, &format!("{lvs}/{lvol}"), snap)?;
    Ok(lab.lvol(&format!("{lvs}/{snap}"))?.uuid)
}

/// Restart (checked against the disks), wait for the clones to heal (their
/// image's lvstore may load after theirs) and [`check`] every head.
fn restart_healed(lab: &mut Lab, s: &Shared, how: Restart) -> Result<()> {
    lab.restart(how)?;
    let disks: Vec<&str> = s.nodes.iter().map(|n| n.disk.as_str()).collect();
    wait_healed(lab, s, &disks, Instant::now())?;
    check(lab, s, &format!("after a {how:?} restart"))?;
    Ok(())
}

/// Steps 2 and 3 of the flow on a new disk E: the image written again from
/// the model as `lvsE/image`, and held against the fingerprint `want`.
/// Returns the copy's uuid.
fn verified_copy_on_e(lab: &mut Lab, s: &Shared, want: &Fingerprint) -> Result<String> {
    lab.create_lvstore("diskE", "lvsE", DISK_MIB)?;
    let new = copy_image(lab, "lvsE", "head", "image", &s.image)?;
    let got = fingerprint(lab, "lvsE/image")?;
    if let Some(why) = copy_differs(want, &got) {
        fail!("the copy lvsE/image written from the model is refused: {why}");
    }
    Ok(new)
}

/// The node of the image's new disk: `<lvs>/head` is the image's own clone.
fn image_node(s: &Shared, l: &str) -> Node {
    Node {
        disk: format!("disk{l}"),
        lvs: format!("lvs{l}"),
        head: format!("lvs{l}/head"),
        model: s.image.clone(),
        own: vec![],
    }
}

/// The esnap clones one listing (`bdev_lvol_get_lvols`) shows reading bdev
/// `uuid` must be `want`. A listing that names no external snapshot for an
/// esnap clone can't tell.
fn expect_readers(lab: &mut Lab, uuid: &str, want: &[String], when: &str) -> Result<()> {
    let ls = lab.lvols()?;
    let unnamed: Vec<&str> = ls
        .iter()
        .filter(|l| l.is_esnap_clone && l.external_snapshot_name.is_none())
        .map(|l| l.alias.as_str())
        .collect();
    ensure!(
        unnamed.is_empty(),
        "{when}: bdev_lvol_get_lvols does not say which external snapshot esnap clones {} read \
         ({CLONES_UNLISTED})",
        unnamed.join(", ")
    );
    let mut got: Vec<&str> = ls
        .iter()
        .filter(|l| l.external_snapshot_name.as_deref() == Some(uuid))
        .map(|l| l.alias.as_str())
        .collect();
    got.sort();
    let mut want: Vec<&str> = want.iter().map(String::as_str).collect();
    want.sort();
    ensure_eq!(
        got,
        want,
        "{when}: esnap clones the listing shows reading {uuid}"
    );
    Ok(())
}

/// Move the esnap clone `clone` to the copy of the image `uuid`.
fn move_clone(lab: &mut Lab, clone: &str, uuid: &str) -> Result<()> {
    let l = lab.lvol(clone)?;
    let without_bdev = l.is_degraded && !has_bdev(lab, &l.uuid)?;
    let r = lab.tgt.call(&BdevLvolSetParentBdev {
        lvol_name: clone.into(),
        parent_name: uuid.into(),
    });
    match r {
        Ok(true) if without_bdev => {
            let got = poll(&format!("{clone} to get a bdev"), HEAL_TIMEOUT, || {
                Ok(has_bdev(lab, &l.uuid)?.then_some(()))
            });
            got.map_err(|e| {
                Error::Check(format!(
                    "bdev_lvol_set_parent_bdev of {clone}, degraded without a bdev, answered true \
                     but the clone has no bdev: {e} ({REPOINT_DEGRADED})"
                ))
            })
        }
        Ok(true) => Ok(()),
        Ok(false) => fail!("bdev_lvol_set_parent_bdev of {clone} to {uuid} answered false"),
        Err(e) if without_bdev => fail!(
            "bdev_lvol_set_parent_bdev of {clone}, degraded without a bdev, to the copy {uuid}: {e} \
             ({REPOINT_DEGRADED})"
        ),
        Err(e) => fail!("bdev_lvol_set_parent_bdev of {clone} to the copy {uuid}: {e}"),
    }
}

/// Every esnap blob on the disks the inspector read reads `new`, none the
/// old image. Returns how many there are.
fn esnaps_on_disk(stores: &[(String, Store)], old: &str, new: &str, when: &str) -> Result<usize> {
    let mut n = 0;
    for (disk, st) in stores {
        for b in &st.blobs {
            if let Parent::External { id } = &b.parent {
                ensure!(
                    id != old,
                    "{when}: blob {:#x} ({}) on {disk} still names the lost image {old} as its external snapshot",
                    b.id,
                    b.name().unwrap_or("?")
                );
                ensure_eq!(
                    id.as_str(),
                    new,
                    "{when}: external snapshot of blob {:#x} ({}) on {disk}",
                    b.id,
                    b.name().unwrap_or("?")
                );
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Disk A fails for good under 3 esnap clones; the image is written again
/// on a new disk E and every clone moves to it, one with its bdev, two
/// loaded degraded without one. Then every attach order, and a SIGKILL.
fn permanent_loss(lab: &mut Lab) -> Result<String> {
    // diskA is lost with its file.
    lab.need_files()?;
    let mut s = build(lab, 4)?;
    check(lab, &s, "before diskA is lost")?;
    let want = image_fingerprint(lab, &s)?;
    let old = s.image_uuid.clone();
    let heads: Vec<String> = s.clones().map(|n| n.head.clone()).collect();

    // Disk A fails: removed from the target, its file gone.
    lab.unexport(&s.a().head)?;
    remove_disk_a(lab, &s)?;
    let file = lab.disk_file("diskA")?;
    lab.forget_disk("diskA")?;
    std::fs::remove_file(&file)
        .map_err(|e| Error::Tool(format!("remove {}: {e}", file.display())))?;
    expect_readers(lab, &old, &heads, "with diskA gone")?;

    // The image is written again on a new disk E, and checked against the
    // fingerprint recorded before the loss.
    let new = verified_copy_on_e(lab, &s, &want)?;
    s.nodes[0] = image_node(&s, "E");
    s.image_uuid = new.clone();

    // lvsB/head moves while degraded with its bdev (A went at runtime).
    let t0 = Instant::now();
    move_clone(lab, "lvsB/head", &new)?;
    wait_healed(lab, &s, &["diskB"], t0)?;
    expect_readers(lab, &old, &heads[1..], "after lvsB/head moved")?;

    // A restart: C and D load without their image, degraded, without bdevs.
    lab.restart(Restart::Graceful)?;
    wait_healed(lab, &s, &["diskB"], Instant::now())?;
    for h in &heads[1..] {
        let l = lab.lvol(h)?;
        ensure!(
            l.is_degraded && !has_bdev(lab, &l.uuid)?,
            "after a restart without diskA, {h} must be degraded without a bdev"
        );
    }
    expect_readers(lab, &old, &heads[1..], "after a restart, C and D degraded")?;
    let t1 = Instant::now();
    for h in &heads[1..] {
        move_clone(lab, h, &new)?;
    }
    let healed = wait_healed(lab, &s, &["diskB", "diskC", "diskD"], t1)?;
    expect_readers(lab, &old, &[], "after every clone moved")?;
    expect_readers(lab, &new, &heads, "after every clone moved")?;
    check(lab, &s, "after every clone moved")?;

    // Every attach order of the four disks, then clones first after a SIGKILL.
    let disks = ["diskB", "diskC", "diskD", "diskE"];
    let orders = permutations(&disks);
    for order in &orders {
        let when = format!("after a graceful restart attaching {}", order.join(", "));
        lab.restart_inspecting_with(Restart::Graceful, Reattach::Only(&[]), |st| {
            esnaps_on_disk(st, &old, &new, &when)
        })?;
        for d in order {
            lab.readd_disk(d)?;
        }
        wait_healed(lab, &s, &disks, Instant::now())?;
        expect_readers(lab, &new, &heads, &when)?;
    }
    check(lab, &s, "after the last order")?;
    let on_disk = lab.restart_inspecting_with(Restart::Kill, Reattach::Only(&disks), |st| {
        esnaps_on_disk(st, &old, &new, "after a SIGKILL")
    })?;
    ensure_eq!(on_disk, heads.len(), "esnap clones on disk after a SIGKILL");
    wait_healed(lab, &s, &disks, Instant::now())?;
    expect_readers(lab, &new, &heads, "after a SIGKILL restart")?;
    check(lab, &s, "after a SIGKILL restart")?;
    Ok(format!(
        "diskA lost under {} clones; copy on diskE matched the recorded checksums ({} clusters); \
         1 clone moved with its bdev, 2 without (healed in {} ms); {} attach orders + SIGKILL: \
         healthy on the copy, nothing names the lost image; {} MiB compared",
        heads.len(),
        want.per.len(),
        healed.as_millis(),
        orders.len(),
        3 * (heads.len() as u64 + 1) * IMAGE_MIB
    ))
}

/// Disk A goes away; the clones move to a copy on disk E while it is gone;
/// then A comes back (the disk was only unplugged) and its old image, which
/// no clone reads now, is deleted.
fn old_disk_returns(lab: &mut Lab) -> Result<String> {
    let mut s = build(lab, 3)?;
    check(lab, &s, "before diskA goes")?;
    let want = image_fingerprint(lab, &s)?;
    let old = s.image_uuid.clone();
    let heads: Vec<String> = s.clones().map(|n| n.head.clone()).collect();
    lab.unexport(&s.a().head)?;
    remove_disk_a(lab, &s)?;
    let new = verified_copy_on_e(lab, &s, &want)?;
    let e = image_node(&s, "E");
    let a = std::mem::replace(&mut s.nodes[0], e);
    s.image_uuid = new.clone();
    for h in &heads {
        move_clone(lab, h, &new)?;
    }
    wait_healed(lab, &s, &["diskB", "diskC"], Instant::now())?;
    check(lab, &s, "after the move, diskA gone")?;

    // Disk A comes back: its image is there again, and nothing reads it.
    lab.readd_disk("diskA")?;
    expect_readers(lab, &old, &[], "after diskA came back")?;
    expect_readers(lab, &new, &heads, "after diskA came back")?;
    for name in [a.head.as_str(), "lvsA/image"] {
        lab.tgt.ok(&BdevLvolDelete { name: name.into() })?;
    }
    let degraded: Vec<&str> = heads
        .iter()
        .filter(|h| lab.lvol(h).is_ok_and(|l| l.is_degraded))
        .map(String::as_str)
        .collect();
    ensure!(
        degraded.is_empty(),
        "deleting diskA's old image, which no clone reads, degraded {} ({REPOINT_UNDONE})",
        degraded.join(", ")
    );
    check(lab, &s, "after diskA's old image was deleted")?;
    restart_healed(lab, &s, Restart::Graceful)?;
    Ok(format!(
        "{} clones moved while diskA was gone stayed on the copy when it came back; its old \
         image deleted under them, clones healthy, bytes intact, also after a restart",
        heads.len()
    ))
}

/// I/O counters of lvol `alias`'s bdev: (reads, writes) done.
fn io_done(lab: &mut Lab, alias: &str) -> Result<(u64, u64)> {
    let uuid = lab.lvol(alias)?.uuid;
    let st = lab.tgt.ok(&BdevGetIostat {})?;
    let Some(b) = st.bdevs.iter().find(|b| b.name == uuid) else {
        fail!("bdev_get_iostat has no counters for {alias} ({uuid})");
    };
    Ok((b.num_read_ops, b.num_write_ops))
}

/// The image moves from disk A to a new disk E while A is still there, with
/// reads on two heads and writes on the third running over NVMe-oF; A's
/// image can be deleted only once the listing shows no clone reading it.
fn planned_move(lab: &mut Lab) -> Result<String> {
    let mut s = build(lab, 4)?;
    check(lab, &s, "before the move")?;
    let old = s.image_uuid.clone();
    let heads: Vec<String> = s.clones().map(|n| n.head.clone()).collect();
    expect_readers(lab, &old, &heads, "before the move")?;
    let want = image_fingerprint(lab, &s)?;
    let new = verified_copy_on_e(lab, &s, &want)?;

    // I/O on the heads: B and C read whole in 4 KiB reads, D writes 32 MiB.
    let before: Vec<(u64, u64)> = heads
        .iter()
        .map(|h| io_done(lab, h))
        .collect::<Result<_>>()?;
    let mut reads = vec![];
    for h in &heads[..2] {
        reads.push((h.clone(), lab.start_read(h, 0, IMAGE, BLOCK, 1)?));
    }
    let (w_at, w_len) = (8 * CLUSTER, 8 * CLUSTER);
    let w_data = stamped(HEAD_SEED + 3, CLUSTER, BLOCK, w_at, w_len);
    let mut write = lab.start_write(&heads[2], w_at, &w_data, BLOCK, 1)?;
    poll("I/O to run on the three heads", HEAL_TIMEOUT, || {
        for (i, h) in heads.iter().enumerate() {
            let (r, w) = io_done(lab, h)?;
            let started = if i < 2 {
                r > before[i].0
            } else {
                w > before[i].1
            };
            if !started {
                return Ok(None);
            }
        }
        Ok(Some(()))
    })?;

    // B and C move; D still reads A's image, which can't be deleted.
    move_clone(lab, &heads[0], &new)?;
    move_clone(lab, &heads[1], &new)?;
    expect_readers(lab, &old, &heads[2..], "with lvsD/head not moved yet")?;
    let r = lab.tgt.rpc()?.call_timeout(
        &BdevLvolDelete {
            name: "lvsA/image".into(),
        },
        HANG_AFTER,
    );
    if let Err(e @ RpcError::Timeout { .. }) = &r {
        fail!("bdev_lvol_delete of lvsA/image, still read by lvsD/head, never answered ({e}; {ESNAP_PARENT_DELETE})");
    }
    expect_rpc_error(
        "bdev_lvol_delete of lvsA/image while lvsD/head reads it",
        r,
        code::INTERNAL_ERROR,
        BUSY,
    )?;
    move_clone(lab, &heads[2], &new)?;
    let mut ended = vec![];
    for (h, job) in reads.iter_mut() {
        if !job.running()? {
            ended.push(h.clone());
        }
    }
    if !write.running()? {
        ended.push(heads[2].clone());
    }
    ensure!(
        ended.is_empty(),
        "the I/O on {} ended before the last clone moved: the move did not run under I/O",
        ended.join(", ")
    );
    // How far each head's I/O had got when the last clone had moved.
    let mut done = vec![];
    for (i, h) in heads.iter().enumerate() {
        let (r, w) = io_done(lab, h)?;
        let (n, total) = if i < 2 {
            (r - before[i].0, IMAGE / BLOCK)
        } else {
            (w - before[i].1, w_len / BLOCK)
        };
        done.push(format!("{}%", n * 100 / total));
    }
    expect_readers(lab, &old, &[], "after the move")?;
    expect_readers(lab, &new, &heads, "after the move")?;

    // No I/O failed, and every byte read during the move is right.
    for (i, (h, job)) in reads.into_iter().enumerate() {
        let got = lab.finish_io(job)?.expect("a read gives bytes");
        expect_device(
            &s,
            &format!("{h}, read while the clones moved"),
            &got,
            &s.nodes[i + 1].model,
        )?;
    }
    lab.finish_io(write)?;
    let d = &mut s.nodes[3];
    d.model[w_at as usize..(w_at + w_len) as usize].copy_from_slice(&w_data);
    for c in w_at / CLUSTER..(w_at + w_len) / CLUSTER {
        if !d.own.contains(&c) {
            d.own.push(c);
        }
    }

    // Nothing reads A's image now: it goes (its own clone first).
    lab.unexport("lvsA/head")?;
    for name in ["lvsA/head", "lvsA/image"] {
        lab.tgt.ok(&BdevLvolDelete { name: name.into() })?;
    }
    s.nodes[0] = image_node(&s, "E");
    s.image_uuid = new.clone();
    check(lab, &s, "after the move")?;
    for how in [Restart::Graceful, Restart::Kill] {
        restart_healed(lab, &s, how)?;
    }
    Ok(format!(
        "3 clones moved to a verified copy on diskE under I/O (2 × {IMAGE_MIB} MiB of 4 KiB reads, \
         {} MiB of 4 KiB writes; {} of it done when the last clone had moved): no I/O error, bytes \
         intact; delete of the old image refused (-EBUSY) while 1 clone read it, accepted after; \
         intact after graceful and SIGKILL restarts",
        w_len / MIB,
        done.join("/")
    ))
}

/// Copies that differ from the image in one byte or in size are refused by
/// the flow before any clone moves, the other size also by the RPC itself;
/// the right copy is taken.
fn verify_copy(lab: &mut Lab) -> Result<String> {
    let mut s = build(lab, 3)?;
    check(lab, &s, "before the copies")?;
    let old = s.image_uuid.clone();
    let want = image_fingerprint(lab, &s)?;
    lab.create_lvstore("diskE", "lvsE", DISK_MIB)?;
    let mut bad = s.image.clone();
    let flipped = 9 * CLUSTER + 5 * BLOCK + 17;
    bad[flipped as usize] ^= 0x01;
    copy_image(lab, "lvsE", "bad-src", "bad", &bad)?;
    let mut long = s.image.clone();
    long.extend(stamped(IMAGE_SEED, CLUSTER, BLOCK, IMAGE, CLUSTER));
    let long_uuid = copy_image(lab, "lvsE", "long-src", "long", &long)?;
    let good = copy_image(lab, "lvsE", "head", "image", &s.image)?;

    let mut refused = vec![];
    for (copy, because) in [
        ("lvsE/bad", "the checksums of clusters [9] differ"),
        ("lvsE/long", "its size differs"),
    ] {
        let got = fingerprint(lab, copy)?;
        match copy_differs(&want, &got) {
            None => fail!("the flow took {copy} for a copy of lvsA/image"),
            Some(why) => {
                ensure!(
                    why.contains(because),
                    "the flow refused {copy} for another reason than expected ({because}): {why}"
                );
                refused.push(format!("{copy}: {why}"));
            }
        }
    }
    check(lab, &s, "after the refused copies")?;

    // The RPC refuses the other size by itself, and the clones stay.
    let einval = code::INVALID_PARAMS;
    for h in s.clones().map(|n| n.head.clone()).collect::<Vec<_>>() {
        let r = lab.tgt.call(&BdevLvolSetParentBdev {
            lvol_name: h.clone(),
            parent_name: long_uuid.clone(),
        });
        if r.is_ok() {
            fail!(
                "bdev_lvol_set_parent_bdev of {h} to lvsE/long ({} bytes, the image {IMAGE}) was accepted ({REPOINT_SIZE})",
                IMAGE + CLUSTER
            );
        }
        expect_rpc_error(
            &format!("bdev_lvol_set_parent_bdev of {h} to an image of another size"),
            r,
            einval,
            "Invalid argument",
        )?;
    }
    check(lab, &s, "after the refused re-points")?;

    // The right copy passes the flow and every clone moves to it.
    let got = fingerprint(lab, "lvsE/image")?;
    if let Some(why) = copy_differs(&want, &got) {
        fail!("the flow refused the right copy lvsE/image: {why}");
    }
    let heads: Vec<String> = s.clones().map(|n| n.head.clone()).collect();
    expect_readers(lab, &old, &heads, "before the move")?;
    for h in &heads {
        move_clone(lab, h, &good)?;
    }
    expect_readers(lab, &old, &[], "after the move")?;
    // The operator drops the refused copies.
    for name in ["lvsE/bad-src", "lvsE/bad", "lvsE/long-src", "lvsE/long"] {
        lab.unexport(name)?;
        lab.tgt.ok(&BdevLvolDelete { name: name.into() })?;
    }
    s.nodes[0] = image_node(&s, "E");
    s.image_uuid = good;
    check(lab, &s, "after the move")?;
    restart_healed(lab, &s, Restart::Graceful)?;
    Ok(format!(
        "refused by the flow: {}; the other size also by the RPC (-EINVAL) for {} clones; \
         the right copy taken, {} clones moved, intact after a restart",
        refused.join("; "),
        heads.len(),
        heads.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_of_another_head_is_named() {
        let node = |l: &str, model: Vec<u8>| Node {
            disk: format!("disk{l}"),
            lvs: format!("lvs{l}"),
            head: format!("lvs{l}/head"),
            model,
            own: vec![],
        };
        let image = stamped(IMAGE_SEED, CLUSTER, BLOCK, 0, 2 * CLUSTER);
        let s = Shared {
            nodes: vec![node("A", image.clone()), node("B", image.clone())],
            image: image.clone(),
            image_uuid: String::new(),
        };
        let mut got = image.clone();
        let at = (CLUSTER + 3 * BLOCK) as usize;
        got[at..at + BLOCK as usize].copy_from_slice(&stamped(
            HEAD_SEED + 1,
            CLUSTER,
            BLOCK,
            at as u64,
            BLOCK,
        ));
        let e = expect_device(&s, "lvsA/head", &got, &image)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("holds cluster 1 block 3 of the writes of lvsB/head")
                && e.contains("expected cluster 1 block 3 of the backing image"),
            "{e}"
        );
        assert!(expect_device(&s, "lvsA/head", &image, &image).is_ok());
    }

    #[test]
    fn every_order_once() {
        let p = permutations(&["A", "B", "C"]);
        assert_eq!(p.len(), 6);
        let mut q = p.clone();
        q.sort();
        q.dedup();
        assert_eq!(q.len(), 6);
        assert!(p.iter().all(|o| o.len() == 3));
    }
}
