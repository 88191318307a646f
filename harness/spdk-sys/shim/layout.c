/*
 * The blobstore's on-disk layout as the C compiler sees it, for an
 * independent reader of that format (lvs-inspect) to compare its own
 * constants against. The _Static_asserts are the assumptions such a reader
 * makes; each breaks this build when the series changes the layout under it.
 * Nothing here calls SPDK: it only includes the headers.
 */
#include "spdk/stdinc.h"
#include "blobstore.h"

#define PAGE struct spdk_blob_md_page
#define SUPER struct spdk_bs_super_block

_Static_assert(sizeof(PAGE) == SPDK_BS_PAGE_SIZE, "an md page is one 4 KiB page");
_Static_assert(offsetof(PAGE, crc) == SPDK_BS_PAGE_SIZE - 4,
	       "the crc is the last 4 bytes and covers everything before it");
_Static_assert(sizeof(SUPER) == SPDK_BS_PAGE_SIZE, "the super block is one page");
_Static_assert(offsetof(SUPER, crc) == SPDK_BS_PAGE_SIZE - 4, "super block crc is last");
_Static_assert(sizeof(spdk_blob_id) == 8, "blob ids are 64-bit");
_Static_assert(sizeof(struct spdk_blob_md_descriptor) == 5,
	       "a descriptor header is a 1-byte type and a 4-byte length, packed");
_Static_assert(SPDK_BLOB_BLOBID_HIGH_BIT == (1ULL << 32), "blob id = high bit | page index");
_Static_assert(SPDK_BS_VERSION == 3, "the reader knows on-disk versions 1 to 3");

struct spdk_sys_layout_entry {
	const char *name;
	uint64_t value;
};

#define OFF(s, f) offsetof(struct s, f)
#define SZ(s) sizeof(struct s)

const struct spdk_sys_layout_entry spdk_sys_layout[] = {
	{"page_size", SPDK_BS_PAGE_SIZE},
	{"super.size", SZ(spdk_bs_super_block)},
	{"super.signature", OFF(spdk_bs_super_block, signature)},
	{"super.version", OFF(spdk_bs_super_block, version)},
	{"super.length", OFF(spdk_bs_super_block, length)},
	{"super.clean", OFF(spdk_bs_super_block, clean)},
	{"super.super_blob", OFF(spdk_bs_super_block, super_blob)},
	{"super.cluster_size", OFF(spdk_bs_super_block, cluster_size)},
	{"super.used_page_mask_start", OFF(spdk_bs_super_block, used_page_mask_start)},
	{"super.used_page_mask_len", OFF(spdk_bs_super_block, used_page_mask_len)},
	{"super.used_cluster_mask_start", OFF(spdk_bs_super_block, used_cluster_mask_start)},
	{"super.used_cluster_mask_len", OFF(spdk_bs_super_block, used_cluster_mask_len)},
	{"super.md_start", OFF(spdk_bs_super_block, md_start)},
	{"super.md_len", OFF(spdk_bs_super_block, md_len)},
	{"super.bstype", OFF(spdk_bs_super_block, bstype)},
	{"super.used_blobid_mask_start", OFF(spdk_bs_super_block, used_blobid_mask_start)},
	{"super.used_blobid_mask_len", OFF(spdk_bs_super_block, used_blobid_mask_len)},
	{"super.bs_size", OFF(spdk_bs_super_block, size)},
	{"super.io_unit_size", OFF(spdk_bs_super_block, io_unit_size)},
	{"super.md_page_size", OFF(spdk_bs_super_block, md_page_size)},
	{"super.crc", OFF(spdk_bs_super_block, crc)},
	{"super.version_max", SPDK_BS_VERSION},
	{"super.version_min", SPDK_BS_INITIAL_VERSION},
	{"mask.type", OFF(spdk_bs_md_mask, type)},
	{"mask.length", OFF(spdk_bs_md_mask, length)},
	{"mask.bits", OFF(spdk_bs_md_mask, mask)},
	{"mask.type_used_pages", SPDK_MD_MASK_TYPE_USED_PAGES},
	{"mask.type_used_clusters", SPDK_MD_MASK_TYPE_USED_CLUSTERS},
	{"mask.type_used_blobids", SPDK_MD_MASK_TYPE_USED_BLOBIDS},
	{"page.id", OFF(spdk_blob_md_page, id)},
	{"page.sequence_num", OFF(spdk_blob_md_page, sequence_num)},
	{"page.descriptors", OFF(spdk_blob_md_page, descriptors)},
	{"page.descriptors_len", sizeof(((PAGE *)0)->descriptors)},
	{"page.next", OFF(spdk_blob_md_page, next)},
	{"page.crc", OFF(spdk_blob_md_page, crc)},
	{"page.invalid", SPDK_INVALID_MD_PAGE},
	{"desc.header", SZ(spdk_blob_md_descriptor)},
	{"desc.type_padding", SPDK_MD_DESCRIPTOR_TYPE_PADDING},
	{"desc.type_extent_rle", SPDK_MD_DESCRIPTOR_TYPE_EXTENT_RLE},
	{"desc.type_xattr", SPDK_MD_DESCRIPTOR_TYPE_XATTR},
	{"desc.type_flags", SPDK_MD_DESCRIPTOR_TYPE_FLAGS},
	{"desc.type_xattr_internal", SPDK_MD_DESCRIPTOR_TYPE_XATTR_INTERNAL},
	{"desc.type_extent_table", SPDK_MD_DESCRIPTOR_TYPE_EXTENT_TABLE},
	{"desc.type_extent_page", SPDK_MD_DESCRIPTOR_TYPE_EXTENT_PAGE},
	{"xattr.name_length", OFF(spdk_blob_md_descriptor_xattr, name_length)},
	{"xattr.value_length", OFF(spdk_blob_md_descriptor_xattr, value_length)},
	{"xattr.name", OFF(spdk_blob_md_descriptor_xattr, name)},
	{"flags.size", SZ(spdk_blob_md_descriptor_flags)},
	{"flags.invalid_flags", OFF(spdk_blob_md_descriptor_flags, invalid_flags)},
	{"flags.data_ro_flags", OFF(spdk_blob_md_descriptor_flags, data_ro_flags)},
	{"flags.md_ro_flags", OFF(spdk_blob_md_descriptor_flags, md_ro_flags)},
	{"flags.thin_prov", SPDK_BLOB_THIN_PROV},
	{"flags.internal_xattr", SPDK_BLOB_INTERNAL_XATTR},
	{"flags.extent_table", SPDK_BLOB_EXTENT_TABLE},
	{"flags.external_snapshot", SPDK_BLOB_EXTERNAL_SNAPSHOT},
	{"flags.invalid_mask", SPDK_BLOB_INVALID_FLAGS_MASK},
	{"flags.read_only", SPDK_BLOB_READ_ONLY},
	{"flags.data_ro_mask", SPDK_BLOB_DATA_RO_FLAGS_MASK},
	{"flags.clear_method", SPDK_BLOB_CLEAR_METHOD},
	{"flags.md_ro_mask", SPDK_BLOB_MD_RO_FLAGS_MASK},
	{"extent_rle.extents", OFF(spdk_blob_md_descriptor_extent_rle, extents)},
	{"extent_rle.entry", sizeof(((struct spdk_blob_md_descriptor_extent_rle *)0)->extents[0])},
	{"extent_table.num_clusters", OFF(spdk_blob_md_descriptor_extent_table, num_clusters)},
	{"extent_table.extent_page", OFF(spdk_blob_md_descriptor_extent_table, extent_page)},
	{"extent_table.entry", sizeof(((struct spdk_blob_md_descriptor_extent_table *)0)->extent_page[0])},
	{"extent_page.start_cluster_idx", OFF(spdk_blob_md_descriptor_extent_page, start_cluster_idx)},
	{"extent_page.cluster_idx", OFF(spdk_blob_md_descriptor_extent_page, cluster_idx)},
	{"blobid.high_bit", SPDK_BLOB_BLOBID_HIGH_BIT},
	{"extents_per_extent_page_max", SPDK_EXTENTS_PER_EP_MAX},
};

const size_t spdk_sys_layout_len = sizeof(spdk_sys_layout) / sizeof(spdk_sys_layout[0]);

/* Values that only static inline code computes. */

/*
 * SPDK_EXTENTS_PER_EP is spdk_align64pow2(SPDK_EXTENTS_PER_EP_MAX + 1) >> 1,
 * and spdk_align64pow2() calls spdk_u64log2() of libspdk_util, which this
 * shim does not link: the same rounding, the largest power of two that is
 * at most SPDK_EXTENTS_PER_EP_MAX, is done here.
 */
uint64_t
spdk_sys_extents_per_ep(void)
{
	uint64_t n = 1;

	while (n * 2 <= SPDK_EXTENTS_PER_EP_MAX) {
		n *= 2;
	}
	return n;
}

uint64_t
spdk_sys_page_to_blobid(uint64_t page_idx)
{
	return bs_page_to_blobid(page_idx);
}

uint64_t
spdk_sys_blobid_to_page(uint64_t id)
{
	return bs_blobid_to_page(id);
}
