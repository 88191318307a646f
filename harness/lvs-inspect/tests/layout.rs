//! The reader's own idea of the on-disk format against the patched tree's
//! headers as the C compiler sees them (spdk-sys's shim) and as bindgen
//! binds them. A series that changes the layout fails here by name.

use lvs_inspect::layout::{self, desc, flags, mask, page, LAYOUT};
use std::collections::BTreeMap;

#[test]
fn the_parser_constants_match_the_c_layout() {
    let c: BTreeMap<&str, u64> = spdk_sys::layout().into_iter().collect();
    let ours: BTreeMap<&str, u64> = LAYOUT.iter().copied().collect();
    assert_eq!(ours.len(), LAYOUT.len(), "a name is listed twice in LAYOUT");
    let mut diffs = vec![];
    for (name, v) in &c {
        match ours.get(name) {
            None => diffs.push(format!(
                "{name}: C says {v}, the reader has no such constant"
            )),
            Some(o) if o != v => diffs.push(format!("{name}: C says {v}, the reader uses {o}")),
            Some(_) => {}
        }
    }
    for name in ours.keys() {
        if !c.contains_key(name) {
            diffs.push(format!("{name}: the C shim does not export it"));
        }
    }
    assert!(diffs.is_empty(), "layout drift:\n{}", diffs.join("\n"));
}

fn cstr(b: &[u8]) -> &str {
    std::str::from_utf8(b.strip_suffix(b"\0").unwrap_or(b)).unwrap()
}

#[test]
fn the_parser_constants_match_the_bindgen_constants() {
    use spdk_sys as s;
    assert_eq!(layout::PAGE_SIZE as u32, s::SPDK_BS_PAGE_SIZE);
    assert_eq!(
        &layout::SUPER_SIGNATURE[..],
        cstr(s::SPDK_BS_SUPER_BLOCK_SIG).as_bytes()
    );
    assert_eq!(layout::SUPER_VERSION_MAX, s::SPDK_BS_VERSION);
    assert_eq!(layout::SUPER_VERSION_MIN, s::SPDK_BS_INITIAL_VERSION);
    assert_eq!(
        u32::from(mask::TYPE_USED_PAGES),
        s::SPDK_MD_MASK_TYPE_USED_PAGES
    );
    assert_eq!(
        u32::from(mask::TYPE_USED_CLUSTERS),
        s::SPDK_MD_MASK_TYPE_USED_CLUSTERS
    );
    assert_eq!(
        u32::from(mask::TYPE_USED_BLOBIDS),
        s::SPDK_MD_MASK_TYPE_USED_BLOBIDS
    );
    assert_eq!(u32::from(desc::PADDING), s::SPDK_MD_DESCRIPTOR_TYPE_PADDING);
    assert_eq!(
        u32::from(desc::EXTENT_RLE),
        s::SPDK_MD_DESCRIPTOR_TYPE_EXTENT_RLE
    );
    assert_eq!(u32::from(desc::XATTR), s::SPDK_MD_DESCRIPTOR_TYPE_XATTR);
    assert_eq!(u32::from(desc::FLAGS), s::SPDK_MD_DESCRIPTOR_TYPE_FLAGS);
    assert_eq!(
        u32::from(desc::XATTR_INTERNAL),
        s::SPDK_MD_DESCRIPTOR_TYPE_XATTR_INTERNAL
    );
    assert_eq!(
        u32::from(desc::EXTENT_TABLE),
        s::SPDK_MD_DESCRIPTOR_TYPE_EXTENT_TABLE
    );
    assert_eq!(
        u32::from(desc::EXTENT_PAGE),
        s::SPDK_MD_DESCRIPTOR_TYPE_EXTENT_PAGE
    );
    assert_eq!(flags::THIN_PROV, u64::from(s::SPDK_BLOB_THIN_PROV));
    assert_eq!(
        flags::INTERNAL_XATTR,
        u64::from(s::SPDK_BLOB_INTERNAL_XATTR)
    );
    assert_eq!(flags::EXTENT_TABLE, u64::from(s::SPDK_BLOB_EXTENT_TABLE));
    assert_eq!(
        flags::EXTERNAL_SNAPSHOT,
        u64::from(s::SPDK_BLOB_EXTERNAL_SNAPSHOT)
    );
    assert_eq!(
        flags::INVALID_MASK,
        u64::from(s::SPDK_BLOB_INVALID_FLAGS_MASK)
    );
    assert_eq!(flags::READ_ONLY, u64::from(s::SPDK_BLOB_READ_ONLY));
    assert_eq!(
        flags::DATA_RO_MASK,
        u64::from(s::SPDK_BLOB_DATA_RO_FLAGS_MASK)
    );
    assert_eq!(flags::CLEAR_METHOD, u64::from(s::SPDK_BLOB_CLEAR_METHOD));
    assert_eq!(flags::MD_RO_MASK, u64::from(s::SPDK_BLOB_MD_RO_FLAGS_MASK));
    assert_eq!(layout::XATTR_PARENT, cstr(s::BLOB_SNAPSHOT));
    assert_eq!(
        layout::XATTR_SNAPSHOT_IN_PROGRESS,
        cstr(s::SNAPSHOT_IN_PROGRESS)
    );
    assert_eq!(
        layout::XATTR_SNAPSHOT_PENDING_REMOVAL,
        cstr(s::SNAPSHOT_PENDING_REMOVAL)
    );
    assert_eq!(
        layout::XATTR_EXTERNAL_SNAPSHOT_ID,
        cstr(s::BLOB_EXTERNAL_SNAPSHOT_ID)
    );
    assert_eq!(
        layout::XATTR_CLUSTER_CHECKSUMS,
        cstr(s::BLOB_CLUSTER_CHECKSUMS)
    );
    assert_eq!(
        layout::CLUSTER_CHECKSUMS_PER_WINDOW,
        u64::from(s::BLOB_CLUSTER_CHECKSUMS_PER_WINDOW)
    );
    assert_eq!(
        std::mem::size_of::<s::spdk_blob_md_page>(),
        layout::PAGE_SIZE,
        "bindgen's md page"
    );
    assert_eq!(std::mem::offset_of!(s::spdk_blob_md_page, next), page::NEXT);
}

#[test]
fn blob_ids_match_the_static_inline_helpers() {
    for p in [0u32, 1, 4095, u32::MAX] {
        assert_eq!(
            layout::BLOBID_HIGH_BIT | u64::from(p),
            spdk_sys::page_to_blobid(u64::from(p)),
            "page {p}"
        );
    }
}
