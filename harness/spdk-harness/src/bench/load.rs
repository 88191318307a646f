//! Figures 5 and 8: I/O over NVMe-oF to one lvol while the target does
//! something else to another (checksum passes), or refuses deletes of it.
//! `bdevperf` on the other core is the initiator (SPDK's NVMe-oF/TCP host),
//! the target runs on core 0 as Longhorn runs it.

use super::pass::{random_bytes, DATA};
use super::{change, ms, Figure, Plan, Row, Samples};
use crate::error::{Context, Error, Result};
use crate::lab::{BaseKind, Export, Lab, MIB};
use crate::steps;
use crate::target::log_line;
use spdk_rpc::methods::*;
use spdk_rpc::{Client, Errno};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one bdevperf run measured.
#[derive(Debug, Clone, Copy)]
pub struct Perf {
    pub iops: f64,
    pub avg_us: f64,
    pub p99_us: f64,
    pub fails_per_s: f64,
}

/// Run bdevperf on core 1 against `ex` (NVMe-oF/TCP on 127.0.0.1): `qd`
/// I/Os of `size` bytes of `workload` for `secs` seconds, latency tracked.
pub fn bdevperf(
    lab: &Lab,
    ex: &Export,
    workload: &str,
    qd: u32,
    size: u64,
    secs: u32,
) -> Result<Perf> {
    let dir = super::work_dir()?;
    let cfg = dir.join("bdevperf.json");
    let json = serde_json::json!({"subsystems": [{"subsystem": "bdev", "config": [
        {"method": "bdev_nvme_attach_controller", "params": {
            "name": "Nvme0", "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1",
            "trsvcid": ex.port.to_string(), "subnqn": ex.nqn}},
        {"method": "bdev_wait_for_examine"}]}]});
    std::fs::write(&cfg, serde_json::to_vec_pretty(&json).unwrap())
        .ctx(|| "write bdevperf config".into())?;
    let out = Command::new(lab.build.bdevperf())
        .args(["-m", "0x2", "--disable-cpumask-locks"])
        .args(lab.tgt.memory().args())
        .arg(format!("--json={}", cfg.display()))
        .args([
            "-q",
            &qd.to_string(),
            "-o",
            &size.to_string(),
            "-w",
            workload,
            "-t",
            &secs.to_string(),
            "-l",
        ])
        .current_dir(lab.dir())
        .stdin(Stdio::null())
        .output()
        .ctx(|| "run bdevperf".into())?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let tail: Vec<&str> = text.lines().chain(err.lines()).collect();
        return Err(Error::Tool(format!(
            "bdevperf {workload} failed ({}): {}",
            out.status,
            tail[tail.len().saturating_sub(15)..].join(" | ")
        )));
    }
    parse_bdevperf(&text)
}

/// The "Total" line (IOPS, MiB/s, Fail/s, TO/s, average, min, max latency
/// in µs) and the 99th percentile of the latency summary.
pub fn parse_bdevperf(text: &str) -> Result<Perf> {
    let total = text
        .lines()
        .map(|l| l.trim_start_matches('\r').trim())
        .find(|l| l.starts_with("Total"))
        .ok_or_else(|| Error::Tool(format!("no Total line in bdevperf's output: {text}")))?;
    let nums: Vec<f64> = total
        .split_once(':')
        .map(|(_, r)| r)
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    if nums.len() < 5 {
        return Err(Error::Tool(format!("bad bdevperf Total line: {total}")));
    }
    let p99 = text
        .lines()
        .map(|l| l.trim_start_matches('\r').trim())
        .find(|l| l.starts_with("99.00000%"))
        .and_then(|l| l.split_once(':'))
        .and_then(|(_, v)| v.trim().trim_end_matches("us").parse::<f64>().ok())
        .ok_or_else(|| Error::Tool(format!("no 99% latency in bdevperf's output: {text}")))?;
    Ok(Perf {
        iops: nums[0],
        avg_us: nums[4],
        p99_us: p99,
        fails_per_s: nums[2],
    })
}

/// A thread sending requests until its flag is set, and what it gives back:
/// each answer's latency (ms) and errno (None for success).
type Sender = (
    Arc<AtomicBool>,
    std::thread::JoinHandle<Result<Vec<(f64, Option<Errno>)>>>,
);

/// Send `req` on a connection of its own every `every` (back to back if
/// zero) until the returned flag is set; the thread gives back the
/// latencies (ms) and the answers' errnos (None for success).
fn keep_sending<R>(lab: &Lab, req: R, every: Duration) -> Result<Sender>
where
    R: spdk_rpc::Rpc + Send + 'static,
{
    let mut conn: Client = lab.tgt.connect()?;
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let h = std::thread::spawn(move || {
        let mut out = vec![];
        let t0 = Instant::now();
        let mut n = 0u32;
        while !flag.load(Ordering::Relaxed) {
            let t = Instant::now();
            let r = conn.call_timeout(&req, Duration::from_secs(120));
            let errno = match r {
                Ok(_) => None,
                Err(e) => match e.errno() {
                    Some(n) => Some(n),
                    None => return Err(Error::Check(format!("{}: {e}", R::METHOD))),
                },
            };
            out.push((ms(t.elapsed()), errno));
            n += 1;
            // The next request's scheduled time (a pace, not a wait for
            // anything to happen).
            let next = every * n;
            if let Some(left) = next.checked_sub(t0.elapsed()) {
                std::thread::sleep(left);
            }
        }
        Ok(out)
    });
    Ok((done, h))
}

fn join<T>(h: std::thread::JoinHandle<Result<T>>) -> Result<T> {
    h.join()
        .map_err(|_| Error::Tool("a request thread panicked".into()))?
}

/// Interrupts of the block devices' request queues (virtio "req" or NVMe
/// queues) per CPU, from /proc/interrupts: which core serves the kernel's
/// side of the AIO file's I/O.
fn disk_interrupts() -> Vec<u64> {
    let text = std::fs::read_to_string("/proc/interrupts").unwrap_or_default();
    let cpus = text
        .lines()
        .next()
        .map_or(0, |l| l.split_whitespace().count());
    let mut per_cpu = vec![0u64; cpus];
    for l in text.lines().skip(1) {
        if !(l.contains("-req") || l.contains("nvme")) {
            continue;
        }
        for (i, v) in l.split_whitespace().skip(1).take(cpus).enumerate() {
            per_cpu[i] += v.parse::<u64>().unwrap_or(0);
        }
    }
    per_cpu
}

/// Whether the disk's interrupts could be moved to another CPU: each disk
/// interrupt's affinity written back unchanged (/proc/irq/N/smp_affinity_list),
/// which the kernel refuses for an interrupt it manages itself. Changes
/// nothing either way.
fn disk_interrupts_movable() -> String {
    let text = std::fs::read_to_string("/proc/interrupts").unwrap_or_default();
    let mut answers = vec![];
    for l in text.lines().skip(1) {
        if !(l.contains("-req") || l.contains("nvme")) {
            continue;
        }
        let Some(n) = l.split(':').next().map(str::trim) else {
            continue;
        };
        let path = format!("/proc/irq/{n}/smp_affinity_list");
        let answer = match std::fs::read_to_string(&path) {
            Ok(cur) => match std::fs::write(&path, cur.trim()) {
                Ok(()) => format!("interrupt {n} can be moved"),
                Err(e) => format!("interrupt {n} cannot be moved ({e})"),
            },
            Err(e) => format!("interrupt {n}: {path}: {e}"),
        };
        answers.push(answer);
    }
    answers.join(", ")
}

/// Seconds each bdevperf run measures.
const RUN_SECS: u32 = 5;

/// One CPU's time from /proc/stat, in clock ticks: user (and nice), the
/// kernel (system, irq and softirq), stolen by the host, idle (and iowait).
#[derive(Debug, Clone, Copy, Default)]
struct CpuTime {
    user: u64,
    kernel: u64,
    steal: u64,
    idle: u64,
}

impl CpuTime {
    fn total(&self) -> u64 {
        self.user + self.kernel + self.steal + self.idle
    }

    fn pct(&self, part: u64) -> f64 {
        part as f64 * 100.0 / self.total().max(1) as f64
    }
}

/// One part of a CPU's time.
type CpuPart = fn(&CpuTime) -> u64;

/// Every CPU's time so far (the "cpuN" lines of /proc/stat).
fn cpu_times() -> Vec<CpuTime> {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .map(|t| t.parse().unwrap_or(0))
                .chain(std::iter::repeat(0))
                .take(8)
                .collect();
            CpuTime {
                user: v[0] + v[1],
                kernel: v[2] + v[5] + v[6],
                steal: v[7],
                idle: v[3] + v[4],
            }
        })
        .collect()
}

/// What each CPU spent between two samples of `cpu_times()`.
fn cpu_spent(before: &[CpuTime], after: &[CpuTime]) -> Vec<CpuTime> {
    after
        .iter()
        .zip(before)
        .map(|(a, b)| CpuTime {
            user: a.user.saturating_sub(b.user),
            kernel: a.kernel.saturating_sub(b.kernel),
            steal: a.steal.saturating_sub(b.steal),
            idle: a.idle.saturating_sub(b.idle),
        })
        .collect()
}

/// One bdevperf run, and what each CPU spent during it.
fn bdevperf_cpu(lab: &Lab, ex: &Export, workload: &str) -> (Result<Perf>, Vec<CpuTime>) {
    let before = cpu_times();
    let p = bdevperf(lab, ex, workload, 16, 4096, RUN_SECS);
    (p, cpu_spent(&before, &cpu_times()))
}

/// Median over runs of `f` of CPU `cpu`'s time, as a whole percentage.
fn cpu_median(runs: &[Vec<CpuTime>], cpu: usize, f: impl Fn(&CpuTime) -> u64) -> String {
    let s = Samples(
        runs.iter()
            .filter_map(|r| r.get(cpu).map(|c| c.pct(f(c))))
            .collect(),
    );
    if s.0.is_empty() {
        "?".into()
    } else {
        format!("{:.0}", s.median())
    }
}

/// Bytes of the AIO file each reader thread reads at a time, and threads:
/// the pass's cluster reads and depth.
const READ_SIZE: usize = 4 * MIB as usize;
const READERS: usize = 4;

/// A reader thread of `keep_reading`, giving back the bytes it read.
type Reader = std::thread::JoinHandle<Result<u64>>;

/// Threads on CPU 0 (the target's) that read the first `DATA` bytes of
/// `file` over and over with O_DIRECT, `READERS` reads of `READ_SIZE` in
/// flight as a pass keeps them, until the flag is set; each thread gives
/// back the bytes it read. The kernel's and the disk's side of a pass's reads
/// without the pass.
fn keep_reading(file: &std::path::Path) -> Result<(Arc<AtomicBool>, Vec<Reader>)> {
    use nix::sched::{sched_setaffinity, CpuSet};
    use nix::unistd::Pid;
    use std::os::unix::fs::{FileExt, OpenOptionsExt};

    let f = Arc::new(
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_DIRECT.bits())
            .open(file)
            .ctx(|| format!("open {} with O_DIRECT", file.display()))?,
    );
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let readers = (0..READERS)
        .map(|_| {
            let (f, flag, next) = (f.clone(), flag.clone(), next.clone());
            std::thread::spawn(move || -> Result<u64> {
                let mut cpus = CpuSet::new();
                cpus.set(0)
                    .map_err(|e| Error::Tool(format!("cpu set: {e}")))?;
                sched_setaffinity(Pid::from_raw(0), &cpus)
                    .map_err(|e| Error::Tool(format!("pin a reader to CPU 0: {e}")))?;
                let layout = std::alloc::Layout::from_size_align(READ_SIZE, 4096).unwrap();
                // SAFETY: a non-zero size; freed below with the same layout.
                let ptr = unsafe { std::alloc::alloc(layout) };
                if ptr.is_null() {
                    return Err(Error::Tool("no memory for a reader's buffer".into()));
                }
                // SAFETY: ptr holds READ_SIZE bytes and only this thread uses it.
                let buf = unsafe { std::slice::from_raw_parts_mut(ptr, READ_SIZE) };
                let mut bytes = 0u64;
                let mut res = Ok(());
                while !flag.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let off = i * READ_SIZE as u64 % DATA;
                    match f.read_exact_at(buf, off) {
                        Ok(()) => bytes += READ_SIZE as u64,
                        Err(e) => {
                            res = Err(Error::Tool(format!("direct read at {off}: {e}")));
                            break;
                        }
                    }
                }
                // SAFETY: allocated above with this layout.
                unsafe { std::alloc::dealloc(ptr, layout) };
                res.map(|()| bytes)
            })
        })
        .collect();
    Ok((done, readers))
}

/// What loads the target (or the disk) while bdevperf runs.
enum Load<'a> {
    /// Whole passes over a snapshot, back to back, with these options.
    Passes(&'a str, ChecksumPassOptions),
    /// Direct reads of an AIO file by threads on the target's CPU.
    Reads(&'a std::path::Path),
    /// Nothing: a second idle run, the control that shows how much two
    /// idle runs differ.
    Nothing,
}

pub fn foreground(plan: &Plan) -> Result<Figure> {
    let mut f = Figure::new(
        plan,
        5,
        "Foreground I/O while a pass runs",
        &format!(
            "One target on core 0 with a 1 GiB snapshot written with random bytes on an AIO file, \
             and a 1 GiB lvol written likewise on a malloc bdev (an lvstore of its own), exported \
             over NVMe-oF/TCP. bdevperf on core 1 runs 4 KiB random reads (then writes) at queue \
             depth 16 on that lvol for {RUN_SECS} s, idle or while whole passes over the snapshot \
             run back to back from another connection; idle and busy runs take turns, the idle \
             one first in even repetitions and last in odd ones. The lvol \
             is on another device than the snapshot so that what it loses is the reactor's time \
             the pass takes, not the disk's bandwidth. The other rows change one thing each: \
             \"passes over malloc\" run the passes over the same bytes on a malloc bdev, so that \
             the pass costs the reactor its copy and CRC and no kernel I/O; \"busy share 1%\" and \
             \"reads limited to\" 256 or 64 MiB/s pass those options to the register RPC; \"direct reads, \
             no pass\" replaces the passes with {READERS} threads on core 0 reading the snapshot's \
             AIO file with O_DIRECT in {} MiB reads, as the pass reads it, but without SPDK: what \
             the disk's traffic alone costs the two cores; \"same AIO file\" puts the lvol on the \
             snapshot's file, where the two share the disk; \"nothing running\" is the control: \
             a second idle run in place of the busy one, so its spread is how much two idle runs \
             differ here, the noise under every other row's dip. IOPS and the 99th percentile of \
             latency, busy against idle, and where the two CPUs' time went (/proc/stat).",
            READ_SIZE as u64 / MIB
        ),
    );
    let data = random_bytes(plan.seed, DATA);
    let mut lab = Lab::with_build(plan.patched.clone(), BaseKind::Aio)?;
    lab.create_lvstore("d", "lvs", 2 * DATA / MIB + 64)?;
    let m = lab.tgt.ok(&BdevMallocCreate {
        name: "m0".into(),
        num_blocks: (DATA + 64 * MIB) / 4096,
        block_size: 4096,
    })?;
    lab.create_lvstore_on(m, "mlvs")?;
    let vol = steps::thick_lvol(&mut lab, "lvs", "vol", DATA / MIB)?;
    lab.write(&vol, 0, &data)?;
    let snap = steps::snapshot(&mut lab, &vol, "snap")?;
    // The same snapshot on a malloc bdev: a pass without the kernel's I/O work.
    let m1 = lab.tgt.ok(&BdevMallocCreate {
        name: "m1".into(),
        num_blocks: (DATA + 64 * MIB) / 4096,
        block_size: 4096,
    })?;
    lab.create_lvstore_on(m1, "slvs")?;
    let mvol = steps::thick_lvol(&mut lab, "slvs", "vol", DATA / MIB)?;
    lab.write(&mvol, 0, &data)?;
    let msnap = steps::snapshot(&mut lab, &mvol, "snap")?;
    let fg = steps::thick_lvol(&mut lab, "mlvs", "fg", DATA / MIB)?;
    lab.write(&fg, 0, &random_bytes(plan.seed ^ 1, DATA))?;
    let same = steps::thick_lvol(&mut lab, "lvs", "same", DATA / MIB)?;
    lab.write(&same, 0, &random_bytes(plan.seed ^ 2, DATA))?;
    let fg_ex = lab.export(&fg)?;
    let same_ex = lab.export(&same)?;
    let file = lab.disk_file("d")?;

    let default = ChecksumPassOptions::default;
    let irq_before = disk_interrupts();
    let mut rows = vec![];
    // Each row's dip (busy / idle IOPS), by "workload on where", for the
    // note that says why a goal is not met.
    let mut dips: Vec<(String, Samples)> = vec![];
    let mut missed: Vec<String> = vec![];
    for (ex, workload, where_, load) in [
        (&fg_ex, "randread", "malloc", Load::Passes(&snap, default())),
        (
            &fg_ex,
            "randwrite",
            "malloc",
            Load::Passes(&snap, default()),
        ),
        (
            &fg_ex,
            "randread",
            "malloc, nothing running (control)",
            Load::Nothing,
        ),
        (
            &fg_ex,
            "randwrite",
            "malloc, nothing running (control)",
            Load::Nothing,
        ),
        (
            &fg_ex,
            "randread",
            "malloc, passes over malloc",
            Load::Passes(&msnap, default()),
        ),
        (
            &fg_ex,
            "randread",
            "malloc, busy share 1%",
            Load::Passes(
                &snap,
                ChecksumPassOptions {
                    busy_share: Some(1),
                    ..default()
                },
            ),
        ),
        (
            &fg_ex,
            "randread",
            "malloc, reads limited to 256 MiB/s",
            Load::Passes(
                &snap,
                ChecksumPassOptions {
                    max_read_bytes_per_sec: Some(256 * MIB),
                    ..default()
                },
            ),
        ),
        (
            &fg_ex,
            "randwrite",
            "malloc, reads limited to 64 MiB/s",
            Load::Passes(
                &snap,
                ChecksumPassOptions {
                    max_read_bytes_per_sec: Some(64 * MIB),
                    ..default()
                },
            ),
        ),
        (
            &fg_ex,
            "randread",
            "malloc, direct reads, no pass",
            Load::Reads(&file),
        ),
        (
            &same_ex,
            "randread",
            "same AIO file",
            Load::Passes(&snap, default()),
        ),
    ] {
        let (mut idle, mut busy) = (vec![], vec![]);
        let (mut idle_cpu, mut busy_cpu) = (vec![], vec![]);
        let mut passes = 0;
        let mut bytes = 0;
        for rep in 0..plan.reps {
            log_line(&format!("bench: {workload} on {where_}, rep {rep}"));
            // Idle first in even repetitions, last in odd ones: the second of
            // two runs in a row is not the busy one every time (the control
            // rows once showed the second idle run of a pair 20% faster).
            let idle_last = rep % 2 == 1;
            if !idle_last {
                let (p, cpu) = bdevperf_cpu(&lab, ex, workload);
                idle.push(p?);
                idle_cpu.push(cpu);
            }
            let (p, cpu) = match &load {
                Load::Passes(snap, options) => {
                    let (done, h) = keep_sending(
                        &lab,
                        BdevLvolRegisterSnapshotChecksum {
                            name: snap.to_string(),
                            options: options.clone(),
                        },
                        Duration::ZERO,
                    )?;
                    let (p, cpu) = bdevperf_cpu(&lab, ex, workload);
                    done.store(true, Ordering::Relaxed);
                    let answers = join(h)?;
                    let p = p?;
                    if let Some((_, Some(e))) = answers.iter().find(|(_, e)| e.is_some()) {
                        return Err(Error::Check(format!("a pass failed with {e}")));
                    }
                    passes += answers.len();
                    (p, cpu)
                }
                Load::Reads(file) => {
                    let (done, readers) = keep_reading(file)?;
                    let (p, cpu) = bdevperf_cpu(&lab, ex, workload);
                    done.store(true, Ordering::Relaxed);
                    for r in readers {
                        bytes += join(r)?;
                    }
                    (p?, cpu)
                }
                Load::Nothing => {
                    let (p, cpu) = bdevperf_cpu(&lab, ex, workload);
                    (p?, cpu)
                }
            };
            busy.push(p);
            busy_cpu.push(cpu);
            if idle_last {
                let (p, cpu) = bdevperf_cpu(&lab, ex, workload);
                idle.push(p?);
                idle_cpu.push(cpu);
            }
        }
        let iops = |v: &[Perf]| Samples(v.iter().map(|p| p.iops).collect());
        let p99 = |v: &[Perf]| Samples(v.iter().map(|p| p.p99_us).collect());
        let (ii, bi) = (iops(&idle), iops(&busy));
        let (il, bl) = (p99(&idle), p99(&busy));
        let dip = bi.ratio(&ii);
        let added = Samples(bl.0.iter().zip(&il.0).map(|(b, i)| b - i).collect());
        let what = |x: &str| format!("{workload} on {where_}: {x}");
        rows.push(Row::context(
            what("IOPS idle / busy (thousands)"),
            format!("{:.0} / {:.0}", ii.median() / 1e3, bi.median() / 1e3),
        ));
        let dip_text = format!(
            "{} ({} to {})",
            change(dip.median(), 1.0),
            change(dip.min(), 1.0),
            change(dip.max(), 1.0)
        );
        rows.push(Row::context(
            what("p99 latency idle / busy (µs)"),
            format!("{:.0} / {:.0}", il.median(), bl.median()),
        ));
        if where_ == "malloc" {
            if dip.median() < 0.9 {
                missed.push(format!(
                    "{workload}'s IOPS dip by {:.1} points",
                    (0.9 - dip.median()) * 100.0
                ));
            }
            if added.median() > 100.0 {
                missed.push(format!(
                    "{workload}'s p99 by {:.0} µs",
                    added.median() - 100.0
                ));
            }
            rows.push(Row::goal(
                what("IOPS while passes run"),
                dip_text,
                "a dip of at most 10%",
                dip.median() >= 0.9,
            ));
            rows.push(Row::goal(
                what("p99 latency added (µs)"),
                added.show(0),
                "at most +100 µs",
                added.median() <= 100.0,
            ));
        } else {
            rows.push(Row::context(what("IOPS while busy"), dip_text));
            rows.push(Row::context(what("p99 latency added (µs)"), added.show(0)));
        }
        dips.push((format!("{workload} on {where_}"), dip));
        let cpus = |runs: &[Vec<CpuTime>], f: CpuPart| {
            format!("{} / {}", cpu_median(runs, 0, f), cpu_median(runs, 1, f))
        };
        let parts: [(&str, CpuPart); 2] = [
            ("kernel time", |c| c.kernel),
            ("time stolen by the host", |c| c.steal),
        ];
        for (name, part) in parts {
            rows.push(Row::context(
                what(&format!("{name} on CPU 0 / CPU 1, idle → busy (%)")),
                format!("{} → {}", cpus(&idle_cpu, part), cpus(&busy_cpu, part)),
            ));
        }
        match load {
            Load::Passes(..) => rows.push(Row::context(
                what("passes completed during the busy runs"),
                passes.to_string(),
            )),
            Load::Reads(_) => rows.push(Row::context(
                what("GiB read during the busy runs"),
                format!("{:.1}", bytes as f64 / (1024.0 * MIB as f64)),
            )),
            Load::Nothing => {}
        }
    }
    f.rows = rows;
    let irqs: Vec<u64> = disk_interrupts()
        .iter()
        .zip(irq_before.iter().chain(std::iter::repeat(&0)))
        .map(|(a, b)| a.saturating_sub(*b))
        .collect();
    let total: u64 = irqs.iter().sum();
    if total > 0 {
        let shares: Vec<String> = irqs
            .iter()
            .enumerate()
            .map(|(i, n)| format!("CPU {i}: {:.0}%", *n as f64 * 100.0 / total as f64))
            .collect();
        f.notes.push(format!(
            "The disk's interrupts during this figure ({total} of them, /proc/interrupts): {}. \
             The target runs on CPU 0 and bdevperf on CPU 1, so the kernel's side of the pass's \
             reads (and of the lvol's on the same AIO file) runs wherever those interrupts land; \
             writing each one's affinity back unchanged says whether they could go elsewhere: {}.",
            shares.join(", "),
            disk_interrupts_movable()
        ));
    }
    if !missed.is_empty() {
        let dip_of = |key: &str| {
            dips.iter().find(|(k, _)| k == key).map(|(_, d)| {
                format!(
                    "{} ({} to {})",
                    change(d.median(), 1.0),
                    change(d.min(), 1.0),
                    change(d.max(), 1.0)
                )
            })
        };
        let mut why = vec![];
        for w in ["randread", "randwrite"] {
            if let Some(d) = dip_of(&format!("{w} on malloc, nothing running (control)")) {
                why.push(format!("two idle runs of {w} differ by {d}"));
            }
        }
        if let Some(d) = dip_of("randread on malloc, direct reads, no pass") {
            why.push(format!(
                "the disk's traffic alone, read without SPDK, costs randread {d}"
            ));
        }
        if let Some(d) = dip_of("randwrite on malloc, reads limited to 64 MiB/s") {
            why.push(format!(
                "passes reading at most 64 MiB/s cost randwrite {d}"
            ));
        }
        f.notes.push(format!(
            "Not met in this run: {}. Measured beside them: {}.",
            missed.join(", "),
            why.join("; ")
        ));
    }
    f.notes.push(
        "What the pass costs the reactor beyond its CRC: the rows with the passes over malloc \
         have no kernel I/O, but each 4 MiB read of a malloc bdev is one copy on the reactor; \
         the pass reads a whole cluster per I/O. The pass issues its reads and hashes in steps \
         that yield to busy pollers (busy_share, 5% by default), so both count in its share; \
         their completions and the kernel's and the disk's side of them do not, and a rate \
         limit (max_read_bytes_per_sec, off by default) bounds those. The kernel time and the \
         time stolen by the host show what the disk's traffic costs the two CPUs whoever \
         reads: the row with the direct reads has no pass at all."
            .into(),
    );
    Ok(f)
}

/// Read latency of the parent in figure 8, so that a decouple lasts longer
/// than a bdevperf run.
const PARENT_READ_US: u64 = 100_000;
/// The parent's size: its decouple copies one cluster at a time, each read
/// taking [`PARENT_READ_US`], so it lasts about 13 s.
const PARENT: u64 = 512 * MIB;

pub fn busy_delete(plan: &Plan) -> Result<Figure> {
    let mut f = Figure::new(
        plan,
        8,
        "Writes while refused deletes arrive",
        &format!(
            "An lvol is busy while a decouple copies its parent's clusters into it: a delete of it \
             is refused with -EBUSY before anything is torn down (our series). The lvstore sits on \
             a delay bdev that adds {} ms to each read over an AIO file, so that a decouple of \
             the 512 MiB parent (one cluster at a time) lasts well past a bdevperf run. For each \
             run a new clone of the parent is exported over NVMe-oF/TCP and decoupled; bdevperf \
             on core 1 writes 4 KiB sequentially (so that its copies-on-write touch few of the \
             clusters the decouple has yet to copy) at queue depth 16 for {RUN_SECS} s while the \
             decouple runs, with or \
             without a `bdev_lvol_delete` of the clone every 10 ms from another connection. The \
             two kinds of run take turns.",
            PARENT_READ_US / 1000
        ),
    );
    let mut lab = Lab::with_build(plan.patched.clone(), BaseKind::Aio)?;
    let aio = lab.add_disk("d", 3 * PARENT / MIB)?;
    let slow = steps::delay_bdev(
        &mut lab,
        "slow",
        &aio,
        steps::Latency::reads(PARENT_READ_US),
    )?;
    lab.create_lvstore_on(slow, "lvs")?;
    let p = steps::thick_lvol(&mut lab, "lvs", "p", PARENT / MIB)?;
    let parent = steps::snapshot(&mut lab, &p, "parent")?;

    let (mut quiet, mut deleted) = (vec![], vec![]);
    let mut refused = Samples::default();
    let mut i = 0;
    for rep in 0..plan.reps {
        for with_deletes in [false, true] {
            log_line(&format!(
                "bench: busy delete rep {rep}, deletes {with_deletes}"
            ));
            i += 1;
            let vol = steps::clone_snapshot(&mut lab, &parent, &format!("v{i}"))?;
            let ex = lab.export(&vol)?;
            let mut conn = lab.tgt.connect()?;
            let dec = steps::send(&mut conn, &BdevLvolDecoupleParent { name: vol.clone() })?;
            let sender = if with_deletes {
                Some(keep_sending(
                    &lab,
                    BdevLvolDelete { name: vol.clone() },
                    Duration::from_millis(10),
                )?)
            } else {
                None
            };
            let perf = bdevperf(&lab, &ex, "write", 16, 4096, RUN_SECS);
            let answers = match sender {
                Some((done, h)) => {
                    done.store(true, Ordering::Relaxed);
                    Some(join(h)?)
                }
                None => None,
            };
            conn.wait_typed::<BdevLvolDecoupleParent>(dec, Duration::from_secs(600))
                .map_err(|e| Error::Check(format!("decouple of {vol}: {e}")))?;
            if let Some(a) = &answers {
                if let Some((_, e)) = a.iter().find(|(_, e)| *e != Some(Errno::EBUSY)) {
                    return Err(Error::Check(format!(
                        "a delete of {vol} during its decouple answered {e:?}, not -EBUSY (the \
                         decouple ended before bdevperf did: make the parent slower)"
                    )));
                }
            }
            let perf = perf?;
            if perf.fails_per_s > 0.0 {
                return Err(Error::Check(format!(
                    "writes to {vol} failed ({:.1}/s) {} deletes",
                    perf.fails_per_s,
                    if with_deletes { "with" } else { "without" }
                )));
            }
            if let Some(a) = answers {
                // Each delete must have been refused while the decouple ran;
                // one that came after it ended would have deleted the clone.
                for (t, _) in &a {
                    refused.push(*t);
                }
                deleted.push(perf);
            } else {
                quiet.push(perf);
            }
            lab.unexport(&vol)?;
            lab.tgt.ok(&BdevLvolDelete { name: vol })?;
        }
    }
    let iops = |v: &[Perf]| Samples(v.iter().map(|p| p.iops).collect());
    let (q, d) = (iops(&quiet), iops(&deleted));
    let dip = d.ratio(&q);
    f.rows.push(Row::context(
        "refused delete latency p50 / p99 / max (ms)",
        format!(
            "{:.2} / {:.2} / {:.2} ({} deletes)",
            refused.pct(50.0),
            refused.pct(99.0),
            refused.max(),
            refused.0.len()
        ),
    ));
    f.rows.push(Row::context(
        "write IOPS without / with deletes (thousands)",
        format!("{:.1} / {:.1}", q.median() / 1e3, d.median() / 1e3),
    ));
    f.rows.push(Row::goal(
        "write IOPS with refused deletes every 10 ms",
        format!(
            "{} ({} to {})",
            change(dip.median(), 1.0),
            change(dip.min(), 1.0),
            change(dip.max(), 1.0)
        ),
        "no I/O error; a dip under 5%",
        dip.median() > 0.95,
    ));
    f.notes.push(
        "Every bdevperf run ended with no failed I/O (a failure fails the figure), and every \
         delete sent during a decouple was refused with -EBUSY."
            .into(),
    );
    Ok(f)
}
