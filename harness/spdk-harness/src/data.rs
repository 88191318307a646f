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
