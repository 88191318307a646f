//! Figure 4: `bdev_lvol_detach_parent` against `bdev_lvol_decouple_parent`
//! as the parent snapshot grows. The parents are thick lvols over a sparse
//! file, snapshotted: their clusters are allocated and cost no disk until
//! something writes them, which a decouple does.

use super::{ms, timed, Figure, Plan, Row, Samples};
use crate::error::Result;
use crate::lab::{BaseKind, Lab, MIB};
use crate::steps;
use crate::target::log_line;
use spdk_rpc::methods::*;

/// Parent sizes in MiB: 16 MiB, 1 GiB, 64 GiB.
pub const SIZES: [u64; 3] = [16, 1024, 64 * 1024];

/// Free bytes on the file system of the temp dir.
fn free_bytes() -> u64 {
    let dir = std::env::temp_dir();
    nix::sys::statvfs::statvfs(&dir)
        .map(|s| s.blocks_available() * s.fragment_size())
        .unwrap_or(0)
}

pub fn against_decouple(plan: &Plan) -> Result<Figure> {
    let mut f = Figure::new(
        plan,
        4,
        "Detach against decouple",
        "For each size, a thick lvol of that size over a sparse AIO file (clusters allocated, \
         not written) is snapshotted; then, in turns, a new clone of the snapshot is detached \
         (`bdev_lvol_detach_parent`) or decoupled (`bdev_lvol_decouple_parent`, which allocates \
         and copies every cluster the parent holds), each timed from request to answer, and the \
         clone deleted. Detach must not grow with the parent's data: its time at 64 GiB over its \
         time at 16 MiB is the ratio with a goal.",
    );
    let largest = *SIZES.last().unwrap();
    let mut lab = Lab::with_build(plan.patched.clone(), BaseKind::Aio)?;
    let disk_mib: u64 = SIZES.iter().sum::<u64>() + 2048;
    lab.create_lvstore("d", "lvs", disk_mib)?;
    let mut detach = vec![];
    let mut decouple = vec![];
    for &size in &SIZES {
        log_line(&format!("bench: parent of {size} MiB"));
        let p = steps::thick_lvol(&mut lab, "lvs", &format!("p{size}"), size)?;
        let snap = steps::snapshot(&mut lab, &p, &format!("s{size}"))?;
        // A decouple writes every cluster of the parent: only where the
        // disk has room for it twice over.
        let copy = size * MIB * 2 < free_bytes();
        let (mut d, mut c) = (Samples::default(), Samples::default());
        for rep in 0..plan.reps {
            let clone = steps::clone_snapshot(&mut lab, &snap, &format!("d{size}-{rep}"))?;
            let (_, t) = timed(|| {
                lab.tgt.ok(&BdevLvolDetachParent {
                    name: clone.clone(),
                })
            })?;
            d.push(ms(t));
            lab.tgt.ok(&BdevLvolDelete { name: clone })?;
            if copy {
                let clone = steps::clone_snapshot(&mut lab, &snap, &format!("c{size}-{rep}"))?;
                let (_, t) = timed(|| {
                    lab.tgt.ok(&BdevLvolDecoupleParent {
                        name: clone.clone(),
                    })
                })?;
                c.push(ms(t));
                lab.tgt.ok(&BdevLvolDelete { name: clone })?;
            }
        }
        detach.push(d);
        decouple.push(c);
    }
    for (i, &size) in SIZES.iter().enumerate() {
        let label = if size >= 1024 {
            format!("{} GiB", size / 1024)
        } else {
            format!("{size} MiB")
        };
        f.rows.push(Row::context(
            format!("detach, {label} of parent data (ms)"),
            detach[i].show(2),
        ));
        if decouple[i].0.is_empty() {
            f.rows.push(Row::context(
                format!("decouple, {label} of parent data (ms)"),
                "not run: it would write the whole parent to this disk",
            ));
        } else {
            f.rows.push(Row::context(
                format!("decouple, {label} of parent data (ms)"),
                decouple[i].show(1),
            ));
        }
    }
    let growth = detach[SIZES.len() - 1].median() / detach[0].median();
    f.rows.push(Row::goal(
        format!(
            "detach time at {} GiB / at {} MiB",
            largest / 1024,
            SIZES[0]
        ),
        format!("{growth:.2}"),
        "at most 1.2",
        growth <= 1.2,
    ));
    let done: Vec<usize> = (0..SIZES.len())
        .filter(|&i| !decouple[i].0.is_empty())
        .collect();
    if let (Some(&a), Some(&b)) = (done.first(), done.last()) {
        if a != b {
            f.rows.push(Row::context(
                format!(
                    "decouple time at {} MiB / at {} MiB (data ×{})",
                    SIZES[b],
                    SIZES[a],
                    SIZES[b] / SIZES[a]
                ),
                format!("{:.1}", decouple[b].median() / decouple[a].median()),
            ));
        }
        f.rows.push(Row::context(
            format!("decouple / detach at {} MiB", SIZES[b]),
            format!("{:.0}", decouple[b].median() / detach[b].median()),
        ));
    }
    if decouple.iter().any(|c| c.0.is_empty()) {
        f.notes.push(format!(
            "A decouple of the 64 GiB parent writes 64 GiB per repetition; with {} GiB free on \
             the temp dir's disk it was not run. Its growth shows between 16 MiB and 1 GiB.",
            free_bytes() >> 30
        ));
    }
    Ok(f)
}
