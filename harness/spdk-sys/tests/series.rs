//! The series' APIs are really there: each one `apis.rs` lists (and the
//! library checks at compile time) is defined by one of the tree's built
//! static libraries. And the C shim and bindgen agree on the layout.

use spdk_sys::*;
use std::collections::BTreeSet;
use std::path::Path;

/// Global symbols defined by a System V / GNU `ar` archive, from its symbol
/// table (the `/` member: big-endian count, offsets, NUL-terminated names).
fn archive_symbols(path: &Path) -> BTreeSet<String> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        data.starts_with(b"!<arch>\n"),
        "{} is not an archive",
        path.display()
    );
    let hdr = &data[8..68];
    assert!(
        hdr.starts_with(b"/ "),
        "{}: the first member is not the symbol table",
        path.display()
    );
    let size: usize = std::str::from_utf8(&hdr[48..58])
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let body = &data[68..68 + size];
    let count = u32::from_be_bytes(body[..4].try_into().unwrap()) as usize;
    let names = &body[4 + 4 * count..];
    names
        .split(|&b| b == 0)
        .take(count)
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect()
}

#[test]
fn every_series_api_is_defined_by_a_built_library() {
    let lib = Path::new(TREE).join("build/lib");
    let mut defined = BTreeSet::new();
    for e in std::fs::read_dir(&lib).unwrap_or_else(|e| panic!("{}: {e}", lib.display())) {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("libspdk_") && name.ends_with(".a") {
            defined.extend(archive_symbols(&p));
        }
    }
    assert!(
        defined.contains("spdk_bs_init"),
        "the archive reader found no blobstore symbols in {}",
        lib.display()
    );
    let missing: Vec<&str> = SERIES_APIS
        .iter()
        .map(|(_, n)| *n)
        .filter(|n| !defined.contains(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "declared in the headers but defined by no library in {}: {missing:?} (a stale build?)",
        lib.display()
    );
}

#[test]
fn the_series_list_names_each_api_once() {
    let mut seen = BTreeSet::new();
    for (h, n) in SERIES_APIS {
        assert!(seen.insert(*n), "{n} is listed twice");
        assert!(h.ends_with(".h"), "{n}: header {h}");
    }
    assert!(seen.contains("spdk_bs_blob_detach_parent"));
}

fn shim(name: &str) -> u64 {
    layout()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("the shim exports no {name}"))
        .1
}

/// gcc (through `cc`) and clang (through bindgen) lay the packed structs out
/// the same way.
#[test]
fn the_c_shim_and_bindgen_agree_on_the_layout() {
    use std::mem::{offset_of, size_of};
    let pairs: &[(&str, usize)] = &[
        ("super.size", size_of::<spdk_bs_super_block>()),
        ("super.clean", offset_of!(spdk_bs_super_block, clean)),
        (
            "super.super_blob",
            offset_of!(spdk_bs_super_block, super_blob),
        ),
        (
            "super.cluster_size",
            offset_of!(spdk_bs_super_block, cluster_size),
        ),
        ("super.md_start", offset_of!(spdk_bs_super_block, md_start)),
        ("super.md_len", offset_of!(spdk_bs_super_block, md_len)),
        ("super.bs_size", offset_of!(spdk_bs_super_block, size)),
        (
            "super.md_page_size",
            offset_of!(spdk_bs_super_block, md_page_size),
        ),
        ("super.crc", offset_of!(spdk_bs_super_block, crc)),
        (
            "page.sequence_num",
            offset_of!(spdk_blob_md_page, sequence_num),
        ),
        (
            "page.descriptors",
            offset_of!(spdk_blob_md_page, descriptors),
        ),
        ("page.next", offset_of!(spdk_blob_md_page, next)),
        ("page.crc", offset_of!(spdk_blob_md_page, crc)),
        ("desc.header", size_of::<spdk_blob_md_descriptor>()),
        ("flags.size", size_of::<spdk_blob_md_descriptor_flags>()),
        (
            "flags.md_ro_flags",
            offset_of!(spdk_blob_md_descriptor_flags, md_ro_flags),
        ),
        (
            "xattr.value_length",
            offset_of!(spdk_blob_md_descriptor_xattr, value_length),
        ),
        (
            "extent_table.extent_page",
            offset_of!(spdk_blob_md_descriptor_extent_table, extent_page),
        ),
        (
            "extent_page.cluster_idx",
            offset_of!(spdk_blob_md_descriptor_extent_page, cluster_idx),
        ),
        ("mask.bits", offset_of!(spdk_bs_md_mask, mask)),
    ];
    for (name, rust) in pairs {
        assert_eq!(shim(name), *rust as u64, "{name}: C shim vs bindgen");
    }
    assert_eq!(shim("page_size"), u64::from(SPDK_BS_PAGE_SIZE));
    assert_eq!(
        shim("desc.type_extent_page"),
        u64::from(SPDK_MD_DESCRIPTOR_TYPE_EXTENT_PAGE)
    );
    assert_eq!(shim("extents_per_extent_page"), 512);
}

#[test]
fn blob_ids_are_the_high_bit_and_the_page_index() {
    assert_eq!(page_to_blobid(7), (1 << 32) | 7);
    assert_eq!(blobid_to_page((1 << 32) | 7), 7);
    assert_eq!(
        page_to_blobid(u64::from(u32::MAX) + 1),
        u64::MAX,
        "SPDK_BLOBID_INVALID"
    );
}
