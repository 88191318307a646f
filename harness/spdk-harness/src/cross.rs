//! Checksums across implementations: the same snapshot contents, written into
//! a target of each build, must give the same `bdev_lvol_get_snapshot_checksum`
//! value on both, and the Rust oracle's CRC-64/GO-ISO of those contents.
//!
//! Longhorn compares the checksums of a snapshot's replicas, which may run on
//! different builds during an upgrade (v1.8.x's `longhorn-v24.09` base next to
//! one built from our master series); a difference would make a healthy
//! replica look corrupt.

use crate::build::SpdkBuild;
use crate::data::pattern;
use crate::error::{Error, Result};
use crate::lab::{BaseKind, Lab, CLUSTER};
use crate::outcome::{Expect, Outcome};
use crate::steps::CRC64_GO_ISO;
use spdk_rpc::methods::*;
use std::time::Instant;

/// One snapshot's contents: what is written to which cluster of a thin lvol.
pub struct Shape {
    /// The outcome's name: `cross_checksum_<lvol name>`.
    pub name: &'static str,
    /// Size of the lvol in clusters.
    pub clusters: u64,
    /// (cluster, offset in the cluster, bytes) for each write.
    pub writes: Vec<(u64, u64, Vec<u8>)>,
}

impl Shape {
    /// The lvol (and, with "-snap", snapshot) that holds this shape.
    fn lvol(&self) -> &'static str {
        self.name.trim_start_matches("cross_checksum_")
    }

    /// The oracle: CRC-64/GO-ISO over the allocated clusters in order, each
    /// cluster the bytes written to it and zeros elsewhere.
    pub fn oracle(&self) -> u64 {
        let mut clusters: Vec<u64> = self.writes.iter().map(|w| w.0).collect();
        clusters.sort_unstable();
        clusters.dedup();
        let mut d = CRC64_GO_ISO.digest();
        for c in clusters {
            let mut buf = vec![0u8; CLUSTER as usize];
            for (wc, off, bytes) in &self.writes {
                if *wc == c {
                    buf[*off as usize..*off as usize + bytes.len()].copy_from_slice(bytes);
                }
            }
            d.update(&buf);
        }
        d.finalize()
    }
}

pub fn shapes() -> Vec<Shape> {
    let full = CLUSTER as usize;
    vec![
        Shape {
            name: "cross_checksum_empty",
            clusters: 4,
            writes: vec![],
        },
        Shape {
            name: "cross_checksum_cc",
            clusters: 4,
            writes: vec![(0, 0, vec![0xcc; full])],
        },
        Shape {
            name: "cross_checksum_cc_bb",
            clusters: 4,
            writes: vec![(0, 0, vec![0xcc; full]), (1, 0, vec![0xbb; full])],
        },
        Shape {
            name: "cross_checksum_sparse_partial",
            clusters: 16,
            writes: vec![
                (3, 8192, pattern(301, 64 * 1024)),
                (7, 0, pattern(302, 4096)),
                (15, CLUSTER - 4096, pattern(303, 4096)),
            ],
        },
        Shape {
            name: "cross_checksum_full_64mib",
            clusters: 16,
            writes: (0..16).map(|c| (c, 0, pattern(400 + c, full))).collect(),
        },
    ]
}

/// Write every shape into a fresh lab of `build`, snapshot it, register its
/// checksum, and return the values in shape order.
fn values_on(build: &SpdkBuild, shapes: &[Shape]) -> Result<Vec<u64>> {
    let mut lab = Lab::with_build(build.clone(), BaseKind::Aio)?;
    lab.create_lvstore("disk0", "lvs0", 512)?;
    let mut out = vec![];
    for s in shapes {
        lab.tgt.ok(&BdevLvolCreate {
            lvol_name: s.lvol().into(),
            size_in_mib: s.clusters * CLUSTER / crate::lab::MIB,
            thin_provision: true,
            lvs_name: "lvs0".into(),
            clear_method: None,
        })?;
        let vol = format!("lvs0/{}", s.lvol());
        for (c, off, bytes) in &s.writes {
            lab.write(&vol, c * CLUSTER + off, bytes)?;
        }
        lab.unexport(&vol)?;
        lab.tgt.ok(&BdevLvolSnapshot {
            lvol_name: vol.clone(),
            snapshot_name: format!("{}-snap", s.lvol()),
            ..Default::default()
        })?;
        let snap = format!("lvs0/{}-snap", s.lvol());
        if !lab.tgt.ok(&BdevLvolRegisterSnapshotChecksum {
            name: snap.clone(),
            ..Default::default()
        })? {
            return Err(Error::Check(format!("register of {snap} returned false")));
        }
        out.push(
            lab.tgt
                .ok(&BdevLvolGetSnapshotChecksum { name: snap })?
                .checksum,
        );
    }
    lab.tgt.check_alive()?;
    Ok(out)
}

/// One outcome per shape: the value on every build, and the oracle's, equal.
pub fn run(builds: &[(String, SpdkBuild)]) -> Vec<Outcome> {
    let shapes = shapes();
    let t0 = Instant::now();
    let values: Vec<(&str, Result<Vec<u64>>)> = builds
        .iter()
        .map(|(label, b)| (label.as_str(), values_on(b, &shapes)))
        .collect();
    let per_shape = t0.elapsed().as_secs_f64() / shapes.len() as f64;
    shapes
        .iter()
        .enumerate()
        .map(|(i, s)| Outcome {
            name: s.name,
            result: judge(&values, i, s.oracle()),
            secs: per_shape,
            expect: Expect::Pass,
        })
        .collect()
}

/// Shape `i` holds up when every build gave a value for it, and all equal the
/// oracle's.
fn judge(
    values: &[(&str, Result<Vec<u64>>)],
    i: usize,
    oracle: u64,
) -> std::result::Result<String, String> {
    let mut seen = vec![];
    for (label, v) in values {
        match v {
            Err(e) => return Err(format!("{label}: {e}")),
            Ok(v) => seen.push(format!("{label} {}", v[i])),
        }
    }
    if values
        .iter()
        .all(|(_, v)| v.as_ref().is_ok_and(|v| v[i] == oracle))
    {
        Ok(format!("{} = oracle", seen.join(" = ")))
    } else {
        Err(format!(
            "checksums differ: {}, oracle {oracle}",
            seen.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The oracle gives Longhorn's published values for its test clusters.
    #[test]
    fn oracle_matches_longhorns_values() {
        let s = shapes();
        assert_eq!(s[0].oracle(), 0);
        assert_eq!(s[1].oracle(), 828947163827886523);
        assert_eq!(s[2].oracle(), 440587436939872369);
        for sh in &s {
            assert!(!sh.lvol().is_empty() && sh.lvol() != sh.name, "{}", sh.name);
        }
    }

    /// A build that differs from the others, or from the oracle, or that
    /// failed, fails the shape.
    #[test]
    fn judge_needs_every_build_equal_to_the_oracle() {
        let ok = |v: Vec<u64>| -> Result<Vec<u64>> { Ok(v) };
        let same = vec![("a", ok(vec![1, 7])), ("b", ok(vec![1, 7]))];
        assert_eq!(judge(&same, 1, 7), Ok("a 7 = b 7 = oracle".into()));
        let one_off = vec![("a", ok(vec![1, 7])), ("b", ok(vec![1, 8]))];
        assert!(judge(&one_off, 1, 7)
            .unwrap_err()
            .contains("checksums differ: a 7, b 8"));
        assert!(
            judge(&same, 0, 7).is_err(),
            "equal to each other but not to the oracle"
        );
        let failed = vec![
            ("a", ok(vec![7])),
            ("b", Err(crate::error::Error::Check("no target".into()))),
        ];
        assert!(judge(&failed, 0, 7).unwrap_err().starts_with("b: "));
    }
}
