//! The CLI and the parser on small images built here byte by byte, where a
//! real target can't be made to write what is wanted (a checksum xattr, a
//! leaked cluster in a clean store's mask).

use lvs_inspect::layout::{desc, flags, page, sb, BLOBID_HIGH_BIT, PAGE_SIZE};
use lvs_inspect::{page_crc, Parent, Store, Value};
use std::process::Command;

const CLUSTER: usize = 64 * 1024;
const CLUSTERS: usize = 16;
const MD_START: usize = 4;
const MD_LEN: usize = 16;
const CHECKSUM: u64 = 0x0123_4567_89ab_cdef;

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn seal(img: &mut [u8], off: usize) {
    let p: &[u8; PAGE_SIZE] = img[off..off + PAGE_SIZE].try_into().unwrap();
    let crc = page_crc(p);
    put32(img, off + page::CRC, crc);
}

/// One md page of blob `idx` with these descriptors (type, body).
fn md_page(img: &mut [u8], idx: usize, descs: &[(u8, Vec<u8>)]) {
    let off = (MD_START + idx) * PAGE_SIZE;
    put64(img, off + page::ID, BLOBID_HIGH_BIT | idx as u64);
    put32(img, off + page::NEXT, page::INVALID);
    let mut at = off + page::DESCRIPTORS;
    for (ty, body) in descs {
        img[at] = *ty;
        put32(img, at + 1, body.len() as u32);
        img[at + 5..at + 5 + body.len()].copy_from_slice(body);
        at += 5 + body.len();
    }
    seal(img, off);
}

fn xattr(name: &str, value: &[u8]) -> (u8, Vec<u8>) {
    let mut b = vec![];
    b.extend((name.len() as u16).to_le_bytes());
    b.extend((value.len() as u16).to_le_bytes());
    b.extend(name.as_bytes());
    b.extend(value);
    (desc::XATTR, b)
}

fn flags_desc(invalid: u64) -> (u8, Vec<u8>) {
    let mut b = vec![0u8; 24];
    put64(&mut b, 0, invalid);
    (desc::FLAGS, b)
}

fn mask(img: &mut [u8], page_idx: usize, ty: u8, bits: u32, set: &[u32]) {
    let off = page_idx * PAGE_SIZE;
    img[off] = ty;
    put32(img, off + 1, bits);
    for &b in set {
        img[off + 5 + b as usize / 8] |= 1 << (b % 8);
    }
}

/// A clean 1 MiB store of 64 KiB clusters: the super blob (lvstore "lvs")
/// and a thin lvol "v" with clusters 0 → 2 and 2-3 → 5-6 and a checksum.
fn image(clean: bool, extra_used_cluster: Option<u32>) -> Vec<u8> {
    image_with(clean, extra_used_cluster, vec![])
}

/// The same, with more descriptors in the lvol's md page.
fn image_with(
    clean: bool,
    extra_used_cluster: Option<u32>,
    v_extra: Vec<(u8, Vec<u8>)>,
) -> Vec<u8> {
    let mut img = vec![0u8; CLUSTER * CLUSTERS];
    img[..8].copy_from_slice(b"SPDKBLOB");
    put32(&mut img, sb::VERSION, 3);
    put32(&mut img, sb::LENGTH, PAGE_SIZE as u32);
    put32(&mut img, sb::CLEAN, clean as u32);
    put64(&mut img, sb::SUPER_BLOB, BLOBID_HIGH_BIT);
    put32(&mut img, sb::CLUSTER_SIZE, CLUSTER as u32);
    for (s, l, v) in [
        (sb::USED_PAGE_MASK_START, sb::USED_PAGE_MASK_LEN, 1),
        (sb::USED_CLUSTER_MASK_START, sb::USED_CLUSTER_MASK_LEN, 2),
        (sb::USED_BLOBID_MASK_START, sb::USED_BLOBID_MASK_LEN, 3),
        (sb::MD_START, sb::MD_LEN, MD_START as u32),
    ] {
        put32(&mut img, s, v);
        put32(
            &mut img,
            l,
            if v == MD_START as u32 {
                MD_LEN as u32
            } else {
                1
            },
        );
    }
    img[sb::BSTYPE..sb::BSTYPE + 9].copy_from_slice(b"LVOLSTORE");
    put64(&mut img, sb::SIZE, (CLUSTER * CLUSTERS) as u64);
    put32(&mut img, sb::IO_UNIT_SIZE, 4096);
    put32(&mut img, sb::MD_PAGE_SIZE, 4096);
    seal(&mut img, 0);

    let uuid = b"8a2b5c8e-2a55-4bd2-9d6c-1f1e0c6a7b10\0";
    md_page(
        &mut img,
        0,
        &[flags_desc(0), xattr("uuid", uuid), xattr("name", b"lvs\0")],
    );
    let mut rle = vec![];
    for (idx, len) in [(2u32, 1u32), (0, 1), (5, 2)] {
        rle.extend(idx.to_le_bytes());
        rle.extend(len.to_le_bytes());
    }
    let internal = if v_extra.is_empty() {
        0
    } else {
        flags::INTERNAL_XATTR
    };
    let mut descs = vec![
        flags_desc(flags::THIN_PROV | internal),
        xattr("name", b"v\0\0\0\0\0\0\0"),
        xattr("uuid", b"0f6c2b1e-9d3a-4c5b-8e7f-112233445566\0"),
        xattr("checksum", &CHECKSUM.to_le_bytes()),
        xattr("note", &[0xde, 0xad]),
        (desc::EXTENT_RLE, rle),
    ];
    descs.extend(v_extra);
    md_page(&mut img, 1, &descs);
    // The md region takes clusters 0 and 1 (20 pages of 16 per cluster).
    let mut used = vec![0, 1, 2, 5, 6];
    used.extend(extra_used_cluster);
    mask(&mut img, 1, 0, MD_LEN as u32, &[0, 1]);
    mask(&mut img, 2, 1, CLUSTERS as u32, &used);
    mask(&mut img, 3, 2, MD_LEN as u32, &[0, 1]);
    img
}

fn write(img: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("disk.img");
    std::fs::write(&p, img).unwrap();
    (dir, p)
}

fn cli(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lvs-inspect"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_built_store_reads_back_with_decoded_xattrs() {
    let s = Store::read(image(true, None).as_slice()).unwrap();
    assert!(s.clean);
    assert!(s.findings.is_empty(), "{:?}", s.findings);
    assert_eq!(s.lvstore_name(), Some("lvs"));
    assert_eq!(
        s.lvstore_uuid(),
        Some("8a2b5c8e-2a55-4bd2-9d6c-1f1e0c6a7b10")
    );
    let v = s.blob_by_name("v").unwrap();
    assert_eq!(v.id, BLOBID_HIGH_BIT | 1);
    assert!(v.thin && !v.read_only && !v.snapshot && !v.clone);
    assert_eq!(v.parent, Parent::None);
    assert_eq!(v.checksum(), Some(CHECKSUM));
    assert_eq!(v.num_clusters, 4);
    assert_eq!(v.disk_clusters(), vec![2, 5, 6]);
    assert_eq!(
        v.xattr("uuid").unwrap().value,
        Value::Uuid("0f6c2b1e-9d3a-4c5b-8e7f-112233445566".into())
    );
    assert_eq!(v.xattr("note").unwrap().value, Value::Hex("dead".into()));
    assert_eq!((s.clusters.metadata, s.clusters.data), (2, 14));
    assert_eq!((s.clusters.used, s.clusters.free), (3, 11));
}

#[test]
fn the_cli_prints_a_table_and_json() {
    let (_d, p) = write(&image(true, None));
    let (code, out, err) = cli(&[p.as_os_str()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("CLEAN"), "{out}");
    assert!(out.contains("0:2 2-3:5-6"), "{out}");
    assert!(out.contains("checksum = 0x0123456789abcdef"), "{out}");
    assert!(out.contains("findings: none"), "{out}");
    let (code, out, _) = cli(&[p.as_os_str(), "--json".as_ref()]);
    assert_eq!(code, 0);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let v = &j["blobs"][1];
    assert_eq!(v["thin"], true);
    assert_eq!(v["allocated"][2]["disk"], 6);
    let ck = v["xattrs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "checksum")
        .unwrap();
    assert_eq!(ck["value"]["type"], "checksum");
    assert_eq!(ck["value"]["value"], CHECKSUM);
}

#[test]
fn a_leaked_cluster_in_a_clean_mask_is_a_finding_and_exit_1() {
    let (_d, p) = write(&image(true, Some(9)));
    let (code, out, _) = cli(&[p.as_os_str()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "the used cluster mask marks cluster(s) 9 that no blob's metadata uses (leaked)"
        ),
        "{out}"
    );
}

#[test]
fn a_dirty_store_does_not_trust_its_mask() {
    let s = Store::read(image(false, Some(9)).as_slice()).unwrap();
    assert!(!s.clean);
    assert!(s.findings.is_empty(), "{:?}", s.findings);
    assert!(!s.cluster_in_use(9));
    assert_eq!(s.clusters.used, 3);
    let m = s.masks.unwrap();
    assert!(!m.trusted);
    assert!(m.clusters.contains(&9));
}

#[test]
fn a_truncated_file_and_bad_usage_fail_clearly() {
    let img = image(true, None);
    let (_d, p) = write(&img[..img.len() - 1]);
    let (code, out, err) = cli(&[p.as_os_str()]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("truncated image"), "{err}");
    let (code, _, err) = cli(&[]);
    assert_eq!(code, 64);
    assert!(err.contains("usage"), "{err}");
    let (code, _, err) = cli(&["/nonexistent/disk.img".as_ref()]);
    assert_eq!(code, 2);
    assert!(err.contains("No such file"), "{err}");
}

fn internal_xattr(name: &str, value: &[u8]) -> (u8, Vec<u8>) {
    (desc::XATTR_INTERNAL, xattr(name, value).1)
}

fn values(v: &[u64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The lvol's per-cluster checksums: the header (window size, whole
/// checksum) and windows by number. "v" holds clusters 0, 2 and 3 of 4.
fn with_cluster_checksums(per_window: u64, whole: u64, windows: &[(u64, Vec<u8>)]) -> Store {
    let mut extra = vec![internal_xattr("CKSUMW", &values(&[per_window, whole]))];
    for (k, v) in windows {
        extra.push(internal_xattr(&format!("CKSUMW{k}"), v));
    }
    Store::read(image_with(true, None, extra).as_slice()).unwrap()
}

fn checksum_findings(s: &Store) -> Vec<String> {
    s.findings.iter().map(|f| f.what.clone()).collect()
}

#[test]
fn per_cluster_checksums_decode_by_position() {
    // Windows of 500, and of 2 (window 1 holds clusters 2 and 3): the same values.
    for (per_window, windows) in [
        (500, vec![(0, values(&[11, 0, 33, 44]))]),
        (2, vec![(0, values(&[11])), (1, values(&[33, 44]))]),
    ] {
        let s = with_cluster_checksums(per_window, CHECKSUM, &windows);
        assert!(s.findings.is_empty(), "{:?}", s.findings);
        let cc = s
            .blob_by_name("v")
            .unwrap()
            .cluster_checksums()
            .unwrap()
            .unwrap();
        assert_eq!(
            (cc.per_window, cc.whole, cc.current),
            (per_window, CHECKSUM, true)
        );
        assert_eq!(
            cc.values.into_iter().collect::<Vec<_>>(),
            vec![(0, 11), (2, 33), (3, 44)]
        );
    }
}

#[test]
fn per_cluster_checksums_that_disagree_with_the_clusters_are_findings() {
    // A value for cluster 1, which "v" doesn't hold, and none for cluster 3.
    let s = with_cluster_checksums(500, CHECKSUM, &[(0, values(&[11, 22, 33]))]);
    let f = checksum_findings(&s);
    assert!(
        f.iter()
            .any(|w| w.contains("1 cluster(s) it does not hold (first [1])")),
        "{f:?}"
    );
    assert!(
        f.iter()
            .any(|w| w.contains("no per-cluster checksum for 1 cluster(s) it holds (first [3])")),
        "{f:?}"
    );
    // Computed with another whole checksum: left behind, they don't count.
    let s = with_cluster_checksums(500, CHECKSUM + 1, &[(0, values(&[11, 22, 33]))]);
    assert!(s.findings.is_empty(), "{:?}", s.findings);
    assert!(
        !s.blob_by_name("v")
            .unwrap()
            .cluster_checksums()
            .unwrap()
            .unwrap()
            .current
    );
}

#[test]
fn malformed_per_cluster_checksums_are_findings() {
    for (s, why) in [
        (with_cluster_checksums(0, CHECKSUM, &[]), "window size of 0"),
        (
            with_cluster_checksums(500, CHECKSUM, &[(0, vec![1, 2, 3])]),
            "window 0 is 3 bytes",
        ),
        (
            with_cluster_checksums(2, CHECKSUM, &[(0, values(&[1, 2, 3]))]),
            "window 0 is 24 bytes",
        ),
        (
            with_cluster_checksums(2, CHECKSUM, &[(2, values(&[1]))]),
            "window 2 starts past its 4 clusters",
        ),
    ] {
        let f = checksum_findings(&s);
        assert!(f.iter().any(|w| w.contains(why)), "{why}: {f:?}");
    }
    let extra = vec![internal_xattr("CKSUMW0", &values(&[11, 0, 33, 44]))];
    let s = Store::read(image_with(true, None, extra).as_slice()).unwrap();
    let f = checksum_findings(&s);
    assert!(
        f.iter()
            .any(|w| w.contains("1 per-cluster checksum window(s) without their CKSUMW xattr")),
        "{f:?}"
    );
    // Another internal xattr of the same prefix is not a window.
    let extra = vec![internal_xattr("CKSUMWx", b"y")];
    let s = Store::read(image_with(true, None, extra).as_slice()).unwrap();
    assert!(s.findings.is_empty(), "{:?}", s.findings);
}

/// The dirty image, with a second blob (md page 2) that holds v's clusters
/// too and carries the internal xattr `mark` naming blob `names`.
fn with_marked_sharer(mark: &str, names: u64) -> Store {
    let mut img = image(false, None);
    let mut rle = vec![];
    for (idx, len) in [(2u32, 1u32), (0, 1), (5, 2)] {
        rle.extend(idx.to_le_bytes());
        rle.extend(len.to_le_bytes());
    }
    md_page(
        &mut img,
        2,
        &[
            flags_desc(flags::THIN_PROV | flags::INTERNAL_XATTR),
            xattr("name", b"s\0"),
            internal_xattr(mark, &names.to_le_bytes()),
            (desc::EXTENT_RLE, rle),
        ],
    );
    Store::read(img.as_slice()).unwrap()
}

fn shared_cluster_findings(s: &Store) -> Vec<String> {
    s.findings
        .iter()
        .filter(|f| f.what.contains("is owned by blobs"))
        .map(|f| f.what.clone())
        .collect()
}

#[test]
fn clusters_an_interrupted_snapshot_shares_with_its_clone_are_resolved_by_the_load() {
    let v = BLOBID_HIGH_BIT | 1;
    for (mark, op) in [("SNAPTMP", "creation"), ("SNAPRM", "delete")] {
        let s = with_marked_sharer(mark, v);
        let f = shared_cluster_findings(&s);
        assert_eq!(f.len(), 3, "{mark}: {f:?}");
        for w in &f {
            assert!(
                w.contains(&format!(
                    "whose snapshot {:#x} ({mark}) has an interrupted {op} that SPDK's load resolves",
                    BLOBID_HIGH_BIT | 2
                )),
                "{mark}: {w}"
            );
        }
        // The mark itself stays a finding of its own.
        assert!(
            s.findings
                .iter()
                .any(|x| x.blob == Some(BLOBID_HIGH_BIT | 2) && x.what.contains(mark)),
            "{mark}: {:?}",
            s.findings
        );
    }
    // A mark that names another blob does not explain a cluster owned twice.
    let s = with_marked_sharer("SNAPTMP", BLOBID_HIGH_BIT | 7);
    let f = shared_cluster_findings(&s);
    assert_eq!(f.len(), 3, "{f:?}");
    assert!(f.iter().all(|w| !w.contains("resolves")), "{f:?}");
}
