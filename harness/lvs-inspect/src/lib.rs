//! An offline reader of SPDK blobstores (lvol stores), written from the format
//! in `lib/blob/blobstore.h` and `blobstore.c` without using SPDK's code. It
//! reads the file behind an AIO base bdev while no target has it open and says
//! what a target would find there after a restart, including after a SIGKILL.
//!
//! - The super block: geometry, clean or dirty (crc checked).
//! - Every blob, found the way SPDK's recovery finds them: each md page whose
//!   crc is good, whose sequence number is 0 and whose id names that page is
//!   the head of a blob; its chain (`next`) and its extent pages are followed
//!   and crc-checked. So a dirty store (left by SIGKILL) is read from the
//!   per-blob metadata alone, never from its stale masks.
//! - Per blob: id, flags (thin, read-only, snapshot, clone, esnap clone), the
//!   parent (a blob, an external snapshot, or none), the allocated clusters,
//!   every xattr with values decoded where known (`name`, `uuid`, `checksum`,
//!   the internal parent and esnap ids).
//! - The used clusters, md pages and blob ids derived from the blobs. On a
//!   clean store they are checked against the super block's counters and the
//!   on-disk masks; each disagreement is a [`Finding`].
//!
//! Bad input is an [`Error`] that names the structure and the offset, never a
//! panic: a truncated image, a bad signature or crc, a chain or extent page
//! that is missing or corrupt, a descriptor that overruns its page.

pub mod error;
pub mod image;
pub mod layout;
pub mod report;

pub use error::{Error, Result};
pub use image::{FileImage, Image};

use layout::{desc, flags, mask, page, sb};
use layout::{BLOBID_HIGH_BIT, BLOBID_INVALID, CRC_OFFSET, EXTENTS_PER_EXTENT_PAGE, PAGE_SIZE};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// The crc SPDK stores in the last 4 bytes of an md page or the super block.
pub fn page_crc(page: &[u8; PAGE_SIZE]) -> u32 {
    CRC32C.checksum(&page[..CRC_OFFSET])
}

/// At most this many findings of one kind are listed; the rest are counted.
const MAX_LISTED: usize = 16;

// ------------------------------------------------------------------- model

/// A run of md pages, in md pages from the start of the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Region {
    pub start: u32,
    pub len: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SuperBlock {
    pub version: u32,
    pub length: u32,
    /// `clean` is 1: the last unload wrote the masks.
    pub clean: bool,
    /// The super blob (an lvstore's: its name and uuid xattrs), if set.
    pub super_blob: Option<u64>,
    pub cluster_size: u32,
    /// The on-disk size of an md page and the unit of the regions below.
    pub md_page_size: u32,
    pub io_unit_size: u32,
    /// The blobstore's size in bytes.
    pub size: u64,
    pub bstype: String,
    pub md: Region,
    pub used_page_mask: Region,
    pub used_cluster_mask: Region,
    pub used_blobid_mask: Region,
    pub total_clusters: u64,
    /// Clusters the super block, masks and md region take (`0..md_clusters`).
    pub md_clusters: u64,
    /// `total_clusters - md_clusters`: what `total_data_clusters` reports.
    pub data_clusters: u64,
}

/// Where a blob reads what it has not allocated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Parent {
    None,
    /// A snapshot blob in the same store (internal xattr `SNAP`).
    Blob {
        id: u64,
    },
    /// An external snapshot (flag EXTERNAL_SNAPSHOT, internal xattr
    /// `EXTSNAP`): for an lvol, the uuid of the bdev it was cloned from.
    External {
        id: String,
    },
}

/// A decoded xattr value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Value {
    Text(String),
    Uuid(String),
    BlobId(u64),
    /// `checksum`: 8 bytes, little-endian.
    Checksum(u64),
    Hex(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Xattr {
    pub name: String,
    pub internal: bool,
    pub value: Value,
    #[serde(skip)]
    pub raw: Vec<u8>,
}

/// One allocated cluster: the blob's cluster `blob` lives in the device's
/// cluster `disk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Alloc {
    pub blob: u64,
    pub disk: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blob {
    pub id: u64,
    /// The md pages of its chain, head first.
    pub md_pages: Vec<u32>,
    /// Its allocated extent pages (extent-table blobs).
    pub extent_pages: Vec<u32>,
    pub invalid_flags: u64,
    pub data_ro_flags: u64,
    pub md_ro_flags: u64,
    pub thin: bool,
    pub read_only: bool,
    /// Some blob on disk names it as parent (what SPDK's load makes a snapshot).
    pub snapshot: bool,
    pub clone: bool,
    pub esnap_clone: bool,
    /// The blobstore's super blob.
    pub super_blob: bool,
    pub parent: Parent,
    /// Blobs on disk whose parent it is.
    pub clones: Vec<u64>,
    /// Its size in clusters.
    pub num_clusters: u64,
    pub allocated: Vec<Alloc>,
    pub xattrs: Vec<Xattr>,
}

impl Blob {
    /// An xattr set by the blob's user (lvol: `name`, `uuid`, ...).
    pub fn xattr(&self, name: &str) -> Option<&Xattr> {
        self.xattrs.iter().find(|x| !x.internal && x.name == name)
    }

    /// An internal xattr (`SNAP`, `EXTSNAP`, ...).
    pub fn internal_xattr(&self, name: &str) -> Option<&Xattr> {
        self.xattrs.iter().find(|x| x.internal && x.name == name)
    }

    /// The `name` xattr as text (an lvol's or lvstore's name).
    pub fn name(&self) -> Option<&str> {
        match &self.xattr("name")?.value {
            Value::Text(s) | Value::Uuid(s) => Some(s),
            _ => None,
        }
    }

    /// The `uuid` xattr as text.
    pub fn uuid(&self) -> Option<&str> {
        match &self.xattr("uuid")?.value {
            Value::Text(s) | Value::Uuid(s) => Some(s),
            _ => None,
        }
    }

    /// The `checksum` xattr, if it holds a decoded 8-byte value.
    pub fn checksum(&self) -> Option<u64> {
        match self.xattr("checksum")?.value {
            Value::Checksum(v) => Some(v),
            _ => None,
        }
    }

    /// Its per-cluster checksums (internal xattrs `CKSUMW` and `CKSUMW<k>`):
    /// `None` without the header, an error naming what is malformed.
    pub fn cluster_checksums(&self) -> std::result::Result<Option<ClusterChecksums>, String> {
        let Some(header) = self.internal_xattr(layout::XATTR_CLUSTER_CHECKSUMS) else {
            return Ok(None);
        };
        let name = layout::XATTR_CLUSTER_CHECKSUMS;
        if header.raw.len() != 16 {
            return Err(format!(
                "its {name} xattr is {} bytes, not 16 (window size, whole checksum)",
                header.raw.len()
            ));
        }
        let per_window = le64(&header.raw, 0);
        if per_window == 0 {
            return Err(format!("its {name} xattr gives a window size of 0"));
        }
        let whole: [u8; 8] = header.raw[8..16].try_into().unwrap();
        let current = self
            .xattr("checksum")
            .is_some_and(|x| x.raw.as_slice() == whole.as_slice());
        let mut values = BTreeMap::new();
        for (k, x) in self.cluster_checksum_windows() {
            let len = x.raw.len() as u64;
            if !len.is_multiple_of(8) || len / 8 > per_window {
                return Err(format!(
                    "its per-cluster checksum window {k} is {len} bytes: not up to {per_window} 8-byte values"
                ));
            }
            let first = k.saturating_mul(per_window);
            if first >= self.num_clusters {
                return Err(format!(
                    "its per-cluster checksum window {k} starts past its {} clusters",
                    self.num_clusters
                ));
            }
            for i in 0..len / 8 {
                let v = le64(&x.raw, (i * 8) as usize);
                if v != 0 {
                    values.insert(first + i, v);
                }
            }
        }
        Ok(Some(ClusterChecksums {
            per_window,
            whole: u64::from_le_bytes(whole),
            current,
            values,
        }))
    }

    /// The internal xattrs that are windows of per-cluster checksums, with
    /// their window numbers.
    fn cluster_checksum_windows(&self) -> impl Iterator<Item = (u64, &Xattr)> {
        self.xattrs.iter().filter(|x| x.internal).filter_map(|x| {
            let digits = x.name.strip_prefix(layout::XATTR_CLUSTER_CHECKSUMS)?;
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            Some((digits.parse().ok()?, x))
        })
    }

    /// What is wrong with its per-cluster checksums, if anything: malformed
    /// windows, windows without their header, and, while they count (the
    /// `checksum` xattr holds the value they were computed with), a value for
    /// a cluster it does not hold or a held cluster without one.
    fn cluster_checksum_findings(&self) -> Vec<String> {
        let cc = match self.cluster_checksums() {
            Err(why) => return vec![why],
            Ok(Some(cc)) => cc,
            Ok(None) => {
                let n = self.cluster_checksum_windows().count();
                return if n == 0 {
                    vec![]
                } else {
                    vec![format!(
                        "{n} per-cluster checksum window(s) without their {} xattr: a store cut short",
                        layout::XATTR_CLUSTER_CHECKSUMS
                    )]
                };
            }
        };
        if !cc.current {
            // Left behind by a build that removed or replaced the whole
            // checksum; SPDK reads them as no values.
            return vec![];
        }
        let held: BTreeSet<u64> = self.allocated.iter().map(|a| a.blob).collect();
        let extra: Vec<u64> = cc
            .values
            .keys()
            .filter(|c| !held.contains(c))
            .copied()
            .collect();
        let missing: Vec<u64> = held
            .iter()
            .filter(|c| !cc.values.contains_key(c))
            .copied()
            .collect();
        let mut out = vec![];
        for (clusters, before, after) in [
            (extra, "per-cluster checksums for", "it does not hold"),
            (missing, "no per-cluster checksum for", "it holds"),
        ] {
            if !clusters.is_empty() {
                out.push(format!(
                    "{before} {} cluster(s) {after} (first {:?})",
                    clusters.len(),
                    &clusters[..clusters.len().min(MAX_LISTED)]
                ));
            }
        }
        out
    }

    /// The device clusters it owns, sorted.
    pub fn disk_clusters(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.allocated.iter().map(|a| a.disk).collect();
        v.sort_unstable();
        v
    }
}

/// A blob's per-cluster checksums, decoded ([`Blob::cluster_checksums`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterChecksums {
    /// Values to a window.
    pub per_window: u64,
    /// The whole checksum they were computed with.
    pub whole: u64,
    /// The blob's `checksum` xattr still holds `whole`: they count.
    pub current: bool,
    /// The non-zero values, by the blob's cluster index.
    pub values: BTreeMap<u64, u64>,
}

/// Cluster accounting, from the per-blob maps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Clusters {
    pub total: u64,
    pub metadata: u64,
    /// `total - metadata`: `total_data_clusters` of the lvstore.
    pub data: u64,
    /// Data clusters some blob owns.
    pub used: u64,
    /// `data - used`: what `free_clusters` must report.
    pub free: u64,
    /// The data clusters in use, sorted.
    #[serde(skip)]
    pub in_use: BTreeSet<u32>,
}

/// The super block's masks as read from disk. Trusted (and checked) only on a
/// clean store; on a dirty one they are what the last load or unload left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Masks {
    pub trusted: bool,
    pub used_md_pages: u64,
    /// Including the metadata clusters.
    pub used_clusters: u64,
    pub used_blobids: u64,
    #[serde(skip)]
    pub md_pages: BTreeSet<u32>,
    #[serde(skip)]
    pub clusters: BTreeSet<u32>,
    #[serde(skip)]
    pub blobids: BTreeSet<u32>,
}

/// Something on disk that SPDK would not load as it is, or that disagrees
/// with the rest: a gap between the store's bookkeeping and its blobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub blob: Option<u64>,
    pub what: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.blob {
            Some(b) => write!(f, "blob {b:#x}: {}", self.what),
            None => f.write_str(&self.what),
        }
    }
}

/// What is on the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Store {
    pub image_len: u64,
    pub super_block: SuperBlock,
    /// Clean and with a blob id mask: SPDK loads it from its masks. Otherwise
    /// it replays the metadata, as this reader always does.
    pub clean: bool,
    pub blobs: Vec<Blob>,
    pub clusters: Clusters,
    pub masks: Option<Masks>,
    pub findings: Vec<Finding>,
}

impl Store {
    /// Read the image in `path` (pread; nothing is written).
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref();
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let img = FileImage::new(file).map_err(io)?;
        Store::read(&img)
    }

    pub fn read<I: Image + ?Sized>(img: &I) -> Result<Store> {
        Reader::new(img)?.read()
    }

    pub fn blob(&self, id: u64) -> Option<&Blob> {
        self.blobs.iter().find(|b| b.id == id)
    }

    /// The blob whose `name` xattr is `name` (not the super blob).
    pub fn blob_by_name(&self, name: &str) -> Option<&Blob> {
        self.blobs
            .iter()
            .find(|b| !b.super_blob && b.name() == Some(name))
    }

    /// The blob whose `uuid` xattr is `uuid` (not the super blob).
    pub fn blob_by_uuid(&self, uuid: &str) -> Option<&Blob> {
        self.blobs
            .iter()
            .find(|b| !b.super_blob && b.uuid() == Some(uuid))
    }

    pub fn super_blob(&self) -> Option<&Blob> {
        self.blobs.iter().find(|b| b.super_blob)
    }

    /// The lvstore's name (the super blob's `name` xattr).
    pub fn lvstore_name(&self) -> Option<&str> {
        self.super_blob()?.name()
    }

    /// The lvstore's uuid (the super blob's `uuid` xattr).
    pub fn lvstore_uuid(&self) -> Option<&str> {
        self.super_blob()?.uuid()
    }

    /// Whether some blob owns device cluster `c` (from the per-blob maps).
    pub fn cluster_in_use(&self, c: u32) -> bool {
        self.clusters.in_use.contains(&c)
    }
}

// ----------------------------------------------------------------- reading

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn read_exact<I: Image + ?Sized>(
    img: &I,
    offset: u64,
    buf: &mut [u8],
    what: &dyn Fn() -> String,
) -> Result<()> {
    let end = offset.checked_add(buf.len() as u64);
    match end {
        Some(end) if end <= img.len() => img.read_at(offset, buf).map_err(|e| Error::Io {
            path: format!("<image> reading {} at byte {offset}", what()).into(),
            source: e,
        }),
        _ => Err(Error::Truncated {
            what: what(),
            offset,
            end: end.unwrap_or(u64::MAX),
            image_len: img.len(),
        }),
    }
}

fn parse_super<I: Image + ?Sized>(img: &I) -> Result<SuperBlock> {
    let mut p = [0u8; PAGE_SIZE];
    read_exact(img, 0, &mut p, &|| "the super block".into())?;
    if &p[sb::SIGNATURE..sb::SIGNATURE + 8] != layout::SUPER_SIGNATURE {
        return Err(Error::NotABlobstore {
            found: String::from_utf8_lossy(&p[..8]).escape_debug().to_string(),
        });
    }
    let stored = le32(&p, sb::CRC);
    let computed = page_crc(&p);
    if stored != computed {
        return Err(Error::Crc {
            what: "super block".into(),
            stored,
            computed,
        });
    }
    let bad = |s: String| Err(Error::SuperBlock(s));
    let version = le32(&p, sb::VERSION);
    if !(layout::SUPER_VERSION_MIN..=layout::SUPER_VERSION_MAX).contains(&version) {
        return bad(format!(
            "version {version}, this reader knows {}..={}",
            layout::SUPER_VERSION_MIN,
            layout::SUPER_VERSION_MAX
        ));
    }
    let region = |s: usize, l: usize| Region {
        start: le32(&p, s),
        len: le32(&p, l),
    };
    let md_page_size = match le32(&p, sb::MD_PAGE_SIZE) {
        0 => PAGE_SIZE as u32,
        v => v,
    };
    if !md_page_size.is_power_of_two() || !(PAGE_SIZE as u32..=1 << 20).contains(&md_page_size) {
        return bad(format!(
            "md page size {md_page_size}: expected a power of two from {PAGE_SIZE} to 1 MiB"
        ));
    }
    let io_unit_size = match le32(&p, sb::IO_UNIT_SIZE) {
        0 => PAGE_SIZE as u32,
        v => v,
    };
    let cluster_size = le32(&p, sb::CLUSTER_SIZE);
    if cluster_size == 0 || !cluster_size.is_multiple_of(md_page_size) {
        return bad(format!(
            "cluster size {cluster_size} is not a positive multiple of the md page size {md_page_size}"
        ));
    }
    let size = match le64(&p, sb::SIZE) {
        0 => img.len(),
        v => v,
    };
    if size > img.len() {
        return Err(Error::Truncated {
            what: format!("the blobstore ({size} bytes, per its super block)"),
            offset: 0,
            end: size,
            image_len: img.len(),
        });
    }
    let total_clusters = size / u64::from(cluster_size);
    let md = region(sb::MD_START, sb::MD_LEN);
    let used_page_mask = region(sb::USED_PAGE_MASK_START, sb::USED_PAGE_MASK_LEN);
    let used_cluster_mask = region(sb::USED_CLUSTER_MASK_START, sb::USED_CLUSTER_MASK_LEN);
    let used_blobid_mask = region(sb::USED_BLOBID_MASK_START, sb::USED_BLOBID_MASK_LEN);
    for (what, r) in [
        ("metadata region", md),
        ("used md page mask", used_page_mask),
        ("used cluster mask", used_cluster_mask),
        ("used blob id mask", used_blobid_mask),
    ] {
        let end = (u64::from(r.start) + u64::from(r.len)) * u64::from(md_page_size);
        if end > size {
            return bad(format!(
                "the {what} (pages {}..{}) ends at byte {end}, past the blobstore's {size} bytes",
                r.start,
                u64::from(r.start) + u64::from(r.len)
            ));
        }
    }
    if md.len == 0 {
        return bad("the metadata region is empty".into());
    }
    let pages_per_cluster = u64::from(cluster_size / md_page_size);
    let md_clusters = (u64::from(md.start) + u64::from(md.len)).div_ceil(pages_per_cluster);
    if md_clusters > total_clusters {
        return bad(format!(
            "the metadata takes {md_clusters} clusters of the {total_clusters} there are"
        ));
    }
    let super_blob = match le64(&p, sb::SUPER_BLOB) {
        BLOBID_INVALID => None,
        v => Some(v),
    };
    let bstype = p[sb::BSTYPE..sb::BSTYPE + sb::BSTYPE_LEN]
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as char)
        .collect();
    Ok(SuperBlock {
        version,
        length: le32(&p, sb::LENGTH),
        clean: le32(&p, sb::CLEAN) == 1,
        super_blob,
        cluster_size,
        md_page_size,
        io_unit_size,
        size,
        bstype,
        md,
        used_page_mask,
        used_cluster_mask,
        used_blobid_mask,
        total_clusters,
        md_clusters,
        data_clusters: total_clusters - md_clusters,
    })
}

/// A descriptor, as read.
#[derive(Debug)]
enum Desc {
    Flags {
        invalid: u64,
        data_ro: u64,
        md_ro: u64,
    },
    Rle(Vec<(u32, u32)>),
    Table {
        num_clusters: u64,
        entries: Vec<(u32, u32)>,
    },
    ExtentPage {
        start: u32,
        clusters: Vec<u32>,
    },
    Xattr {
        internal: bool,
        name: Vec<u8>,
        value: Vec<u8>,
    },
    Unknown(u8),
}

/// The descriptors of one md page (`blob_parse_page`'s walk).
fn descriptors(p: &[u8; PAGE_SIZE], blob: u64, page_idx: u32) -> Result<Vec<Desc>> {
    let d = &p[page::DESCRIPTORS..page::DESCRIPTORS + page::DESCRIPTORS_LEN];
    let err = |why: String| Error::Metadata {
        blob,
        page: page_idx,
        why,
    };
    let mut out = vec![];
    let mut cur = 0usize;
    while cur + desc::HEADER <= d.len() {
        let ty = d[cur];
        let len = le32(d, cur + 1) as usize;
        if ty == desc::PADDING && len == 0 {
            break;
        }
        let start = cur + desc::HEADER;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= d.len())
            .ok_or_else(|| {
                err(format!(
                    "descriptor type {ty} at byte {cur} claims {len} bytes, past the end of the page"
                ))
            })?;
        let b = &d[start..end];
        let bad_len = |name: &str| {
            err(format!(
                "{name} descriptor at byte {cur} has an invalid length {len}"
            ))
        };
        match ty {
            desc::PADDING => {}
            desc::FLAGS => {
                if len != desc::FLAGS_BODY {
                    return Err(bad_len("flags"));
                }
                out.push(Desc::Flags {
                    invalid: le64(b, 0),
                    data_ro: le64(b, 8),
                    md_ro: le64(b, 16),
                });
            }
            desc::EXTENT_RLE => {
                if len == 0 || !len.is_multiple_of(desc::RLE_ENTRY) {
                    return Err(bad_len("extent RLE"));
                }
                out.push(Desc::Rle(
                    b.chunks_exact(desc::RLE_ENTRY)
                        .map(|e| (le32(e, 0), le32(e, 4)))
                        .collect(),
                ));
            }
            desc::EXTENT_TABLE => {
                if len < desc::ET_HEADER || !(len - desc::ET_HEADER).is_multiple_of(desc::ET_ENTRY)
                {
                    return Err(bad_len("extent table"));
                }
                out.push(Desc::Table {
                    num_clusters: le64(b, 0),
                    entries: b[desc::ET_HEADER..]
                        .chunks_exact(desc::ET_ENTRY)
                        .map(|e| (le32(e, 0), le32(e, 4)))
                        .collect(),
                });
            }
            desc::EXTENT_PAGE => {
                if len <= desc::EP_HEADER || !(len - desc::EP_HEADER).is_multiple_of(4) {
                    return Err(bad_len("extent page"));
                }
                out.push(Desc::ExtentPage {
                    start: le32(b, 0),
                    clusters: b[desc::EP_HEADER..]
                        .chunks_exact(4)
                        .map(|e| le32(e, 0))
                        .collect(),
                });
            }
            desc::XATTR | desc::XATTR_INTERNAL => {
                if len < desc::XATTR_HEADER {
                    return Err(bad_len("xattr"));
                }
                let nl = le16(b, 0) as usize;
                let vl = le16(b, 2) as usize;
                if len != desc::XATTR_HEADER + nl + vl {
                    return Err(err(format!(
                        "xattr descriptor at byte {cur}: length {len} is not 4 + name {nl} + value {vl}"
                    )));
                }
                let n = &b[desc::XATTR_HEADER..desc::XATTR_HEADER + nl];
                out.push(Desc::Xattr {
                    internal: ty == desc::XATTR_INTERNAL,
                    name: n.to_vec(),
                    value: b[desc::XATTR_HEADER + nl..].to_vec(),
                });
            }
            other => out.push(Desc::Unknown(other)),
        }
        cur = end;
    }
    Ok(out)
}

/// Text up to the first NUL, if that is all there is and it is printable.
fn text(v: &[u8]) -> Option<String> {
    let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
    if v[end..].iter().any(|&c| c != 0) {
        return None;
    }
    let s = std::str::from_utf8(&v[..end]).ok()?;
    (!s.chars().any(char::is_control)).then(|| s.to_string())
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

fn hex(v: &[u8]) -> String {
    v.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decode an xattr value by its name: what lvol and the blobstore put there.
pub fn decode(name: &str, internal: bool, v: &[u8]) -> Value {
    let textual = || match text(v) {
        Some(s) if is_uuid(&s) => Value::Uuid(s),
        Some(s) => Value::Text(s),
        None => Value::Hex(hex(v)),
    };
    match (internal, name) {
        (false, "name") | (false, "uuid") => textual(),
        (false, "checksum") if v.len() == 8 => Value::Checksum(le64(v, 0)),
        (true, layout::XATTR_PARENT)
        | (true, layout::XATTR_SNAPSHOT_IN_PROGRESS)
        | (true, layout::XATTR_SNAPSHOT_PENDING_REMOVAL)
            if v.len() == 8 =>
        {
            Value::BlobId(le64(v, 0))
        }
        (true, layout::XATTR_EXTERNAL_SNAPSHOT_ID) => textual(),
        _ => Value::Hex(hex(v)),
    }
}

/// Why blobs `a` and `b` may share a cluster or an extent page: one of them
/// is a snapshot whose creation (`SNAPTMP`) or delete (`SNAPRM`) was
/// interrupted, and the mark names the other, its clone. A snapshot being
/// created takes its origin's cluster map and extent pages before the origin's
/// metadata drops them; a snapshot being deleted into its only clone gives
/// its clusters to the clone before it goes. The next load keeps one owner
/// (blobstore.c, bs_examine_clone), so the pair is worded as the blob's own
/// mark is: an interrupted operation that SPDK's load resolves. Anything else
/// ("" here) is a cluster owned twice.
fn interrupted_pair(blobs: &[Blob], a: u64, b: u64) -> String {
    let marked = |snap: u64, clone: u64| {
        let s = blobs.iter().find(|x| x.id == snap)?;
        [
            (layout::XATTR_SNAPSHOT_IN_PROGRESS, "creation"),
            (layout::XATTR_SNAPSHOT_PENDING_REMOVAL, "delete"),
        ]
        .into_iter()
        .find(|(x, _)| {
            s.internal_xattr(x)
                .is_some_and(|v| v.value == Value::BlobId(clone))
        })
        .map(|(x, op)| {
            format!(
                ", whose snapshot {snap:#x} ({x}) has an interrupted {op} \
                 that SPDK's load resolves"
            )
        })
    };
    marked(a, b).or_else(|| marked(b, a)).unwrap_or_default()
}

/// Set bits of a mask, as page or cluster indexes.
fn mask_bits(bits: &[u8], len: u64) -> BTreeSet<u32> {
    let mut s = BTreeSet::new();
    for (i, &byte) in bits.iter().enumerate() {
        if byte == 0 {
            continue;
        }
        for j in 0..8 {
            let bit = i as u64 * 8 + j;
            if bit < len && byte & (1 << j) != 0 {
                s.insert(bit as u32);
            }
        }
    }
    s
}

struct Reader<'a, I: Image + ?Sized> {
    img: &'a I,
    sb: SuperBlock,
    findings: Vec<Finding>,
}

impl<'a, I: Image + ?Sized> Reader<'a, I> {
    fn new(img: &'a I) -> Result<Self> {
        let sb = parse_super(img)?;
        Ok(Reader {
            img,
            sb,
            findings: vec![],
        })
    }

    fn find(&mut self, blob: Option<u64>, what: String) {
        self.findings.push(Finding { blob, what });
    }

    /// Metadata page `idx` (relative to the md region).
    fn md_page(&self, idx: u32, what: &dyn Fn() -> String) -> Result<Box<[u8; PAGE_SIZE]>> {
        let mut p = Box::new([0u8; PAGE_SIZE]);
        let off = (u64::from(self.sb.md.start) + u64::from(idx)) * u64::from(self.sb.md_page_size);
        read_exact(self.img, off, &mut p[..], what)?;
        Ok(p)
    }

    fn read(mut self) -> Result<Store> {
        let md_len = self.sb.md.len;
        // Heads: what bs_load_replay_md claims as blobs.
        let mut blobs = vec![];
        for i in 0..md_len {
            let p = self.md_page(i, &|| format!("md page {i}"))?;
            let id = BLOBID_HIGH_BIT | u64::from(i);
            if page_crc(&p) == le32(&p[..], page::CRC)
                && le32(&p[..], page::SEQUENCE_NUM) == 0
                && le64(&p[..], page::ID) == id
            {
                blobs.push(self.blob(i, p)?);
            }
        }
        self.link(&mut blobs);
        for b in &blobs {
            for what in b.cluster_checksum_findings() {
                self.find(Some(b.id), what);
            }
        }

        // What the blobs use.
        let mut md_owner: BTreeMap<u32, u64> = BTreeMap::new();
        let mut cluster_owner: BTreeMap<u32, u64> = BTreeMap::new();
        let mut shared_pages = vec![];
        let mut shared_clusters = vec![];
        let mut in_md_region = vec![];
        for b in &blobs {
            for &pg in b.md_pages.iter().chain(&b.extent_pages) {
                if let Some(other) = md_owner.insert(pg, b.id) {
                    shared_pages.push((pg, other, b.id));
                }
            }
            for a in &b.allocated {
                if u64::from(a.disk) < self.sb.md_clusters {
                    in_md_region.push((a.disk, b.id));
                }
                if let Some(other) = cluster_owner.insert(a.disk, b.id) {
                    shared_clusters.push((a.disk, other, b.id));
                }
            }
        }
        for (pg, a, b) in shared_pages.into_iter().take(MAX_LISTED) {
            self.find(
                None,
                format!(
                    "md page {pg} is claimed by blobs {a:#x} and {b:#x}{}",
                    interrupted_pair(&blobs, a, b)
                ),
            );
        }
        for (c, a, b) in shared_clusters.into_iter().take(MAX_LISTED) {
            self.find(
                None,
                format!(
                    "cluster {c} is owned by blobs {a:#x} and {b:#x}{}",
                    interrupted_pair(&blobs, a, b)
                ),
            );
        }
        for (c, b) in in_md_region.into_iter().take(MAX_LISTED) {
            self.find(
                Some(b),
                format!(
                    "owns cluster {c}, inside the metadata clusters 0..{}",
                    self.sb.md_clusters
                ),
            );
        }
        let in_use: BTreeSet<u32> = cluster_owner
            .keys()
            .copied()
            .filter(|&c| u64::from(c) >= self.sb.md_clusters)
            .collect();
        let used = in_use.len() as u64;
        if used > self.sb.data_clusters {
            self.find(
                None,
                format!(
                    "the blobs own {used} data clusters, more than the {} the super block gives",
                    self.sb.data_clusters
                ),
            );
        }
        let clusters = Clusters {
            total: self.sb.total_clusters,
            metadata: self.sb.md_clusters,
            data: self.sb.data_clusters,
            used,
            free: self.sb.data_clusters.saturating_sub(used),
            in_use,
        };
        if let Some(id) = self.sb.super_blob {
            if !blobs.iter().any(|b| b.id == id) {
                self.find(
                    None,
                    format!("the super block names super blob {id:#x}, which is not on disk"),
                );
            }
        }

        let clean = self.sb.clean && self.sb.used_blobid_mask.len != 0;
        let masks = if self.sb.used_blobid_mask.len == 0 {
            None
        } else {
            match self.masks(clean) {
                Ok(m) => Some(m),
                // Stale masks of a dirty store are only shown; a bad one is dropped.
                Err(_) if !clean => None,
                Err(e) => return Err(e),
            }
        };
        if let Some(m) = masks.as_ref().filter(|m| m.trusted) {
            let heads: BTreeSet<u32> = blobs.iter().map(|b| b.id as u32).collect();
            let pages: BTreeSet<u32> = md_owner.keys().copied().collect();
            let mut used_clusters: BTreeSet<u32> = (0..self.sb.md_clusters as u32).collect();
            used_clusters.extend(clusters.in_use.iter().copied());
            self.compare("blob id", "md page", &m.blobids, &heads);
            self.compare("md page", "md page", &m.md_pages, &pages);
            self.compare("cluster", "cluster", &m.clusters, &used_clusters);
        }

        Ok(Store {
            image_len: self.img.len(),
            super_block: self.sb.clone(),
            clean,
            blobs,
            clusters,
            masks,
            findings: self.findings,
        })
    }

    /// One finding per kind of disagreement between a mask and the blobs.
    fn compare(&mut self, what: &str, unit: &str, mask: &BTreeSet<u32>, blobs: &BTreeSet<u32>) {
        let only_mask: Vec<u32> = mask.difference(blobs).copied().collect();
        let only_blobs: Vec<u32> = blobs.difference(mask).copied().collect();
        let list = |v: &[u32]| {
            let mut s = v
                .iter()
                .take(MAX_LISTED)
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            if v.len() > MAX_LISTED {
                s += &format!(" and {} more", v.len() - MAX_LISTED);
            }
            s
        };
        if !only_mask.is_empty() {
            self.find(
                None,
                format!(
                    "the used {what} mask marks {unit}(s) {} that no blob's metadata uses (leaked)",
                    list(&only_mask)
                ),
            );
        }
        if !only_blobs.is_empty() {
            self.find(
                None,
                format!(
                    "blob metadata uses {unit}(s) {} that the used {what} mask marks free",
                    list(&only_blobs)
                ),
            );
        }
    }

    /// A mask of `want` bits: exactly (md pages, blob ids) or at least
    /// (clusters, which SPDK then cuts to the cluster count).
    fn mask(
        &self,
        r: Region,
        ty: u8,
        what: &'static str,
        want: u64,
        exact: bool,
    ) -> Result<BTreeSet<u32>> {
        let bytes = u64::from(r.len) * u64::from(self.sb.md_page_size);
        let bad = |why: String| Error::Mask { what, why };
        if bytes < mask::BITS as u64 {
            return Err(bad(format!("its region is {} pages long", r.len)));
        }
        let mut buf = vec![0u8; bytes as usize];
        let off = u64::from(r.start) * u64::from(self.sb.md_page_size);
        read_exact(self.img, off, &mut buf, &|| format!("the used {what} mask"))?;
        if buf[mask::TYPE] != ty {
            return Err(bad(format!("type {}, expected {ty}", buf[mask::TYPE])));
        }
        let len = u64::from(le32(&buf, mask::LENGTH));
        let room = (bytes - mask::BITS as u64) * 8;
        if len > room {
            return Err(bad(format!("{len} bits do not fit its {room}-bit region")));
        }
        if len < want || (exact && len != want) {
            return Err(bad(format!(
                "{len} bits, expected {}{want}",
                if exact { "" } else { "at least " }
            )));
        }
        Ok(mask_bits(&buf[mask::BITS..], want))
    }

    fn masks(&self, trusted: bool) -> Result<Masks> {
        let sb = &self.sb;
        let md_len = u64::from(sb.md.len);
        let md_pages = self.mask(
            sb.used_page_mask,
            mask::TYPE_USED_PAGES,
            "md page",
            md_len,
            true,
        )?;
        let clusters = self.mask(
            sb.used_cluster_mask,
            mask::TYPE_USED_CLUSTERS,
            "cluster",
            sb.total_clusters,
            false,
        )?;
        let blobids = self.mask(
            sb.used_blobid_mask,
            mask::TYPE_USED_BLOBIDS,
            "blob id",
            md_len,
            true,
        )?;
        Ok(Masks {
            trusted,
            used_md_pages: md_pages.len() as u64,
            used_clusters: clusters.len() as u64,
            used_blobids: blobids.len() as u64,
            md_pages,
            clusters,
            blobids,
        })
    }

    /// The blob whose head is md page `head`.
    fn blob(&mut self, head: u32, first: Box<[u8; PAGE_SIZE]>) -> Result<Blob> {
        let id = BLOBID_HIGH_BIT | u64::from(head);
        let md_len = self.sb.md.len;
        let err = |page: u32, why: String| Error::Metadata {
            blob: id,
            page,
            why,
        };
        let mut md_pages = vec![head];
        let mut descs = descriptors(&first, id, head)?;
        let mut next = le32(&first[..], page::NEXT);
        while next != page::INVALID {
            let prev = *md_pages.last().expect("the head is there");
            if next >= md_len {
                return Err(err(
                    prev,
                    format!("next page {next} is outside the md region of {md_len} pages"),
                ));
            }
            if md_pages.contains(&next) {
                return Err(err(prev, format!("the chain loops back to page {next}")));
            }
            let seq = md_pages.len() as u32;
            let p = self.md_page(next, &|| format!("md page {next} of blob {id:#x}"))?;
            let (stored, computed) = (le32(&p[..], page::CRC), page_crc(&p));
            if stored != computed {
                return Err(Error::Crc {
                    what: format!("md page {next} (#{seq} of blob {id:#x})"),
                    stored,
                    computed,
                });
            }
            if le64(&p[..], page::ID) != id || le32(&p[..], page::SEQUENCE_NUM) != seq {
                return Err(err(
                    next,
                    format!(
                        "chain page #{seq} belongs to blob {:#x} as #{}",
                        le64(&p[..], page::ID),
                        le32(&p[..], page::SEQUENCE_NUM)
                    ),
                ));
            }
            descs.extend(descriptors(&p, id, next)?);
            md_pages.push(next);
            next = le32(&p[..], page::NEXT);
        }

        let (mut invalid, mut data_ro, mut md_ro) = (0, 0, 0);
        let mut rle = vec![];
        let mut table: Option<u64> = None;
        let mut et_entries = vec![];
        let mut xattrs = vec![];
        for d in descs {
            match d {
                Desc::Flags {
                    invalid: i,
                    data_ro: d,
                    md_ro: m,
                } => (invalid, data_ro, md_ro) = (i, d, m),
                Desc::Rle(e) => rle.extend(e),
                Desc::Table {
                    num_clusters,
                    entries,
                } => {
                    if let Some(n) = table.filter(|&n| n != num_clusters) {
                        return Err(err(head, format!("extent tables disagree on the cluster count: {n} and {num_clusters}")));
                    }
                    table = Some(num_clusters);
                    et_entries.extend(entries);
                }
                Desc::ExtentPage { .. } => self.find(
                    Some(id),
                    "an extent page descriptor sits in its metadata chain".into(),
                ),
                Desc::Xattr {
                    internal,
                    name,
                    value,
                } => {
                    let name = String::from_utf8_lossy(&name).into_owned();
                    xattrs.push(Xattr {
                        value: decode(&name, internal, &value),
                        name,
                        internal,
                        raw: value,
                    });
                }
                Desc::Unknown(t) => self.find(
                    Some(id),
                    format!("unknown descriptor type {t} (SPDK's recovery refuses it)"),
                ),
            }
        }
        if invalid & !flags::INVALID_MASK != 0 {
            self.find(
                Some(id),
                format!(
                    "unknown invalid_flags {:#x}: SPDK will not open it",
                    invalid & !flags::INVALID_MASK
                ),
            );
        }
        let thin = invalid & flags::THIN_PROV != 0;
        if !rle.is_empty() && table.is_some() {
            return Err(err(head, "both an extent RLE and an extent table".into()));
        }

        let total = self.sb.total_clusters;
        let mut allocated = vec![];
        let mut extent_pages = vec![];
        let mut unallocated_thick = 0u64;
        let mut count: u64 = 0;
        let alloc = |count: u64, disk: u64, page: u32, allocated: &mut Vec<Alloc>| -> Result<()> {
            if disk >= total {
                return Err(err(
                    page,
                    format!(
                        "cluster {count} maps to device cluster {disk}, beyond the store's {total}"
                    ),
                ));
            }
            if allocated.len() as u64 >= total {
                return Err(err(
                    page,
                    format!("maps more clusters than the store's {total}"),
                ));
            }
            allocated.push(Alloc {
                blob: count,
                disk: disk as u32,
            });
            Ok(())
        };
        for &(idx, n) in &rle {
            if idx == 0 {
                if !thin {
                    unallocated_thick += u64::from(n);
                }
            } else {
                for j in 0..u64::from(n) {
                    alloc(count + j, u64::from(idx) + j, head, &mut allocated)?;
                }
            }
            count += u64::from(n);
        }
        if let Some(num_clusters) = table {
            for &(pg, n) in &et_entries {
                let remaining = num_clusters.saturating_sub(count);
                if pg == 0 {
                    if !thin {
                        unallocated_thick += remaining.min(u64::from(n) * EXTENTS_PER_EXTENT_PAGE);
                    }
                    count += remaining.min(u64::from(n) * EXTENTS_PER_EXTENT_PAGE);
                    continue;
                }
                if n != 1 {
                    return Err(err(
                        head,
                        format!("extent table entry for page {pg} counts {n} pages, expected 1"),
                    ));
                }
                if pg >= md_len {
                    return Err(err(
                        head,
                        format!("extent page {pg} is outside the md region of {md_len} pages"),
                    ));
                }
                let (start, idxs) = self.extent_page(id, pg)?;
                if u64::from(start) != count {
                    return Err(err(
                        pg,
                        format!("extent page starts at cluster {start}, expected {count}"),
                    ));
                }
                if idxs.len() as u64 > remaining {
                    return Err(err(
                        pg,
                        format!(
                            "extent page maps {} clusters, past the table's {num_clusters}",
                            idxs.len()
                        ),
                    ));
                }
                for (k, &c) in idxs.iter().enumerate() {
                    if c == 0 {
                        if !thin {
                            unallocated_thick += 1;
                        }
                    } else {
                        alloc(count + k as u64, u64::from(c), pg, &mut allocated)?;
                    }
                }
                count += idxs.len() as u64;
                extent_pages.push(pg);
            }
            if count != num_clusters {
                self.find(
                    Some(id),
                    format!("its extent table says {num_clusters} clusters, its extent pages map {count}"),
                );
            }
        }
        if unallocated_thick > 0 {
            self.find(
                Some(id),
                format!("thick provisioned, yet {unallocated_thick} cluster(s) are not allocated: SPDK will not open it"),
            );
        }

        let find_x = |name: &str| {
            xattrs
                .iter()
                .find(|x: &&Xattr| x.internal && x.name == name)
        };
        let parent = if invalid & flags::EXTERNAL_SNAPSHOT != 0 {
            match find_x(layout::XATTR_EXTERNAL_SNAPSHOT_ID) {
                Some(x) => Parent::External {
                    id: match &x.value {
                        Value::Text(s) | Value::Uuid(s) | Value::Hex(s) => s.clone(),
                        v => format!("{v:?}"),
                    },
                },
                None => {
                    self.find(
                        Some(id),
                        "an esnap clone without an EXTSNAP xattr: SPDK will not open it".into(),
                    );
                    Parent::None
                }
            }
        } else {
            match find_x(layout::XATTR_PARENT).map(|x| &x.value) {
                Some(Value::BlobId(p)) if thin => Parent::Blob { id: *p },
                Some(Value::BlobId(_)) => {
                    self.find(
                        Some(id),
                        "a SNAP parent xattr on a thick blob (SPDK ignores it)".into(),
                    );
                    Parent::None
                }
                Some(v) => {
                    self.find(
                        Some(id),
                        format!("a SNAP parent xattr that is not a blob id: {v:?}"),
                    );
                    Parent::None
                }
                None => Parent::None,
            }
        };
        for x in [
            layout::XATTR_SNAPSHOT_IN_PROGRESS,
            layout::XATTR_SNAPSHOT_PENDING_REMOVAL,
        ] {
            if find_x(x).is_some() {
                self.find(
                    Some(id),
                    format!("internal xattr {x}: an interrupted snapshot operation that SPDK's load resolves"),
                );
            }
        }
        Ok(Blob {
            id,
            md_pages,
            extent_pages,
            invalid_flags: invalid,
            data_ro_flags: data_ro,
            md_ro_flags: md_ro,
            thin,
            read_only: data_ro & flags::READ_ONLY != 0,
            snapshot: false,
            clone: matches!(parent, Parent::Blob { .. }),
            esnap_clone: matches!(parent, Parent::External { .. }),
            super_blob: self.sb.super_blob == Some(id),
            parent,
            clones: vec![],
            num_clusters: count,
            allocated,
            xattrs,
        })
    }

    /// An extent page (`bs_load_cur_extent_page_valid`): crc, sequence 0, no
    /// next page, one EXTENT_PAGE descriptor and nothing after it.
    fn extent_page(&self, blob: u64, pg: u32) -> Result<(u32, Vec<u32>)> {
        let p = self.md_page(pg, &|| format!("extent page {pg} of blob {blob:#x}"))?;
        let (stored, computed) = (le32(&p[..], page::CRC), page_crc(&p));
        if stored != computed {
            return Err(Error::Crc {
                what: format!("extent page {pg} of blob {blob:#x}"),
                stored,
                computed,
            });
        }
        let err = |why: &str| Error::Metadata {
            blob,
            page: pg,
            why: format!("extent page: {why}"),
        };
        if le32(&p[..], page::SEQUENCE_NUM) != 0 {
            return Err(err("sequence number is not 0"));
        }
        if le32(&p[..], page::NEXT) != page::INVALID {
            return Err(err("it has a next page"));
        }
        let ds = descriptors(&p, blob, pg)?;
        let mut it = ds.into_iter();
        let (start, clusters) = match (it.next(), it.next()) {
            (Some(Desc::ExtentPage { start, clusters }), None) => (start, clusters),
            _ => return Err(err("expected exactly one extent page descriptor")),
        };
        // The page's id is not checked: SPDK does not, and a snapshot takes
        // over its origin's extent pages as they are, with the origin's id.
        Ok((start, clusters))
    }

    /// Clone lists and snapshot flags from the parent links on disk.
    fn link(&mut self, blobs: &mut [Blob]) {
        let links: Vec<(u64, u64)> = blobs
            .iter()
            .filter_map(|b| match b.parent {
                Parent::Blob { id } => Some((b.id, id)),
                _ => None,
            })
            .collect();
        for (child, parent) in links {
            match blobs.iter_mut().find(|b| b.id == parent) {
                Some(p) => {
                    p.clones.push(child);
                    p.snapshot = true;
                }
                None => self.find(
                    Some(child),
                    format!("its parent blob {parent:#x} is not on disk: SPDK will not open it"),
                ),
            }
        }
    }
}
