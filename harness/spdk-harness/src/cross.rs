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
use crate::lab::{BaseKind, Lab};
use crate::scenarios::baseline::CLUSTER;
use crate::scenarios::checksum::CRC64_GO_ISO;
use crate::scenarios::{Expect, Outcome};
use spdk_rpc::methods::*;
use std::time::Instant;

/// One snapshot's contents: what is written to which cluster of a thin lvol.
pub struct Shape {
    pub name: &'static str,
    /// Size of the lvol in clusters.
    pub clusters: u64,
    /// (cluster, offset in the cluster, bytes) for each write.
    pub writes: Vec<(u64, u64, Vec<u8>)>,
}

impl Shape {
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
            name: "empty",
            clusters: 4,
            writes: vec![],
        },
        Shape {
            name: "cc",
            clusters: 4,
            writes: vec![(0, 0, vec![0xcc; full])],
        },
        Shape {
            name: "cc_bb",
            clusters: 4,
            writes: vec![(0, 0, vec![0xcc; full]), (1, 0, vec![0xbb; full])],
        },
        Shape {
            name: "sparse_partial",
            clusters: 16,
            writes: vec![
                (3, 8192, pattern(301, 64 * 1024)),
                (7, 0, pattern(302, 4096)),
                (15, CLUSTER - 4096, pattern(303, 4096)),
            ],
        },
        Shape {
            name: "full_64mib",
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
            lvol_name: s.name.into(),
            size_in_mib: s.clusters * CLUSTER / crate::lab::MIB,
            thin_provision: true,
            lvs_name: "lvs0".into(),
            clear_method: None,
        })?;
        let vol = format!("lvs0/{}", s.name);
        for (c, off, bytes) in &s.writes {
            lab.write(&vol, c * CLUSTER + off, bytes)?;
        }
        lab.unexport(&vol)?;
        lab.tgt.ok(&BdevLvolSnapshot {
            lvol_name: vol.clone(),
            snapshot_name: format!("{}-snap", s.name),
        })?;
        let snap = format!("lvs0/{}-snap", s.name);
        if !lab
            .tgt
            .ok(&BdevLvolRegisterSnapshotChecksum { name: snap.clone() })?
        {
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
        .map(|(i, s)| {
            let oracle = s.oracle();
            let result = (|| {
                let mut seen = vec![];
                for (label, v) in &values {
                    match v {
                        Err(e) => return Err(format!("{label}: {e}")),
                        Ok(v) => seen.push(format!("{label} {}", v[i])),
                    }
                }
                let all_equal = values
                    .iter()
                    .all(|(_, v)| v.as_ref().is_ok_and(|v| v[i] == oracle));
                if all_equal {
                    Ok(format!("{} = oracle", seen.join(" = ")))
                } else {
                    Err(format!(
                        "checksums differ: {}, oracle {oracle}",
                        seen.join(", ")
                    ))
                }
            })();
            Outcome {
                name: cross_name(s.name),
                result,
                secs: per_shape,
                expect: Expect::Pass,
            }
        })
        .collect()
}

fn cross_name(shape: &str) -> &'static str {
    match shape {
        "empty" => "cross_checksum_empty",
        "cc" => "cross_checksum_cc",
        "cc_bb" => "cross_checksum_cc_bb",
        "sparse_partial" => "cross_checksum_sparse_partial",
        "full_64mib" => "cross_checksum_full_64mib",
        _ => "cross_checksum",
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
            assert_ne!(cross_name(sh.name), "cross_checksum", "{}", sh.name);
        }
    }
}
