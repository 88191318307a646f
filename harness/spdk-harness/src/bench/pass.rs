//! Figures 1 to 3: the checksum pass against a raw read of the same blocks,
//! the range pass against the whole pass, and how long a stop takes.
//!
//! A bed is one target (`-m 0x1`, as Longhorn runs it) with an lvstore of
//! 4 MiB clusters on the base under test, a thick 1 GiB lvol written with
//! seeded random bytes over NVMe-oF, and its snapshot. The raw read is
//! `spdk_dd` on the other core reading the snapshot's clusters from the
//! same file with the same engine (an AIO bdev, behind the same delay bdev
//! for the slow base), in 4 MiB reads, 4 at a time, as the pass reads them.

use super::{ms, secs, timed, Figure, Plan, Row, Samples};
use crate::build::SpdkBuild;
use crate::error::{Context, Error, Result};
use crate::lab::{BaseKind, Lab, CLUSTER, MIB};
use crate::steps::{self, CRC64_GO_ISO};
use crate::target::log_line;
use spdk_rpc::methods::*;
use spdk_rpc::Errno;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The snapshot under test: 1 GiB, every cluster written.
pub const DATA: u64 = 1024 * MIB;
/// The pass keeps this many cluster reads in flight (blobstore.c's
/// BLOB_CHECKSUM_QUEUE_DEPTH); the raw read uses the same depth.
pub const PASS_QD: u32 = 4;
/// Read latency of the slow base, in microseconds.
pub const SLOW_US: u64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// An AIO bdev on a file: the device.
    Aio,
    /// A malloc bdev: the same copy and CRC without a device.
    Malloc,
    /// A delay bdev adding [`SLOW_US`] to each read, over an AIO file.
    Slow,
}

impl Base {
    fn label(self) -> &'static str {
        match self {
            Base::Aio => "AIO file",
            Base::Malloc => "malloc",
            Base::Slow => "1 ms delay over AIO",
        }
    }
}

/// One target with the written snapshot `lvs/snap`.
pub struct Bed {
    pub lab: Lab,
    pub base: Base,
    pub snap: String,
    /// The file the snapshot's clusters are in, and their byte offset in it
    /// (they are contiguous, checked by the inspector).
    raw: Option<(PathBuf, u64)>,
}

/// Seeded random bytes, 8 at a time (splitmix64).
pub fn random_bytes(seed: u64, len: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut v = Vec::with_capacity(len as usize);
    while (v.len() as u64) < len {
        v.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    v.truncate(len as usize);
    v
}

/// splitmix64: the data and the random stop points.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

impl Bed {
    /// A target of `build` on `base` with `data` (1 GiB) in snapshot
    /// `lvs/snap`.
    pub fn new(build: &SpdkBuild, base: Base, data: &[u8]) -> Result<Bed> {
        let mut lab = Lab::with_build(build.clone(), BaseKind::Aio)?;
        let size_mib = DATA / MIB + 64;
        let bdev = match base {
            Base::Aio => lab.add_disk("d", size_mib)?,
            Base::Malloc => lab.tgt.ok(&BdevMallocCreate {
                name: "m0".into(),
                num_blocks: size_mib * MIB / 4096,
                block_size: 4096,
            })?,
            Base::Slow => {
                let aio = lab.add_disk("d", size_mib)?;
                steps::delay_bdev(&mut lab, "slow", &aio, steps::Latency::reads(SLOW_US))?
            }
        };
        lab.create_lvstore_on(bdev, "lvs")?;
        let vol = steps::thick_lvol(&mut lab, "lvs", "vol", DATA / MIB)?;
        lab.write(&vol, 0, data)?;
        let snap = steps::snapshot(&mut lab, &vol, "snap")?;
        let raw = match base {
            Base::Malloc => None,
            Base::Aio | Base::Slow => {
                let file = lab.disk_file("d")?;
                Some((file.clone(), snapshot_offset(&file)?))
            }
        };
        Ok(Bed {
            lab,
            base,
            snap,
            raw,
        })
    }

    /// One whole pass (`bdev_lvol_register_snapshot_checksum`), timed from
    /// the request to its answer; the stored value must be `want`.
    pub fn pass(&mut self, want: u64) -> Result<Duration> {
        let name = self.snap.clone();
        let (_, t) = timed(|| {
            self.lab.tgt.ok(&BdevLvolRegisterSnapshotChecksum {
                name: name.clone(),
                ..Default::default()
            })
        })?;
        self.expect_checksum(want)?;
        Ok(t)
    }

    /// One range pass (`bdev_lvol_register_snapshot_range_checksums`).
    pub fn range_pass(&mut self, want: u64) -> Result<Duration> {
        let name = self.snap.clone();
        let (_, t) = timed(|| {
            self.lab.tgt.ok(&BdevLvolRegisterSnapshotRangeChecksums {
                name: name.clone(),
                ..Default::default()
            })
        })?;
        self.expect_checksum(want)?;
        Ok(t)
    }

    fn expect_checksum(&mut self, want: u64) -> Result<()> {
        let got = self.lab.tgt.ok(&BdevLvolGetSnapshotChecksum {
            name: self.snap.clone(),
        })?;
        if got.checksum != want {
            return Err(Error::Check(format!(
                "{} on {}: checksum {:#018x}, the bytes written give {want:#018x}",
                self.snap, self.lab.build.base, got.checksum
            )));
        }
        Ok(())
    }

    /// Read the snapshot's clusters from the base with `spdk_dd` on the
    /// other core, `qd` cluster reads at a time, and return how long the
    /// copy took by spdk_dd's own clock (its start-up left out).
    pub fn raw_read(&mut self, qd: u32) -> Result<Duration> {
        let (file, offset) = self
            .raw
            .clone()
            .ok_or_else(|| Error::Tool("a malloc base has no file to read".into()))?;
        raw_read(&self.lab, &file, offset, self.base == Base::Slow, qd)
    }
}

/// The byte offset of `lvs/snap`'s clusters in `file`; they must be
/// contiguous (a thick lvol on a new lvstore), so that one read covers them.
fn snapshot_offset(file: &Path) -> Result<u64> {
    let store = lvs_inspect::Store::open(file).map_err(|e| Error::Tool(format!("{e}")))?;
    let blob = store
        .blob_by_name("snap")
        .ok_or_else(|| Error::Check(format!("no blob named snap in {}", file.display())))?;
    let c = blob.disk_clusters();
    let n = DATA / CLUSTER;
    if c.len() as u64 != n || c.windows(2).any(|w| w[1] != w[0] + 1) {
        return Err(Error::Check(format!(
            "snap's {} clusters are not {n} contiguous ones: {:?}...",
            c.len(),
            &c[..c.len().min(8)]
        )));
    }
    Ok(u64::from(c[0]) * CLUSTER)
}

/// spdk_dd reading [`DATA`] bytes at `offset` of `file` through an AIO bdev
/// (behind a 1 ms delay bdev if `slow`) into /dev/null.
fn raw_read(lab: &Lab, file: &Path, offset: u64, slow: bool, qd: u32) -> Result<Duration> {
    let dir = super::work_dir()?;
    let cfg = dir.join("raw-read.json");
    let log = dir.join("raw-read.log");
    // bdev_auto_examine off: the lvol module would load the lvstore the
    // target has open, and the recovery of a store not closed cleanly
    // writes to the disk.
    let mut config = vec![
        serde_json::json!({"method": "bdev_set_options", "params": {"bdev_auto_examine": false}}),
        serde_json::json!({"method": "bdev_aio_create", "params": {
            "name": "raw", "filename": file.display().to_string(), "block_size": 4096}}),
    ];
    if slow {
        config.push(
            serde_json::json!({"method": "bdev_delay_create", "params": {
            "name": "rawslow", "base_bdev_name": "raw",
            "avg_read_latency": SLOW_US, "p99_read_latency": SLOW_US,
            "avg_write_latency": 0, "p99_write_latency": 0}}),
        );
    }
    config.push(serde_json::json!({"method": "bdev_wait_for_examine"}));
    let json = serde_json::json!({"subsystems": [
        {"subsystem": "bdev", "config": config}]});
    std::fs::write(&cfg, serde_json::to_vec_pretty(&json).unwrap())
        .ctx(|| "write the raw read's config".into())?;
    let st = lab
        .dd_command("0x2", &cfg, &log)?
        .args([
            if slow { "--ib=rawslow" } else { "--ib=raw" },
            "--of=/dev/null",
            &format!("--bs={CLUSTER}"),
            &format!("--skip={}", offset / CLUSTER),
            &format!("--count={}", DATA / CLUSTER),
            &format!("--qd={qd}"),
        ])
        .status()
        .ctx(|| "run spdk_dd".into())?;
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    if !st.success() {
        return Err(Error::Tool(format!(
            "raw read with spdk_dd failed ({st}): {}",
            out.lines().rev().take(10).collect::<Vec<_>>().join(" | ")
        )));
    }
    dd_duration(&out, DATA)
}

/// How long spdk_dd took to copy `bytes`, from its final "average" speed.
pub fn dd_duration(log: &str, bytes: u64) -> Result<Duration> {
    // "... (average 2846 MBps)": a unit of 1024^k bytes per second.
    let at = log
        .rfind("(average ")
        .ok_or_else(|| Error::Tool(format!("no average speed in spdk_dd's output: {log}")))?;
    let rest = &log[at + "(average ".len()..];
    let end = rest.find(')').unwrap_or(rest.len());
    let mut parts = rest[..end].split_whitespace();
    let value: f64 = parts
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::Tool(format!("bad speed in spdk_dd's output: {}", &rest[..end])))?;
    let unit = match parts.next().unwrap_or("") {
        "Bps" => 1.0,
        "kBps" => 1024.0,
        "MBps" => 1024.0 * 1024.0,
        "GBps" => 1024.0 * 1024.0 * 1024.0,
        u => return Err(Error::Tool(format!("unknown speed unit {u} from spdk_dd"))),
    };
    Ok(Duration::from_secs_f64(bytes as f64 / (value * unit)))
}

/// The CPU ceiling on malloc: the pass's own work without a device, on the
/// other core. The copy: `spdk_dd` of the lab's build reading a malloc bdev
/// of its own, 4 MiB at a time, [`PASS_QD`] at a time (the malloc bdev's
/// read path of that build). The CRC: `spdk_crc64_iso()` of each 4 MiB
/// cluster of 1 GiB of random bytes, in a program linked with `crc` (the
/// patched build: the unpatched one has no such function).
fn cpu_ceiling(lab: &Lab, crc: &SpdkBuild) -> Result<f64> {
    let dir = super::work_dir()?;
    let cfg = dir.join("malloc-read.json");
    let log = dir.join("malloc-read.log");
    let json = serde_json::json!({"subsystems": [{"subsystem": "bdev", "config": [
        {"method": "bdev_malloc_create", "params": {
            "name": "m", "num_blocks": DATA / 4096, "block_size": 4096}}]}]});
    std::fs::write(&cfg, serde_json::to_vec_pretty(&json).unwrap())
        .ctx(|| "write the malloc read's config".into())?;
    let st = lab
        .dd_command("0x2", &cfg, &log)?
        .args([
            "--ib=m",
            "--of=/dev/null",
            &format!("--bs={CLUSTER}"),
            &format!("--count={}", DATA / CLUSTER),
            &format!("--qd={PASS_QD}"),
        ])
        .status()
        .ctx(|| "run spdk_dd".into())?;
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    if !st.success() {
        return Err(Error::Tool(format!(
            "malloc read with spdk_dd failed ({st}): {out}"
        )));
    }
    let copy = secs(dd_duration(&out, DATA)?);
    Ok(copy + crc_time(crc, 1)?.median())
}

/// `spdk_crc64_iso()` over 1 GiB, in 4 MiB pieces, on core 1.
fn crc_time(build: &SpdkBuild, reps: u32) -> Result<Samples> {
    let dir = super::work_dir()?;
    let src = dir.join("cpu_ceiling.c");
    let bin = dir.join(format!("cpu_ceiling-{}", build.base));
    std::fs::write(&src, include_str!("cpu_ceiling.c")).ctx(|| "write cpu_ceiling.c".into())?;
    let tree = &build.tree;
    let st = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&bin)
        .arg(&src)
        .arg(format!("-I{}", tree.join("include").display()))
        .arg(tree.join("build/lib/libspdk_util.a"))
        .arg(tree.join("isa-l/.libs/libisal.a"))
        .status()
        .ctx(|| "run cc".into())?;
    if !st.success() {
        return Err(Error::Tool(format!("cc cpu_ceiling.c failed ({st})")));
    }
    let out = Command::new("taskset")
        .args(["-c", "1"])
        .arg(&bin)
        .args([&(DATA / MIB).to_string(), &reps.to_string()])
        .output()
        .ctx(|| "run cpu_ceiling".into())?;
    if !out.status.success() {
        return Err(Error::Tool(format!(
            "cpu_ceiling failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let mut s = Samples::default();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        s.push(
            l.trim()
                .parse::<f64>()
                .map_err(|e| Error::Tool(format!("cpu_ceiling printed {l}: {e}")))?,
        );
    }
    Ok(s)
}

/// The builds figure 1 compares: ours (master), our backport and
/// Longhorn's fork without it (the same base, so their ratio is the series').
fn builds(plan: &Plan) -> Vec<(&'static str, SpdkBuild)> {
    let mut v = vec![("master, patched", plan.patched.clone())];
    if let Some(b) = &plan.backport {
        v.push(("longhorn-v24.09, patched", b.clone()));
    }
    if let Some(u) = &plan.unpatched {
        v.push(("longhorn-v24.09, unpatched", u.clone()));
    }
    v
}

/// The time the reference takes on `bed`: the raw read, or the CPU ceiling
/// on malloc. Its target is stopped meanwhile, so that, as while the pass
/// runs, one core spins and the other is left to the kernel's I/O.
fn reference(plan: &Plan, bed: &mut Bed, qd: u32) -> Result<f64> {
    bed.lab.tgt.pause()?;
    let r = if bed.base == Base::Malloc {
        cpu_ceiling(&bed.lab, &plan.patched)
    } else {
        bed.raw_read(qd).map(secs)
    };
    bed.lab.tgt.resume()?;
    r
}

/// Figure 1: the pass against the device, the CPU and a slow disk, ours and
/// Longhorn's unpatched fork, on the same bytes.
pub fn against_device(plan: &Plan) -> Result<Figure> {
    let mut f = Figure::new(
        plan,
        1,
        "The checksum pass against the device",
        &format!(
            "A whole pass (`bdev_lvol_register_snapshot_checksum`, timed from request to answer) \
             over a 1 GiB snapshot with every cluster written with random bytes, against reading \
             the same clusters from the same file with `spdk_dd` on core 1 through an AIO bdev in \
             4 MiB reads, {PASS_QD} at a time (the pass's depth). The ratio is raw time / pass \
             time: 1.0 means the pass runs as fast as the device reads. On malloc the reference \
             is the CPU ceiling: a program on core 1 that copies each 4 MiB cluster and takes its \
             `spdk_crc64_iso()` (`src/bench/cpu_ceiling.c`, linked with the patched build). The \
             1 ms base is a delay bdev adding 1 ms to each read, in the target and in the raw \
             read alike. Three builds get the same bytes, each in a target of its own on core 0: \
             ours (master), our backport on Longhorn's base, and Longhorn's fork without it. One \
             target runs at a time; the others are stopped with SIGSTOP, and so is the measured \
             one while its reference runs, so that one core spins and the other is free for the \
             kernel's I/O in both measurements."
        ),
    );
    let data = random_bytes(plan.seed, DATA);
    let want = CRC64_GO_ISO.checksum(&data);
    let builds = builds(plan);
    for base in [Base::Aio, Base::Malloc, Base::Slow] {
        let mut beds = vec![];
        for (label, b) in &builds {
            log_line(&format!("bench: {} bed, {label}", base.label()));
            let bed = Bed::new(b, base, &data)?;
            bed.lab.tgt.pause()?;
            beds.push(bed);
        }
        let n = beds.len();
        let mut pass = vec![Samples::default(); n];
        let mut refr = vec![Samples::default(); n];
        let mut qd1 = Samples::default();
        for rep in 0..plan.reps {
            log_line(&format!("bench: {} rep {rep}", base.label()));
            for (i, bed) in beds.iter_mut().enumerate() {
                bed.lab.tgt.resume()?;
                refr[i].push(reference(plan, bed, PASS_QD)?);
                pass[i].push(secs(bed.pass(want)?));
                if i == 0 && base == Base::Slow {
                    // What reading one cluster at a time, as Longhorn's
                    // fork does, costs on this base.
                    qd1.push(reference(plan, bed, 1)?);
                }
                bed.lab.tgt.pause()?;
            }
        }
        let (goal, min) = match base {
            Base::Malloc => ("at least 0.95 of the CPU ceiling", 0.95),
            _ => ("at least 0.9 of the raw read", 0.9),
        };
        let reference_label = if base == Base::Malloc {
            "CPU ceiling"
        } else {
            "raw read"
        };
        for (i, (label, _)) in builds.iter().enumerate() {
            let ratio = refr[i].ratio(&pass[i]);
            let what = format!("{}, {label}: {reference_label} / pass", base.label());
            if i == 0 {
                f.rows
                    .push(Row::goal(what, ratio.show(2), goal, ratio.median() >= min));
            } else {
                f.rows.push(Row::context(what, ratio.show(2)));
            }
            f.rows.push(Row::context(
                format!("{}, {label}: pass / {reference_label} (ms)", base.label()),
                format!(
                    "{:.0} / {:.0}",
                    pass[i].median() * 1e3,
                    refr[i].median() * 1e3
                ),
            ));
        }
        if n == 3 {
            f.rows.push(Row::context(
                format!(
                    "{}: Longhorn's unpatched pass / our backport's (same base)",
                    base.label()
                ),
                pass[2].ratio(&pass[1]).show(2),
            ));
        }
        if base == Base::Slow {
            f.rows.push(Row::context(
                format!(
                    "{}: raw read one cluster at a time / {PASS_QD} at a time",
                    base.label()
                ),
                qd1.ratio(&refr[0]).show(2),
            ));
        }
        drop(beds);
    }
    f.notes.push(
        "Ratios are medians of the per-repetition ratios, spread in brackets. On AIO and on the \
         slow base the pass reads as the raw read does; what it adds is the CRC of each cluster on \
         core 0, which overlaps the reads still in flight. Longhorn's fork reads one cluster at a \
         time, which costs it most where each read waits (the 1 ms base)."
            .into(),
    );
    Ok(f)
}

/// Figure 2: a range pass (per-cluster values too) against a whole pass.
pub fn range_against_whole(plan: &Plan) -> Result<Figure> {
    let mut f = Figure::new(
        plan,
        2,
        "Range against whole pass",
        "The same 1 GiB snapshot on an AIO file: `bdev_lvol_register_snapshot_range_checksums` \
         (one pass that also stores a value per cluster) against \
         `bdev_lvol_register_snapshot_checksum`, in turns.",
    );
    let data = random_bytes(plan.seed, DATA);
    let want = CRC64_GO_ISO.checksum(&data);
    let mut bed = Bed::new(&plan.patched, Base::Aio, &data)?;
    let (mut whole, mut range) = (Samples::default(), Samples::default());
    for _ in 0..plan.reps {
        whole.push(secs(bed.pass(want)?));
        range.push(secs(bed.range_pass(want)?));
    }
    let r = range.ratio(&whole);
    f.rows.push(Row::goal(
        "range time / whole time",
        r.show(2),
        "at most 1.1",
        r.median() <= 1.1,
    ));
    f.rows.push(Row::context(
        "whole pass (ms)",
        Samples(whole.0.iter().map(|s| s * 1e3).collect()).show(0),
    ));
    f.rows.push(Row::context(
        "range pass (ms)",
        Samples(range.0.iter().map(|s| s * 1e3).collect()).show(0),
    ));
    Ok(f)
}

/// How many stops figure 3 samples.
pub const STOPS: usize = 50;

/// Figure 3: stops sent at random points of a pass.
pub fn stop_latency(plan: &Plan) -> Result<Figure> {
    let mut f = Figure::new(
        plan,
        3,
        "Stop latency",
        &format!(
            "{STOPS} passes over the 1 GiB snapshot on an AIO file, each stopped \
             (`bdev_lvol_stop_snapshot_checksum`) at a seeded random point of its first 90%; the \
             time from sending the stop to its answer, which SPDK gives once the pass has ended \
             (reads done, buffers freed, the snapshot released). The reference is the time of one \
             4 MiB cluster read: `spdk_dd`'s raw read of the same clusters one at a time, divided \
             by their number."
        ),
    );
    let data = random_bytes(plan.seed, DATA);
    let want = CRC64_GO_ISO.checksum(&data);
    let mut bed = Bed::new(&plan.patched, Base::Aio, &data)?;
    let mut pass = Samples::default();
    let mut one = Samples::default();
    for _ in 0..plan.reps {
        pass.push(secs(bed.pass(want)?));
        one.push(secs(bed.raw_read(1)?) / (DATA / CLUSTER) as f64);
    }
    let window = Duration::from_secs_f64(pass.median() * 0.9);
    let mut rng = Rng(plan.seed ^ 0x5709);
    let mut lat = Samples::default();
    let (mut tries, mut late) = (0, 0);
    while lat.0.len() < STOPS {
        tries += 1;
        if tries > 4 * STOPS {
            return Err(Error::Check(format!(
                "only {} of {tries} stops found a running pass",
                lat.0.len()
            )));
        }
        let at = Duration::from_micros(rng.below(window.as_micros() as u64));
        let (mut conn, p) = steps::start_pass(&mut bed.lab, &bed.snap)?;
        // The random point of the pass: a scheduled moment, not a wait for
        // something to happen.
        std::thread::sleep(at);
        let t0 = Instant::now();
        let stop = bed.lab.tgt.call(&BdevLvolStopSnapshotChecksum {
            name: bed.snap.clone(),
        });
        let t = t0.elapsed();
        let answer =
            conn.wait_typed::<BdevLvolRegisterSnapshotChecksum>(p, Duration::from_secs(60));
        match stop {
            Ok(true) => {
                lat.push(ms(t));
                match answer {
                    Err(e) if e.errno() == Some(Errno::EINTR) => {}
                    // A stop that arrives while the pass stores its value
                    // waits for it: the register succeeds.
                    Ok(_) => {}
                    Err(e) => return Err(Error::Check(format!("stopped register: {e}"))),
                }
            }
            // Not open yet, or already done: no sample.
            Err(e) if e.errno() == Some(Errno::ESRCH) => {
                late += 1;
                answer.map_err(|e| Error::Check(format!("register: {e}")))?;
            }
            other => return Err(Error::Check(format!("stop: {other:?}"))),
        }
    }
    let cluster_ms = one.median() * 1e3;
    f.rows.push(Row::context(
        "one 4 MiB cluster read (ms)",
        Samples(one.0.iter().map(|s| s * 1e3).collect()).show(2),
    ));
    f.rows.push(Row::context(
        "whole pass (ms)",
        Samples(pass.0.iter().map(|s| s * 1e3).collect()).show(0),
    ));
    for (what, v) in [
        ("stop p50", lat.pct(50.0)),
        ("stop p99", lat.pct(99.0)),
        ("stop max", lat.max()),
    ] {
        f.rows.push(Row::context(
            format!("{what} (ms; in cluster reads)"),
            format!("{v:.2} ({:.1})", v / cluster_ms),
        ));
    }
    f.notes.push(format!(
        "{} stops were sent; {late} found no pass (not yet open, or already ended) and are not \
         counted. A stop waits for the reads in flight, at most {PASS_QD} cluster reads issued \
         together, and for the snapshot's close.",
        tries
    ));
    Ok(f)
}
