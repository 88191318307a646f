//! The blobstore's on-disk format, as this reader understands it from
//! `lib/blob/blobstore.h` and `blobstore.c`. Every number is written out here
//! rather than taken from SPDK; `tests/layout.rs` compares [`LAYOUT`] with what
//! the C compiler says about the patched tree's headers (through `spdk-sys`),
//! so a format change in the series fails that test instead of misreading.
//!
//! All integers on disk are little-endian; structs are packed.

/// An md page, the super block and the unit of the mask regions' lengths is
/// `md_page_size` bytes on disk; the struct inside is always this big.
pub const PAGE_SIZE: usize = 4096;
/// The crc (crc32c, init and xorout `0xffffffff`) covers the page before it.
pub const CRC_OFFSET: usize = PAGE_SIZE - 4;

pub const SUPER_SIGNATURE: &[u8; 8] = b"SPDKBLOB";
pub const SUPER_VERSION_MIN: u32 = 1;
pub const SUPER_VERSION_MAX: u32 = 3;

/// Offsets in `struct spdk_bs_super_block`.
pub mod sb {
    pub const SIGNATURE: usize = 0;
    pub const VERSION: usize = 8;
    pub const LENGTH: usize = 12;
    pub const CLEAN: usize = 16;
    pub const SUPER_BLOB: usize = 20;
    pub const CLUSTER_SIZE: usize = 28;
    pub const USED_PAGE_MASK_START: usize = 32;
    pub const USED_PAGE_MASK_LEN: usize = 36;
    pub const USED_CLUSTER_MASK_START: usize = 40;
    pub const USED_CLUSTER_MASK_LEN: usize = 44;
    pub const MD_START: usize = 48;
    pub const MD_LEN: usize = 52;
    pub const BSTYPE: usize = 56;
    pub const BSTYPE_LEN: usize = 16;
    pub const USED_BLOBID_MASK_START: usize = 72;
    pub const USED_BLOBID_MASK_LEN: usize = 76;
    pub const SIZE: usize = 80;
    pub const IO_UNIT_SIZE: usize = 88;
    pub const MD_PAGE_SIZE: usize = 92;
    pub const CRC: usize = super::CRC_OFFSET;
}

/// `struct spdk_bs_md_mask`: a type byte, a length in bits, the bits (bit `i`
/// is bit `i % 8` of byte `i / 8`).
pub mod mask {
    pub const TYPE: usize = 0;
    pub const LENGTH: usize = 1;
    pub const BITS: usize = 5;
    pub const TYPE_USED_PAGES: u8 = 0;
    pub const TYPE_USED_CLUSTERS: u8 = 1;
    pub const TYPE_USED_BLOBIDS: u8 = 2;
}

/// `struct spdk_blob_md_page`.
pub mod page {
    pub const ID: usize = 0;
    pub const SEQUENCE_NUM: usize = 8;
    pub const DESCRIPTORS: usize = 16;
    pub const DESCRIPTORS_LEN: usize = 4072;
    pub const NEXT: usize = 4088;
    pub const CRC: usize = super::CRC_OFFSET;
    /// `next` of the last page of a chain.
    pub const INVALID: u32 = u32::MAX;
}

/// Descriptors: a type byte and a 4-byte length of what follows.
pub mod desc {
    pub const HEADER: usize = 5;
    pub const PADDING: u8 = 0;
    pub const EXTENT_RLE: u8 = 1;
    pub const XATTR: u8 = 2;
    pub const FLAGS: u8 = 3;
    pub const XATTR_INTERNAL: u8 = 4;
    pub const EXTENT_TABLE: u8 = 5;
    pub const EXTENT_PAGE: u8 = 6;
    /// Body of FLAGS: invalid, data read-only and md read-only flags, u64 each.
    pub const FLAGS_BODY: usize = 24;
    /// RLE entry: cluster index (0 = not allocated) and run length, u32 each.
    pub const RLE_ENTRY: usize = 8;
    /// Extent table: u64 cluster count, then entries of md page index
    /// (0 = not allocated) and page count, u32 each.
    pub const ET_HEADER: usize = 8;
    pub const ET_ENTRY: usize = 8;
    /// Extent page: u32 first cluster, then u32 cluster indexes.
    pub const EP_HEADER: usize = 4;
    /// Xattr: u16 name length, u16 value length, name, value.
    pub const XATTR_HEADER: usize = 4;
}

/// Clusters one extent page maps.
pub const EXTENTS_PER_EXTENT_PAGE: u64 = 512;

/// Flag bits.
pub mod flags {
    pub const THIN_PROV: u64 = 1 << 0;
    pub const INTERNAL_XATTR: u64 = 1 << 1;
    pub const EXTENT_TABLE: u64 = 1 << 2;
    pub const EXTERNAL_SNAPSHOT: u64 = 1 << 3;
    /// invalid_flags this reader (and SPDK) knows; others make SPDK refuse the blob.
    pub const INVALID_MASK: u64 = THIN_PROV | INTERNAL_XATTR | EXTENT_TABLE | EXTERNAL_SNAPSHOT;
    pub const READ_ONLY: u64 = 1 << 0;
    pub const DATA_RO_MASK: u64 = READ_ONLY;
    pub const CLEAR_METHOD: u64 = 3;
    pub const MD_RO_MASK: u64 = CLEAR_METHOD;
}

/// A blob's id is this bit or'ed with the index of its first md page.
pub const BLOBID_HIGH_BIT: u64 = 1 << 32;
/// `SPDK_BLOBID_INVALID`: no super blob.
pub const BLOBID_INVALID: u64 = u64::MAX;

/// Internal xattrs (blobstore.h).
pub const XATTR_PARENT: &str = "SNAP";
pub const XATTR_SNAPSHOT_IN_PROGRESS: &str = "SNAPTMP";
pub const XATTR_SNAPSHOT_PENDING_REMOVAL: &str = "SNAPRM";
pub const XATTR_EXTERNAL_SNAPSHOT_ID: &str = "EXTSNAP";
/// Per-cluster snapshot checksums (the series' `BLOB_CLUSTER_CHECKSUMS`):
/// the window size and the whole checksum's 8 bytes; window `k`, the values
/// of clusters `k * W ..` by position, is the xattr of this name and `k`.
pub const XATTR_CLUSTER_CHECKSUMS: &str = "CKSUMW";
/// How many values a pass puts in a window (`BLOB_CLUSTER_CHECKSUMS_PER_WINDOW`);
/// a reader takes the size from the header.
pub const CLUSTER_CHECKSUMS_PER_WINDOW: u64 = 500;

/// The layout by the names `spdk-sys`'s C shim exports, for the cross-check.
pub const LAYOUT: &[(&str, u64)] = &[
    ("page_size", PAGE_SIZE as u64),
    ("super.size", PAGE_SIZE as u64),
    ("super.signature", sb::SIGNATURE as u64),
    ("super.version", sb::VERSION as u64),
    ("super.length", sb::LENGTH as u64),
    ("super.clean", sb::CLEAN as u64),
    ("super.super_blob", sb::SUPER_BLOB as u64),
    ("super.cluster_size", sb::CLUSTER_SIZE as u64),
    (
        "super.used_page_mask_start",
        sb::USED_PAGE_MASK_START as u64,
    ),
    ("super.used_page_mask_len", sb::USED_PAGE_MASK_LEN as u64),
    (
        "super.used_cluster_mask_start",
        sb::USED_CLUSTER_MASK_START as u64,
    ),
    (
        "super.used_cluster_mask_len",
        sb::USED_CLUSTER_MASK_LEN as u64,
    ),
    ("super.md_start", sb::MD_START as u64),
    ("super.md_len", sb::MD_LEN as u64),
    ("super.bstype", sb::BSTYPE as u64),
    (
        "super.used_blobid_mask_start",
        sb::USED_BLOBID_MASK_START as u64,
    ),
    (
        "super.used_blobid_mask_len",
        sb::USED_BLOBID_MASK_LEN as u64,
    ),
    ("super.bs_size", sb::SIZE as u64),
    ("super.io_unit_size", sb::IO_UNIT_SIZE as u64),
    ("super.md_page_size", sb::MD_PAGE_SIZE as u64),
    ("super.crc", sb::CRC as u64),
    ("super.version_max", SUPER_VERSION_MAX as u64),
    ("super.version_min", SUPER_VERSION_MIN as u64),
    ("mask.type", mask::TYPE as u64),
    ("mask.length", mask::LENGTH as u64),
    ("mask.bits", mask::BITS as u64),
    ("mask.type_used_pages", mask::TYPE_USED_PAGES as u64),
    ("mask.type_used_clusters", mask::TYPE_USED_CLUSTERS as u64),
    ("mask.type_used_blobids", mask::TYPE_USED_BLOBIDS as u64),
    ("page.id", page::ID as u64),
    ("page.sequence_num", page::SEQUENCE_NUM as u64),
    ("page.descriptors", page::DESCRIPTORS as u64),
    ("page.descriptors_len", page::DESCRIPTORS_LEN as u64),
    ("page.next", page::NEXT as u64),
    ("page.crc", page::CRC as u64),
    ("page.invalid", page::INVALID as u64),
    ("desc.header", desc::HEADER as u64),
    ("desc.type_padding", desc::PADDING as u64),
    ("desc.type_extent_rle", desc::EXTENT_RLE as u64),
    ("desc.type_xattr", desc::XATTR as u64),
    ("desc.type_flags", desc::FLAGS as u64),
    ("desc.type_xattr_internal", desc::XATTR_INTERNAL as u64),
    ("desc.type_extent_table", desc::EXTENT_TABLE as u64),
    ("desc.type_extent_page", desc::EXTENT_PAGE as u64),
    ("xattr.name_length", desc::HEADER as u64),
    ("xattr.value_length", (desc::HEADER + 2) as u64),
    ("xattr.name", (desc::HEADER + desc::XATTR_HEADER) as u64),
    ("flags.size", (desc::HEADER + desc::FLAGS_BODY) as u64),
    ("flags.invalid_flags", desc::HEADER as u64),
    ("flags.data_ro_flags", (desc::HEADER + 8) as u64),
    ("flags.md_ro_flags", (desc::HEADER + 16) as u64),
    ("flags.thin_prov", flags::THIN_PROV),
    ("flags.internal_xattr", flags::INTERNAL_XATTR),
    ("flags.extent_table", flags::EXTENT_TABLE),
    ("flags.external_snapshot", flags::EXTERNAL_SNAPSHOT),
    ("flags.invalid_mask", flags::INVALID_MASK),
    ("flags.read_only", flags::READ_ONLY),
    ("flags.data_ro_mask", flags::DATA_RO_MASK),
    ("flags.clear_method", flags::CLEAR_METHOD),
    ("flags.md_ro_mask", flags::MD_RO_MASK),
    ("extent_rle.extents", desc::HEADER as u64),
    ("extent_rle.entry", desc::RLE_ENTRY as u64),
    ("extent_table.num_clusters", desc::HEADER as u64),
    (
        "extent_table.extent_page",
        (desc::HEADER + desc::ET_HEADER) as u64,
    ),
    ("extent_table.entry", desc::ET_ENTRY as u64),
    ("extent_page.start_cluster_idx", desc::HEADER as u64),
    (
        "extent_page.cluster_idx",
        (desc::HEADER + desc::EP_HEADER) as u64,
    ),
    ("blobid.high_bit", BLOBID_HIGH_BIT),
    ("extents_per_extent_page", EXTENTS_PER_EXTENT_PAGE),
    (
        "extents_per_extent_page_max",
        ((page::DESCRIPTORS_LEN - desc::HEADER - desc::EP_HEADER) / 4) as u64,
    ),
];
