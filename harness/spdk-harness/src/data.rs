//! Test patterns and byte comparison that says where and how data differs.

use crate::error::{Error, Result};

/// Deterministic, position-dependent bytes: a wrong offset or a stale block
/// never matches by accident. `seed` tells patterns apart.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    while out.len() < len {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.truncate(len);
    // Never all zeros in a block, so "reads as zeros" can't pass by chance.
    if let Some(b) = out.first_mut() {
        *b |= 1;
    }
    out
}

/// The first bytes of a [`stamped`] block: this magic, then the seed, the
/// cluster index and the block index, each a little-endian u64.
const STAMP_MAGIC: u64 = u64::from_le_bytes(*b"STAMPED!");
const STAMP_LEN: usize = 32;

/// Where a stamped block says it belongs: `(seed, cluster, block)`.
pub type Stamp = (u64, u64, u64);

/// Bytes `[offset, offset + len)` of a device whose every `block`-sized
/// block is stamped with `seed`, its cluster index and its block index in
/// the cluster (clusters of `cluster` bytes), then filled with bytes that
/// depend on all three. A block read from the wrong place, or from another
/// writer (another seed), says where it came from ([`stamp_of`]).
/// `offset` and `len` are whole blocks.
pub fn stamped(seed: u64, cluster: u64, block: u64, offset: u64, len: u64) -> Vec<u8> {
    assert!(
        offset.is_multiple_of(block) && len.is_multiple_of(block) && cluster.is_multiple_of(block),
        "stamped ranges are whole blocks"
    );
    let mut out = Vec::with_capacity(len as usize);
    let mut at = offset;
    while at < offset + len {
        let (c, b) = (at / cluster, (at % cluster) / block);
        let mix = seed.wrapping_mul(0x0100_0000_01b3) ^ (c << 24) ^ b;
        let mut blk = pattern(mix, block as usize);
        for (i, v) in [STAMP_MAGIC, seed, c, b].iter().enumerate() {
            blk[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&blk);
        at += block;
    }
    out
}

/// The stamp at the start of `block`, if it holds one.
pub fn stamp_of(block: &[u8]) -> Option<Stamp> {
    if block.len() < STAMP_LEN {
        return None;
    }
    let word = |i: usize| u64::from_le_bytes(block[i * 8..i * 8 + 8].try_into().unwrap());
    (word(0) == STAMP_MAGIC).then(|| (word(1), word(2), word(3)))
}

/// A buffer of one repeated byte.
pub fn fill(byte: u8, len: usize) -> Vec<u8> {
    vec![byte; len]
}

/// Compare bytes; on mismatch the error names the first differing offset,
/// both values there, and how many bytes differ in all.
pub fn expect_bytes(what: &str, got: &[u8], want: &[u8]) -> Result<()> {
    if got.len() != want.len() {
        return Err(Error::Check(format!(
            "{what}: read {} bytes, expected {}",
            got.len(),
            want.len()
        )));
    }
    if got == want {
        return Ok(());
    }
    let first = got.iter().zip(want).position(|(a, b)| a != b).unwrap();
    let differ = got.iter().zip(want).filter(|(a, b)| a != b).count();
    let zeros = got.iter().all(|&b| b == 0);
    Err(Error::Check(format!(
        "{what}: data differs at byte {first} (got {:#04x}, expected {:#04x}); {differ} of {} bytes differ{}",
        got[first],
        want[first],
        got.len(),
        if zeros { "; the read returned only zeros" } else { "" }
    )))
}

/// Check that a range reads as zeros.
pub fn expect_zeros(what: &str, got: &[u8]) -> Result<()> {
    match got.iter().position(|&b| b != 0) {
        None => Ok(()),
        Some(i) => Err(Error::Check(format!(
            "{what}: expected zeros, found {:#04x} at byte {i} ({} non-zero bytes)",
            got[i],
            got.iter().filter(|&&b| b != 0).count()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_differ_by_seed_and_are_stable() {
        assert_eq!(pattern(1, 4096), pattern(1, 4096));
        assert_ne!(pattern(1, 4096), pattern(2, 4096));
        assert_ne!(pattern(1, 8192)[..4096], pattern(1, 8192)[4096..]);
    }

    #[test]
    fn mismatch_names_offset_and_count() {
        let want = pattern(3, 8192);
        let mut got = want.clone();
        got[5000] ^= 0xff;
        let e = expect_bytes("vol", &got, &want).unwrap_err().to_string();
        assert!(e.contains("byte 5000"), "{e}");
        assert!(e.contains("1 of 8192"), "{e}");
        assert!(expect_bytes("vol", &want, &want).is_ok());
    }

    #[test]
    fn stamps_name_their_place() {
        let dev = stamped(7, 16384, 4096, 0, 65536);
        assert_eq!(stamp_of(&dev[..4096]), Some((7, 0, 0)));
        assert_eq!(stamp_of(&dev[5 * 4096..]), Some((7, 1, 1)));
        // A range is the same bytes as the whole device there.
        assert_eq!(stamped(7, 16384, 4096, 20480, 8192), dev[20480..28672]);
        assert_ne!(stamped(8, 16384, 4096, 0, 4096), dev[..4096]);
        assert_ne!(dev[4096 + 32..8192], dev[8192 + 32..12288]);
        assert_eq!(stamp_of(&[0u8; 4096]), None);
    }

    #[test]
    fn zeros_are_checked() {
        assert!(expect_zeros("z", &[0; 100]).is_ok());
        let e = expect_zeros("z", &pattern(1, 64)).unwrap_err().to_string();
        assert!(e.contains("expected zeros"), "{e}");
        let e = expect_bytes("v", &[0; 64], &pattern(1, 64))
            .unwrap_err()
            .to_string();
        assert!(e.contains("only zeros"), "{e}");
    }
}
