//! The table the CLI prints (JSON is the serde form of [`Store`]).

use crate::{Alloc, Blob, Parent, Store, Value};
use std::fmt::Write;

fn size(bytes: u64) -> String {
    const MIB: u64 = 1 << 20;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} B")
    }
}

/// Allocated clusters as runs: `blob:disk`, or `b0-b1:d0-d1` where both run on.
pub fn runs(allocs: &[Alloc]) -> String {
    let mut out: Vec<String> = vec![];
    let mut i = 0;
    while i < allocs.len() {
        let mut j = i;
        while j + 1 < allocs.len()
            && allocs[j + 1].blob == allocs[j].blob + 1
            && u64::from(allocs[j + 1].disk) == u64::from(allocs[j].disk) + 1
        {
            j += 1;
        }
        let (a, b) = (allocs[i], allocs[j]);
        out.push(if i == j {
            format!("{}:{}", a.blob, a.disk)
        } else {
            format!("{}-{}:{}-{}", a.blob, b.blob, a.disk, b.disk)
        });
        i = j + 1;
    }
    if out.is_empty() {
        "-".into()
    } else {
        out.join(" ")
    }
}

fn flags(b: &Blob) -> String {
    let mut f = vec![];
    if b.super_blob {
        f.push("super");
    }
    f.push(if b.thin { "thin" } else { "thick" });
    if b.read_only {
        f.push("ro");
    }
    if b.snapshot {
        f.push("snapshot");
    }
    if b.clone {
        f.push("clone");
    }
    if b.esnap_clone {
        f.push("esnap-clone");
    }
    f.join(",")
}

fn parent(s: &Store, p: &Parent) -> String {
    match p {
        Parent::None => "-".into(),
        Parent::Blob { id } => match s.blob(*id).and_then(Blob::name) {
            Some(n) => format!("{id:#x} ({n})"),
            None => format!("{id:#x}"),
        },
        Parent::External { id } => format!("external {id}"),
    }
}

pub fn value(v: &Value) -> String {
    match v {
        Value::Text(s) => format!("{s:?}"),
        Value::Uuid(s) => s.clone(),
        Value::BlobId(id) => format!("blob {id:#x}"),
        Value::Checksum(c) => format!("{c:#018x}"),
        Value::Hex(h) if h.is_empty() => "(empty)".into(),
        Value::Hex(h) => format!("0x{h}"),
    }
}

/// A human-readable report of the whole store.
pub fn table(s: &Store) -> String {
    let sb = &s.super_block;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "blobstore v{} {:?}, {} bytes on an image of {}: {}",
        sb.version,
        sb.bstype,
        sb.size,
        s.image_len,
        if s.clean {
            "CLEAN (loads from its masks)"
        } else {
            "DIRTY (replayed from the per-blob metadata; masks are stale)"
        }
    );
    let _ = writeln!(
        o,
        "cluster {}, md page {} B, io unit {} B; md region pages {}+{}, masks: md pages {}+{}, clusters {}+{}, blob ids {}+{}",
        size(u64::from(sb.cluster_size)),
        sb.md_page_size,
        sb.io_unit_size,
        sb.md.start,
        sb.md.len,
        sb.used_page_mask.start,
        sb.used_page_mask.len,
        sb.used_cluster_mask.start,
        sb.used_cluster_mask.len,
        sb.used_blobid_mask.start,
        sb.used_blobid_mask.len
    );
    let c = &s.clusters;
    let _ = writeln!(
        o,
        "clusters (from the blobs): {} total, {} metadata, {} data, {} used, {} free",
        c.total, c.metadata, c.data, c.used, c.free
    );
    if let Some(m) = &s.masks {
        let _ = writeln!(
            o,
            "masks on disk ({}): {} used md pages, {} used clusters, {} blob ids",
            if m.trusted {
                "checked"
            } else {
                "stale, not used"
            },
            m.used_md_pages,
            m.used_clusters,
            m.used_blobids
        );
    }
    if let Some(sbid) = sb.super_blob {
        let _ = writeln!(
            o,
            "lvstore: {} uuid {} (super blob {sbid:#x})",
            s.lvstore_name().unwrap_or("?"),
            s.lvstore_uuid().unwrap_or("?")
        );
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "{:<12} {:<16} {:<28} {:<24} {:>6} {:>6}  CLUSTERS (blob:disk)",
        "BLOB", "NAME", "FLAGS", "PARENT", "SIZE", "ALLOC"
    );
    for b in &s.blobs {
        let _ = writeln!(
            o,
            "{:<12} {:<16} {:<28} {:<24} {:>6} {:>6}  {}",
            format!("{:#x}", b.id),
            b.name().unwrap_or("-"),
            flags(b),
            parent(s, &b.parent),
            b.num_clusters,
            b.allocated.len(),
            runs(&b.allocated)
        );
        if !b.clones.is_empty() {
            let names: Vec<String> = b
                .clones
                .iter()
                .map(|id| match s.blob(*id).and_then(Blob::name) {
                    Some(n) => format!("{id:#x} ({n})"),
                    None => format!("{id:#x}"),
                })
                .collect();
            let _ = writeln!(o, "    clones: {}", names.join(", "));
        }
        for x in &b.xattrs {
            let _ = writeln!(
                o,
                "    {}{} = {}",
                if x.internal { "internal " } else { "" },
                x.name,
                value(&x.value)
            );
        }
    }
    let _ = writeln!(o);
    if s.findings.is_empty() {
        let _ = writeln!(o, "findings: none");
    } else {
        let _ = writeln!(o, "findings ({}):", s.findings.len());
        for f in &s.findings {
            let _ = writeln!(o, "  - {f}");
        }
    }
    o
}
