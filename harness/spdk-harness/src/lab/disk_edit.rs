//! Changes to a blobstore on a stopped disk's file, as another program
//! would have left them: what a scenario needs on disk that no RPC of the
//! build under test makes (an xattr Longhorn v1.8 sets, on a master build
//! that has no RPC to set xattrs).

use crate::error::{Context, Error, Result};
use lvs_inspect::layout::{desc, page, PAGE_SIZE};
use lvs_inspect::{page_crc, Store};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Add the public xattr `name` = `value` to blob `blob_id` of the store in
/// `file` (read as `store` while no target had it open): a descriptor after
/// the last one of the blob's last md page, whose crc is then computed
/// again. Fails, changing nothing, if that page has no room or the blob
/// already has an xattr of that name.
pub fn add_xattr(file: &Path, store: &Store, blob_id: u64, name: &str, value: &[u8]) -> Result<()> {
    let blob = store
        .blob(blob_id)
        .ok_or_else(|| Error::Tool(format!("no blob {blob_id:#x} in {}", file.display())))?;
    if blob.xattr(name).is_some() {
        return Err(Error::Tool(format!(
            "blob {blob_id:#x} already has an xattr {name}"
        )));
    }
    let idx = *blob
        .md_pages
        .last()
        .ok_or_else(|| Error::Tool(format!("blob {blob_id:#x} has no md page")))?;
    let sb = &store.super_block;
    let off = (u64::from(sb.md.start) + u64::from(idx)) * u64::from(sb.md_page_size);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .ctx(|| format!("open {}", file.display()))?;
    let mut p = [0u8; PAGE_SIZE];
    f.read_exact_at(&mut p, off)
        .ctx(|| format!("read md page {idx} of {}", file.display()))?;
    let stored = u32::from_le_bytes(p[page::CRC..page::CRC + 4].try_into().unwrap());
    if stored != page_crc(&p) {
        return Err(Error::Tool(format!(
            "md page {idx} of {} has a bad crc: not editing it",
            file.display()
        )));
    }
    // The end of the descriptors: the first padding descriptor.
    let end = page::DESCRIPTORS + page::DESCRIPTORS_LEN;
    let mut pos = page::DESCRIPTORS;
    while pos + desc::HEADER <= end && p[pos] != desc::PADDING {
        let len = u32::from_le_bytes(p[pos + 1..pos + 5].try_into().unwrap()) as usize;
        pos += desc::HEADER + len;
    }
    let body = desc::XATTR_HEADER + name.len() + value.len();
    if pos + desc::HEADER + body > end
        || name.len() > u16::MAX as usize
        || value.len() > u16::MAX as usize
    {
        return Err(Error::Tool(format!(
            "md page {idx} of blob {blob_id:#x} has no room for a {body}-byte xattr"
        )));
    }
    p[pos] = desc::XATTR;
    p[pos + 1..pos + 5].copy_from_slice(&(body as u32).to_le_bytes());
    let mut at = pos + desc::HEADER;
    p[at..at + 2].copy_from_slice(&(name.len() as u16).to_le_bytes());
    p[at + 2..at + 4].copy_from_slice(&(value.len() as u16).to_le_bytes());
    at += desc::XATTR_HEADER;
    p[at..at + name.len()].copy_from_slice(name.as_bytes());
    at += name.len();
    p[at..at + value.len()].copy_from_slice(value);
    let crc = page_crc(&p);
    p[page::CRC..page::CRC + 4].copy_from_slice(&crc.to_le_bytes());
    f.write_all_at(&p, off)
        .ctx(|| format!("write md page {idx} of {}", file.display()))?;
    f.sync_all().ctx(|| format!("sync {}", file.display()))?;
    Ok(())
}
