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
//! refused delete of the image (patches/master 0011, also proved by
//! `busy_delete_esnap_parent` with one clone); a refused detach of an esnap
//! clone (patches/master 0001-0003, also in `detach_bad_input`).

use crate::data::{expect_bytes, stamp_of, stamped};
use crate::error::{Error, Result};
use crate::lab::{Lab, Restart, BLOCK, CLUSTER, MIB};
use crate::outcome::{Scenario, ESNAP_PARENT_DELETE, ESNAP_PARENT_REMOVAL};
use crate::steps::{expect_rpc_error, log_line, poll, snapshot, thin_lvol, BUSY, HANG_AFTER};
use crate::{ensure, ensure_eq, fail};
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
    let img = lab.lvol("lvsA/image")?;
    ensure!(
        img.is_snapshot && !img.is_degraded,
        "{when}: lvsA/image must be a healthy snapshot"
    );
    ensure_eq!(
        img.allocated(),
        IMAGE_CLUSTERS,
        "{when}: clusters of lvsA/image"
    );
    ensure_eq!(
        img.uuid.as_str(),
        s.image_uuid.as_str(),
        "{when}: uuid of lvsA/image"
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
                "{when}: parent of lvsA/head"
            );
        } else {
            ensure!(l.is_esnap_clone, "{when}: {} is not an esnap clone", n.head);
            ensure_eq!(
                d.external_snapshot_name.as_deref(),
                Some(s.image_uuid.as_str()),
                "{when}: external snapshot of {}",
                n.head
            );
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
    let (mut conn, pending) = lab.start_remove_disk("diskA")?;
    let t0 = Instant::now();
    match conn.wait(pending, REMOVE_TIMEOUT) {
        Ok(v) => ensure_eq!(v, serde_json::Value::Bool(true), "bdev_aio_delete of diskA"),
        Err(RpcError::Timeout { .. }) => return Err(removal_hangs(lab, &s)),
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

/// Patch 0011 in the multi-disk setup (see also `busy_delete_esnap_parent`).
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
