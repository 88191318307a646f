//! The inspector against stores written by real `spdk_tgt` runs: what it
//! reads from the file after a graceful stop or a SIGKILL must be what the
//! RPCs reported before the stop (and what the target reports again after
//! the restart); detach, delete and a refused delete must show on disk; a
//! truncated or corrupted image must be refused with a clear error; mutated
//! real images must never make the parser panic.

use lvs_inspect::{Alloc, Blob, Parent, Store, Value};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serial_test::file_serial;
use spdk_harness::data::pattern;
use spdk_harness::lab::{Lab, Restart, MIB};
use spdk_harness::offline::{check_lvstore, store};
use spdk_harness::{ensure, ensure_eq, Error, Result};
use spdk_rpc::methods::*;

/// Run `f` in a fresh lab; a failure panics with the check's message.
fn in_lab(f: impl FnOnce(&mut Lab) -> Result<()>) {
    let mut lab = Lab::new().unwrap_or_else(|e| panic!("lab: {e}"));
    if let Err(e) = f(&mut lab) {
        panic!("{e}");
    }
}

fn lvstore(lab: &mut Lab, disk: &str, mib: u64, cluster: u64) -> Result<()> {
    let bdev = lab.add_disk(disk, mib)?;
    lab.tgt.ok(&BdevLvolCreateLvstore {
        bdev_name: bdev,
        lvs_name: "lvs0".into(),
        cluster_sz: Some(cluster as u32),
        clear_method: None,
    })?;
    Ok(())
}

fn lvol(lab: &mut Lab, name: &str, mib: u64, thin: bool) -> Result<()> {
    lab.tgt.ok(&BdevLvolCreate {
        lvol_name: name.into(),
        size_in_mib: mib,
        thin_provision: thin,
        lvs_name: "lvs0".into(),
        clear_method: None,
    })?;
    Ok(())
}

fn snapshot(lab: &mut Lab, lvol: &str, name: &str) -> Result<()> {
    lab.tgt.ok(&BdevLvolSnapshot {
        lvol_name: format!("lvs0/{lvol}"),
        snapshot_name: name.into(),
        ..Default::default()
    })?;
    Ok(())
}

fn clone(lab: &mut Lab, snap: &str, name: &str) -> Result<()> {
    lab.tgt.ok(&BdevLvolClone {
        snapshot_name: format!("lvs0/{snap}"),
        clone_name: name.into(),
    })?;
    Ok(())
}

/// 64 KiB of data into cluster `cluster` of `lvs0/<lvol>`.
fn write_cluster(lab: &mut Lab, lvol: &str, cluster: u64, size: u64, seed: u64) -> Result<()> {
    lab.write(
        &format!("lvs0/{lvol}"),
        cluster * size + 8192,
        &pattern(seed, 64 * 1024),
    )
}

/// Every kind of lvol on lvs0 (cluster size `cs`), plus disk "ext" for an
/// esnap clone:
/// - `thick`, 8 MiB, thick provisioned, then a graceful restart (the masks
///   on disk now hold thick's clusters and nothing that comes after);
/// - `vol`, thin, data in clusters 0 and 2 → snapshot `snap` (read-only,
///   owns those clusters) → `clone` of snap with data in cluster 1;
/// - `esc`, an esnap clone of the AIO bdev `ext`, data in cluster 1.
fn every_kind(lab: &mut Lab, cs: u64) -> Result<()> {
    lvstore(lab, "disk0", 256, cs)?;
    lvol(lab, "thick", 8, false)?;
    lab.restart(Restart::Graceful)?;
    lvol(lab, "vol", 64, true)?;
    write_cluster(lab, "vol", 0, cs, 1)?;
    write_cluster(lab, "vol", 2, cs, 2)?;
    snapshot(lab, "vol", "snap")?;
    clone(lab, "snap", "clone")?;
    write_cluster(lab, "clone", 1, cs, 3)?;
    let ext = lab.add_disk("ext", 16)?;
    lab.tgt.ok(&BdevLvolCloneBdev {
        bdev: ext,
        lvs_name: "lvs0".into(),
        clone_name: "esc".into(),
    })?;
    write_cluster(lab, "esc", 1, cs, 4)?;
    Ok(())
}

/// What the RPCs say about lvs0 and its lvols.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    lvs: LvstoreInfo,
    lvols: Vec<(LvolInfo, LvolDriverInfo)>,
}

fn seen(lab: &mut Lab) -> Result<Seen> {
    let lvs = lab.lvstore("lvs0")?;
    let mut lvols = vec![];
    for l in lab.lvols()? {
        let d = lab.lvol_bdev(&l.alias)?;
        lvols.push((l, d));
    }
    lvols.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    Ok(Seen { lvs, lvols })
}

fn bdev_uuid(lab: &mut Lab, name: &str) -> Result<String> {
    let b = lab.tgt.ok(&BdevGetBdevs {
        name: Some(name.into()),
        timeout: None,
    })?;
    b.first()
        .and_then(|b| b.uuid.clone())
        .ok_or_else(|| Error::Check(format!("bdev {name} has no uuid")))
}

/// The store on disk says what the RPCs said before the stop.
fn check_disk(s: &Store, seen: &Seen, when: &str) -> Result<()> {
    ensure!(
        s.findings.is_empty(),
        "{when}: the inspector found gaps on disk:\n{}",
        lvs_inspect::report::table(s)
    );
    ensure_eq!(
        s.lvstore_name(),
        Some("lvs0"),
        "{when}: lvstore name in the super blob"
    );
    ensure_eq!(
        s.lvstore_uuid(),
        Some(seen.lvs.uuid.as_str()),
        "{when}: lvstore uuid in the super blob"
    );
    ensure_eq!(
        u64::from(s.super_block.cluster_size),
        seen.lvs.cluster_size,
        "{when}: cluster size in the super block"
    );
    ensure_eq!(
        s.clusters.data,
        seen.lvs.total_data_clusters,
        "{when}: data clusters (super block) against total_data_clusters"
    );
    check_lvstore(
        &seen.lvs,
        seen.lvols.iter().map(|(l, d)| (l, Some(d))),
        s,
        when,
    )
}

/// Check a store of [`every_kind`] after a restart of kind `how`.
fn every_kind_then_restart(cs: u64, how: Restart) {
    in_lab(|lab| {
        every_kind(lab, cs)?;
        let before = seen(lab)?;
        let ext_uuid = bdev_uuid(lab, "ext")?;
        let when = format!("{} MiB clusters, after {how:?}", cs / MIB);
        lab.restart_inspecting(how, |stores| {
            let s = store(stores, "disk0")?;
            check_disk(s, &before, &when)?;
            ensure_eq!(
                s.super_block.clean,
                how == Restart::Graceful,
                "{when}: the super block's clean flag"
            );
            ensure_eq!(s.clean, how == Restart::Graceful, "{when}: clean");
            let esc = s.blob_by_name("esc").expect("checked against the RPCs");
            ensure_eq!(
                &esc.parent,
                &Parent::External {
                    id: ext_uuid.clone()
                },
                "{when}: esc's external snapshot is the ext bdev"
            );
            let thick = s.blob_by_name("thick").expect("checked");
            ensure_eq!(
                thick.allocated.len() as u64,
                8 * MIB / cs,
                "{when}: a thick lvol owns all its clusters"
            );
            let snap = s.blob_by_name("snap").expect("checked");
            let vol = s.blob_by_name("vol").expect("checked");
            ensure_eq!(
                snap.allocated.iter().map(|a| a.blob).collect::<Vec<_>>(),
                vec![0, 2],
                "{when}: the snapshot owns the clusters vol wrote before it"
            );
            ensure!(
                vol.allocated.is_empty(),
                "{when}: vol wrote nothing after the snapshot: {:?}",
                vol.allocated
            );
            match (&s.masks, how) {
                (Some(m), Restart::Graceful | Restart::Exiting) => {
                    ensure!(m.trusted, "{when}: a clean store's masks are checked");
                    ensure_eq!(
                        m.used_clusters,
                        s.clusters.metadata + s.clusters.used,
                        "{when}: used cluster mask"
                    );
                }
                (Some(m), Restart::Kill) => {
                    // The masks on disk are from the restart after `thick`;
                    // the other blobs came later: only their metadata knows them.
                    ensure!(!m.trusted, "{when}: stale masks must not be trusted");
                    ensure!(
                        m.used_clusters < s.clusters.metadata + s.clusters.used,
                        "{when}: expected the stale mask to miss clusters ({} used in the mask, {} from the blobs)",
                        m.used_clusters,
                        s.clusters.metadata + s.clusters.used
                    );
                }
                (None, _) => {
                    return Err(Error::Check(format!("{when}: the masks were not read")));
                }
            }
            let _ = lvs_inspect::report::table(s);
            serde_json::to_string(s).map_err(|e| Error::Check(format!("JSON: {e}")))?;
            Ok(())
        })?;
        // The lab attaches AIO bdevs again with the uuid they had, the one
        // esc's EXTSNAP names (checked on disk above): esc is not degraded.
        ensure_eq!(
            bdev_uuid(lab, "ext")?,
            ext_uuid,
            "{when}: uuid of ext after the restart"
        );
        lab.wait_bdev("lvs0/esc", std::time::Duration::from_secs(10))?;
        ensure!(
            !lab.lvol("lvs0/esc")?.is_degraded,
            "{when}: esc must find its external snapshot after the restart"
        );
        let after = seen(lab)?;
        ensure_eq!(
            after,
            before,
            "{when}: what the target reports after the restart"
        );
        Ok(())
    });
}

#[test]
#[file_serial(spdk_target)]
fn inspect_every_kind_of_lvol_after_a_graceful_stop_4mib_clusters() {
    every_kind_then_restart(4 * MIB, Restart::Graceful);
}

#[test]
#[file_serial(spdk_target)]
fn inspect_every_kind_of_lvol_after_sigkill_1mib_clusters() {
    every_kind_then_restart(MIB, Restart::Kill);
}

#[test]
#[file_serial(spdk_target)]
fn inspect_every_kind_of_lvol_after_a_graceful_stop_1mib_clusters() {
    every_kind_then_restart(MIB, Restart::Graceful);
}

#[test]
#[file_serial(spdk_target)]
fn inspect_every_kind_of_lvol_after_sigkill_4mib_clusters() {
    every_kind_then_restart(4 * MIB, Restart::Kill);
}

fn blob<'a>(s: &'a Store, name: &str, when: &str) -> Result<&'a Blob> {
    s.blob_by_name(name).ok_or_else(|| {
        Error::Check(format!(
            "{when}: no blob named {name} on disk:\n{}",
            lvs_inspect::report::table(s)
        ))
    })
}

/// Detach: no parent link left on disk (no internal SNAP xattr), the same
/// device clusters, and the snapshot no longer has the clone; after SIGKILL
/// (read from the blob's own metadata) and after a graceful stop.
#[test]
#[file_serial(spdk_target)]
fn inspect_detach_leaves_no_parent_link_on_disk_and_the_same_clusters() {
    in_lab(|lab| {
        let cs = 4 * MIB;
        lvstore(lab, "disk0", 256, cs)?;
        lvol(lab, "vol", 64, true)?;
        write_cluster(lab, "vol", 0, cs, 10)?;
        write_cluster(lab, "vol", 2, cs, 12)?;
        snapshot(lab, "vol", "snap")?;
        clone(lab, "snap", "clone")?;
        write_cluster(lab, "clone", 1, cs, 11)?;
        let seen_before = seen(lab)?;
        let before: (Vec<Alloc>, u64) = lab.restart_inspecting(Restart::Graceful, |st| {
            let s = store(st, "disk0")?;
            check_disk(s, &seen_before, "before detach")?;
            let c = blob(s, "clone", "before detach")?;
            let snap = blob(s, "snap", "before detach")?;
            ensure_eq!(
                &c.parent,
                &Parent::Blob { id: snap.id },
                "before detach: parent of clone on disk"
            );
            ensure!(
                c.internal_xattr("SNAP").is_some(),
                "before detach: clone has its SNAP xattr"
            );
            Ok((c.allocated.clone(), c.id))
        })?;
        ensure!(
            lab.tgt.ok(&BdevLvolDetachParent {
                name: "lvs0/clone".into()
            })?,
            "bdev_lvol_detach_parent must return true"
        );
        let seen_after = seen(lab)?;
        let check = |st: &[(String, Store)], when: &str| -> Result<()> {
            let s = store(st, "disk0")?;
            check_disk(s, &seen_after, when)?;
            let c = blob(s, "clone", when)?;
            ensure_eq!(c.id, before.1, "{when}: blob id of clone");
            ensure_eq!(&c.parent, &Parent::None, "{when}: parent of clone on disk");
            ensure!(
                c.internal_xattr("SNAP").is_none() && c.internal_xattr("EXTSNAP").is_none(),
                "{when}: the clone still carries a parent xattr: {:?}",
                c.xattrs
            );
            ensure!(!c.clone, "{when}: clone is still a clone on disk");
            ensure!(c.thin, "{when}: clone stays thin");
            ensure_eq!(
                &c.allocated,
                &before.0,
                "{when}: the clone's clusters (blob:disk) must not move"
            );
            let snap = blob(s, "snap", when)?;
            let vol = blob(s, "vol", when)?;
            ensure_eq!(
                &snap.clones,
                &vec![vol.id],
                "{when}: clones of snap on disk (only vol)"
            );
            Ok(())
        };
        lab.restart_inspecting(Restart::Kill, |st| {
            check(st, "after detach and SIGKILL")?;
            ensure!(
                !store(st, "disk0")?.clean,
                "after detach and SIGKILL the store must be dirty"
            );
            Ok(())
        })?;
        ensure_eq!(seen(lab)?, seen_after, "after the SIGKILL restart");
        lab.restart_inspecting(Restart::Graceful, |st| {
            ensure!(
                store(st, "disk0")?.clean,
                "after a graceful stop the store is clean"
            );
            check(st, "after detach and a graceful stop")
        })?;
        ensure_eq!(seen(lab)?, seen_after, "after the graceful restart");
        Ok(())
    });
}

/// A refused delete leaves the blob on disk; a delete removes the blob, and
/// none of its clusters is in use any more, in the per-blob maps (SIGKILL) or
/// in the masks (graceful).
#[test]
#[file_serial(spdk_target)]
fn inspect_delete_frees_the_blob_on_disk_and_a_refused_one_keeps_it() {
    in_lab(|lab| {
        let cs = MIB;
        lvstore(lab, "disk0", 256, cs)?;
        lvol(lab, "vol", 64, true)?;
        write_cluster(lab, "vol", 3, cs, 20)?;
        snapshot(lab, "vol", "snap")?;
        clone(lab, "snap", "c2")?;
        lvol(lab, "doomed", 16, false)?;
        let seen0 = seen(lab)?;
        let doomed: Vec<u32> = lab.restart_inspecting(Restart::Graceful, |st| {
            let s = store(st, "disk0")?;
            check_disk(s, &seen0, "before the deletes")?;
            let d = blob(s, "doomed", "before the deletes")?;
            ensure_eq!(d.allocated.len() as u64, 16, "clusters of thick doomed");
            ensure!(
                d.disk_clusters().iter().all(|&c| s.cluster_in_use(c)),
                "doomed's clusters are in use"
            );
            Ok(d.disk_clusters())
        })?;

        // snap has two clones (vol and c2): lvol refuses to delete it.
        let r = lab.tgt.call(&BdevLvolDelete {
            name: "lvs0/snap".into(),
        });
        match r {
            Err(e) if e.message().is_some_and(|m| m.contains("Operation not permitted")) => {}
            other => {
                return Err(Error::Check(format!(
                    "deleting a snapshot with two clones: expected \"Operation not permitted\", got {other:?}"
                )))
            }
        }
        lab.tgt.ok(&BdevLvolDelete {
            name: "lvs0/doomed".into(),
        })?;
        let seen1 = seen(lab)?;
        ensure!(
            seen1.lvols.iter().any(|(l, _)| l.name == "snap"),
            "the RPCs still list snap after the refused delete"
        );
        let check = |st: &[(String, Store)], when: &str| -> Result<()> {
            let s = store(st, "disk0")?;
            check_disk(s, &seen1, when)?;
            let snap = blob(s, "snap", when)?;
            ensure_eq!(
                snap.clones.len(),
                2,
                "{when}: snap keeps both clones on disk"
            );
            ensure_eq!(
                snap.allocated.len(),
                1,
                "{when}: snap keeps its cluster on disk"
            );
            ensure!(
                s.blob_by_name("doomed").is_none(),
                "{when}: deleted lvol doomed is still on disk"
            );
            let still: Vec<u32> = doomed
                .iter()
                .copied()
                .filter(|&c| s.cluster_in_use(c))
                .collect();
            ensure!(
                still.is_empty(),
                "{when}: clusters {still:?} of the deleted lvol are still in use"
            );
            if let Some(m) = s.masks.as_ref().filter(|m| m.trusted) {
                let marked: Vec<u32> = doomed
                    .iter()
                    .copied()
                    .filter(|c| m.clusters.contains(c))
                    .collect();
                ensure!(
                    marked.is_empty(),
                    "{when}: the used cluster mask still marks {marked:?} of the deleted lvol"
                );
            }
            Ok(())
        };
        lab.restart_inspecting(Restart::Kill, |st| {
            check(st, "after the deletes and SIGKILL")
        })?;
        ensure_eq!(seen(lab)?, seen1, "after the SIGKILL restart");
        lab.restart_inspecting(Restart::Graceful, |st| {
            ensure!(
                store(st, "disk0")?
                    .masks
                    .as_ref()
                    .is_some_and(|m| m.trusted),
                "after a graceful stop the masks are checked"
            );
            check(st, "after the deletes and a graceful stop")
        })?;
        ensure_eq!(seen(lab)?, seen1, "after the graceful restart");
        Ok(())
    });
}

/// The bytes of a small real store, after a graceful stop and after SIGKILL.
/// The target is stopped and dropped when this returns.
fn real_images() -> (Vec<u8>, Vec<u8>) {
    let mut out = (vec![], vec![]);
    in_lab(|lab| {
        let cs = MIB;
        lvstore(lab, "disk0", 32, cs)?;
        lvol(lab, "thick", 2, false)?;
        lvol(lab, "vol", 16, true)?;
        write_cluster(lab, "vol", 0, cs, 30)?;
        snapshot(lab, "vol", "snap")?;
        clone(lab, "snap", "clone")?;
        write_cluster(lab, "clone", 2, cs, 31)?;
        let file = lab.disks()[0].file.clone().expect("an AIO disk");
        let read = || std::fs::read(&file).map_err(|e| Error::Check(format!("read image: {e}")));
        lab.stop_target(Restart::Graceful)?;
        out.0 = read()?;
        lab.start_target()?;
        lvol(lab, "late", 4, false)?;
        lab.stop_target(Restart::Kill)?;
        out.1 = read()?;
        Ok(())
    });
    out
}

fn must_fail(img: &[u8], what: &str, want: &str) {
    match Store::read(img) {
        Ok(s) => panic!(
            "{what}: expected an error containing {want:?}, the image read fine:\n{}",
            lvs_inspect::report::table(&s)
        ),
        Err(e) => assert!(
            e.to_string().contains(want),
            "{what}: expected an error containing {want:?}, got: {e}"
        ),
    }
}

fn fix_crc(img: &mut [u8], off: usize) {
    let page: &[u8; 4096] = img[off..off + 4096].try_into().unwrap();
    let crc = lvs_inspect::page_crc(page);
    img[off + 4092..off + 4096].copy_from_slice(&crc.to_le_bytes());
}

/// Byte offset of md page `p` of the store.
fn md_off(s: &Store, p: u32) -> usize {
    ((u64::from(s.super_block.md.start) + u64::from(p)) * u64::from(s.super_block.md_page_size))
        as usize
}

/// Truncated or corrupted images: a clear error (which structure, where,
/// why), never a panic; a lost head page on a clean store is a finding.
#[test]
#[file_serial(spdk_target)]
fn inspect_refuses_truncated_or_corrupted_images_with_a_clear_error() {
    let (clean, dirty) = real_images();
    for (label, img) in [("clean", &clean), ("dirty", &dirty)] {
        let s = Store::read(img.as_slice()).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert!(s.findings.is_empty(), "{label}: {:?}", s.findings);
        assert_eq!(s.clean, label == "clean");
        assert!(s.blob_by_name("thick").is_some(), "{label}");
    }
    let s = Store::read(clean.as_slice()).unwrap();
    let late = Store::read(dirty.as_slice()).unwrap();
    assert!(
        late.blob_by_name("late").is_some(),
        "the SIGKILL image has late"
    );
    assert!(s.blob_by_name("late").is_none());

    // Through a file, truncated at several points.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("img");
    for (len, want) in [
        (0usize, "the super block"),
        (100, "the super block needs bytes 0..4096"),
        (4096, "the blobstore (33554432 bytes, per its super block)"),
        (
            clean.len() - 4096,
            "the blobstore (33554432 bytes, per its super block)",
        ),
    ] {
        std::fs::write(&path, &clean[..len]).unwrap();
        match Store::open(&path) {
            Ok(_) => panic!("an image truncated to {len} bytes read fine"),
            Err(e) => {
                let m = e.to_string();
                assert!(m.contains("truncated image"), "{len}: {m}");
                assert!(m.contains(want), "{len}: expected {want:?} in {m}");
            }
        }
    }
    match Store::open(dir.path().join("missing")) {
        Err(lvs_inspect::Error::Io { .. }) => {}
        other => panic!("a missing file: {other:?}"),
    }

    let mut img = clean.clone();
    img[0..8].copy_from_slice(b"NOTSPDK!");
    must_fail(&img, "bad signature", "not a blobstore");

    let mut img = clean.clone();
    img[28] ^= 0x10; // cluster_size
    must_fail(&img, "super block bit flip", "super block: crc mismatch");

    let mut img = clean.clone();
    img[28..32].copy_from_slice(&3u32.to_le_bytes());
    fix_crc(&mut img, 0);
    must_fail(
        &img,
        "cluster size 3 (crc fixed)",
        "bad super block: cluster size 3",
    );

    let vol = s.blob_by_name("snap").unwrap();
    let ep = vol.extent_pages[0];
    let mut img = clean.clone();
    img[md_off(&s, ep) + 100] ^= 1;
    must_fail(
        &img,
        "extent page bit flip",
        &format!("extent page {ep} of blob {:#x}: crc mismatch", vol.id),
    );

    // An xattr descriptor that claims more than the page holds (crc fixed).
    let thick = s.blob_by_name("thick").unwrap();
    let head = md_off(&s, thick.md_pages[0]);
    let mut img = clean.clone();
    let mut at = 16;
    while img[head + at] != 2 {
        let len = u32::from_le_bytes(img[head + at + 1..head + at + 5].try_into().unwrap());
        at += 5 + len as usize;
    }
    img[head + at + 1..head + at + 5].copy_from_slice(&5000u32.to_le_bytes());
    fix_crc(&mut img, head);
    must_fail(&img, "overlong xattr", "past the end of the page");

    // A head page lost on a clean store: the blob id mask still lists it.
    let mut img = clean.clone();
    img[head + 200] ^= 1;
    let r = Store::read(img.as_slice()).expect("a lost head is not a read error");
    assert!(r.blob_by_name("thick").is_none());
    let f: Vec<String> = r.findings.iter().map(|f| f.to_string()).collect();
    assert!(
        f.iter().any(|f| f.contains(&format!(
            "the used blob id mask marks md page(s) {} that no blob's metadata uses",
            thick.md_pages[0]
        ))),
        "{f:?}"
    );
}

/// A change to an image: xor a byte, or write a little-endian u32 (lengths,
/// counts, indexes and ids are u32 fields, often unaligned).
#[derive(Debug, Clone, Copy)]
enum Mutation {
    Xor(u8),
    Put32(u32),
}

/// u32 values that sit on the parser's boundaries more often than chance.
fn interesting_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        Just(u32::MAX),
        Just(u32::MAX - 1),
        0u32..64,
        4000u32..4100,
        Just(1 << 31),
        any::<u32>(),
    ]
}

/// Mutations of real images (clean and SIGKILLed), aimed mostly at the pages
/// that hold metadata (super block, masks, blob md and extent pages), with
/// the crc of a mutated page fixed up half of the time so the parser gets
/// past it: never a panic; a store that reads renders as a table and as
/// JSON, and its clusters are in range.
#[test]
#[file_serial(spdk_target)]
fn inspect_never_panics_on_mutated_real_images() {
    let (clean, dirty) = real_images();
    let s = Store::read(clean.as_slice()).unwrap();
    let fields = field_offsets(&clean, &s);
    let meta_end = md_off(&s, s.super_block.md.len);
    // Most mutations hit a field (a descriptor's type or length, an xattr's
    // name or value length, a page's id, sequence or next, a super block or
    // mask header field), the rest any byte of the metadata.
    let at = prop_oneof![
        3 => proptest::sample::select(fields),
        1 => 0..meta_end - 4,
    ];
    let one = (
        at,
        prop_oneof![
            (1u8..=255).prop_map(Mutation::Xor),
            interesting_u32().prop_map(Mutation::Put32),
        ],
        any::<bool>(),
    );
    let case = (0usize..2, proptest::collection::vec(one, 1..6));
    // Mutated in place and restored: copying 32 MiB per case would dominate.
    let images = std::cell::RefCell::new([clean, dirty]);
    let mut runner = TestRunner::new(Config {
        cases: 4000,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&case, |(which, muts)| {
            let mut all = images.borrow_mut();
            let img = &mut all[which];
            // A u32 may straddle two pages: save both.
            let saved: Vec<(usize, [u8; 8192])> = muts
                .iter()
                .map(|&(at, ..)| {
                    let page = at / 4096 * 4096;
                    (page, img[page..page + 8192].try_into().unwrap())
                })
                .collect();
            for &(at, m, fix) in &muts {
                match m {
                    Mutation::Xor(x) => img[at] ^= x,
                    Mutation::Put32(v) => img[at..at + 4].copy_from_slice(&v.to_le_bytes()),
                }
                if fix {
                    fix_crc(img, at / 4096 * 4096);
                }
            }
            let r =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inspect_and_render(img)));
            for (page, bytes) in saved.into_iter().rev() {
                img[page..page + 8192].copy_from_slice(&bytes);
            }
            r.map_err(|_| TestCaseError::fail("the parser panicked"))?
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let images = images.into_inner();
    let trunc = 0usize..images[0].len();
    runner
        .run(&trunc, |len| inspect_and_render(&images[0][..len]))
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Byte offsets of the fields a parser trusts, in a real image: the super
/// block's, the mask headers', and in every md and extent page of a blob its
/// id, sequence number, next, and each descriptor's type, length and
/// (xattrs) name and value lengths, (extent tables) cluster count.
fn field_offsets(img: &[u8], s: &Store) -> Vec<usize> {
    let mut v: Vec<usize> = (0..100).step_by(4).chain([4092]).collect();
    for r in [
        s.super_block.used_page_mask,
        s.super_block.used_cluster_mask,
        s.super_block.used_blobid_mask,
    ] {
        let o = r.start as usize * s.super_block.md_page_size as usize;
        v.extend([o, o + 1]);
    }
    for b in &s.blobs {
        for &p in b.md_pages.iter().chain(&b.extent_pages) {
            let o = md_off(s, p);
            v.extend([o, o + 8, o + 4088]);
            let mut cur = 0usize;
            while cur + 5 <= 4072 {
                let at = o + 16 + cur;
                let len = u32::from_le_bytes(img[at + 1..at + 5].try_into().unwrap()) as usize;
                if img[at] == 0 && len == 0 {
                    v.extend([at, at + 1]);
                    break;
                }
                v.extend([at, at + 1, at + 5, at + 7]);
                cur += 5 + len;
            }
        }
    }
    v
}

fn inspect_and_render(img: &[u8]) -> std::result::Result<(), TestCaseError> {
    let Ok(s) = Store::read(img) else {
        return Ok(());
    };
    let _ = lvs_inspect::report::table(&s);
    serde_json::to_string(&s).map_err(|e| TestCaseError::fail(format!("JSON: {e}")))?;
    for b in &s.blobs {
        for a in &b.allocated {
            prop_assert!(u64::from(a.disk) < s.clusters.total, "cluster out of range");
            prop_assert!(a.blob < b.num_clusters, "blob cluster past its size");
        }
        for x in &b.xattrs {
            if let Value::Checksum(_) = x.value {
                prop_assert_eq!(x.raw.len(), 8);
            }
        }
    }
    Ok(())
}

/// Behind the NVMe driver (the nightly's PCIe disks, rehearsed here with
/// NVMe-oF/TCP), a restart's inspection reads the metadata through the
/// driver with spdk_dd, and that read must equal the exporter's file (a
/// difference fails the restart). After a SIGKILL and a graceful stop, the
/// store read that way holds the lvols the target listed.
#[test]
#[file_serial(spdk_target)]
fn inspect_reads_nvme_disks_through_the_driver_as_their_file_holds() {
    let mut lab =
        Lab::with_base(spdk_harness::lab::BaseKind::NvmfTcp).unwrap_or_else(|e| panic!("lab: {e}"));
    let run = |lab: &mut Lab| -> Result<()> {
        let cs = 4 * MIB;
        lvstore(lab, "disk0", 128, cs)?;
        lvol(lab, "vol", 16, true)?;
        write_cluster(lab, "vol", 0, cs, 30)?;
        snapshot(lab, "vol", "snap")?;
        clone(lab, "snap", "clone")?;
        write_cluster(lab, "clone", 1, cs, 31)?;
        for how in [Restart::Kill, Restart::Graceful] {
            let dump = lab.dir().join("disk0.metadata.img");
            let _ = std::fs::remove_file(&dump);
            let names = lab.restart_inspecting(how, |stores| {
                let s = store(stores, "disk0")?;
                let mut names: Vec<String> = s
                    .blobs
                    .iter()
                    .filter(|b| !b.super_blob)
                    .filter_map(|b| b.name().map(String::from))
                    .collect();
                names.sort();
                Ok(names)
            })?;
            ensure!(
                dump.exists(),
                "after a {how:?} restart: the inspection did not read disk0 through the NVMe driver"
            );
            ensure_eq!(
                names,
                vec!["clone".to_string(), "snap".into(), "vol".into()],
                "after a {how:?} restart: the lvols on disk0 read through the driver"
            );
        }
        Ok(())
    };
    if let Err(e) = run(&mut lab) {
        panic!("{e}");
    }
}
