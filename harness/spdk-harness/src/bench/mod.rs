//! `make bench`: the speed figures of the series, each a ratio measured in
//! one run on the same bytes, written with the machine and the command that
//! reproduces it into `docs/PERFORMANCE.md`. Never a pass/fail test: a goal
//! not met is reported, with by how much.
//!
//! - [`pass`]: the checksum pass against a raw read of the same blocks (AIO,
//!   malloc, a 1 ms delay bdev), against Longhorn's unpatched fork, range
//!   against whole, and stop latency (figures 1 to 3);
//! - [`detach`]: detach against decouple as the parent grows (figure 4);
//! - [`load`]: foreground I/O while passes run, and writes while refused
//!   deletes arrive (figures 5 and 8);
//! - [`scale`]: per-cluster checksums of 64 GiB and 1 TiB snapshots (figure 6);
//! - [`footprint`]: start-to-ready and memory of `spdk_tgt` (figure 7);
//! - [`devloop`]: build and test times of the developer loop (figure 9).
//!
//! Repetitions are interleaved: each repetition measures every side of a
//! ratio once, so that a slow moment of the machine hits both sides.

pub mod detach;
pub mod devloop;
pub mod footprint;
pub mod load;
pub mod pass;
pub mod scale;

use crate::build::{workspace_root, SpdkBuild};
use crate::error::{Error, Result};
use crate::target::log_line;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What a `make bench` run measures.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Repetitions of each measurement (at least 5 for the doc).
    pub reps: u32,
    /// The figures to run (1 to 9); all by default.
    pub figures: Vec<u32>,
    /// Seed of the data written and of the random stop points.
    pub seed: u64,
    /// The patched build (master).
    pub patched: SpdkBuild,
    /// Longhorn's fork without our series (`longhorn-v24.09`, unpatched),
    /// for the figures that compare with it.
    pub unpatched: Option<SpdkBuild>,
    /// Longhorn's fork with our backport series, for the footprint.
    pub backport: Option<SpdkBuild>,
}

pub const ALL_FIGURES: [u32; 9] = [1, 2, 3, 4, 5, 6, 7, 8, 9];

impl Plan {
    pub fn wants(&self, fig: u32) -> bool {
        self.figures.contains(&fig)
    }

    /// The command that reproduces figure `fig`.
    pub fn command(&self, fig: u32) -> String {
        format!(
            "make bench BENCH_FIGURES={fig} BENCH_REPS={} BENCH_SEED={}",
            self.reps, self.seed
        )
        // (with one figure, make bench writes build/bench/PERFORMANCE.md)
    }
}

/// Measurements of one quantity, in the unit its figure says.
#[derive(Debug, Clone, Default)]
pub struct Samples(pub Vec<f64>);

impl Samples {
    pub fn push(&mut self, v: f64) {
        self.0.push(v);
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    /// The value at percentile `p` (0 to 100), nearest rank.
    pub fn pct(&self, p: f64) -> f64 {
        let v = self.sorted();
        if v.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }

    pub fn median(&self) -> f64 {
        let v = self.sorted();
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    pub fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }

    pub fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }

    /// Median and spread, with `prec` decimals: `0.97 (0.95 to 0.99)`.
    pub fn show(&self, prec: usize) -> String {
        format!(
            "{:.prec$} ({:.prec$} to {:.prec$})",
            self.median(),
            self.min(),
            self.max()
        )
    }

    /// Ratios of paired samples: `self[i] / other[i]`.
    pub fn ratio(&self, other: &Samples) -> Samples {
        Samples(self.0.iter().zip(&other.0).map(|(a, b)| a / b).collect())
    }
}

/// Seconds of `d`.
pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Milliseconds of `d`.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Time `f`.
pub fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, Duration)> {
    let t0 = Instant::now();
    let v = f()?;
    Ok((v, t0.elapsed()))
}

/// Whether a row's goal holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Met,
    NotMet,
    /// A figure without a goal: context for the others.
    Context,
}

#[derive(Debug, Clone)]
pub struct Row {
    pub what: String,
    pub value: String,
    pub goal: String,
    pub verdict: Verdict,
}

impl Row {
    pub fn context(what: impl Into<String>, value: impl Into<String>) -> Row {
        Row {
            what: what.into(),
            value: value.into(),
            goal: String::new(),
            verdict: Verdict::Context,
        }
    }

    /// A row with a goal: `met` decides the verdict.
    pub fn goal(
        what: impl Into<String>,
        value: impl Into<String>,
        goal: impl Into<String>,
        met: bool,
    ) -> Row {
        Row {
            what: what.into(),
            value: value.into(),
            goal: goal.into(),
            verdict: if met { Verdict::Met } else { Verdict::NotMet },
        }
    }
}

/// One figure of the doc: its rows, what they mean, and how to get them again.
#[derive(Debug, Clone)]
pub struct Figure {
    pub id: u32,
    pub title: String,
    /// How it is measured, in a few sentences.
    pub method: String,
    pub rows: Vec<Row>,
    /// What the figures say, and why a goal is not met.
    pub notes: Vec<String>,
    pub command: String,
    pub secs: f64,
    /// It could not be measured (the notes say why).
    pub failed: bool,
}

impl Figure {
    pub fn new(plan: &Plan, id: u32, title: &str, method: &str) -> Figure {
        Figure {
            id,
            title: title.into(),
            method: method.into(),
            rows: vec![],
            notes: vec![],
            command: plan.command(id),
            secs: 0.0,
            failed: false,
        }
    }

    fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "## {}. {}\n", self.id, self.title);
        let _ = writeln!(s, "{}\n", self.method);
        if !self.rows.is_empty() {
            let _ = writeln!(s, "| figure | median (min to max) | goal | |");
            let _ = writeln!(s, "| --- | --- | --- | --- |");
            for r in &self.rows {
                let v = match r.verdict {
                    Verdict::Met => "met",
                    Verdict::NotMet => "**not met**",
                    Verdict::Context => "",
                };
                let _ = writeln!(s, "| {} | {} | {} | {v} |", r.what, r.value, r.goal);
            }
            s.push('\n');
        }
        for n in &self.notes {
            let _ = writeln!(s, "{n}\n");
        }
        let _ = writeln!(
            s,
            "Reproduce: `{}` ({:.0} s in this run).\n",
            self.command, self.secs
        );
        s
    }
}

/// A figure that could not be measured: the error is the figure.
fn failed(plan: &Plan, id: u32, e: &Error) -> Figure {
    let mut f = Figure::new(plan, id, &format!("figure {id}"), "");
    f.title = format!("figure {id} failed");
    f.failed = true;
    f.notes.push(format!("The run failed: {e}"));
    f
}

/// Run the plan's figures in order; a figure that fails is reported as such
/// and the others still run. `done` gets the figures so far after each one.
pub fn run(plan: &Plan, mut done: impl FnMut(&[Figure])) -> Vec<Figure> {
    let mut out = vec![];
    for fig in ALL_FIGURES {
        if !plan.wants(fig) {
            continue;
        }
        log_line(&format!("bench: figure {fig} ..."));
        let t0 = Instant::now();
        let r = match fig {
            1 => pass::against_device(plan),
            2 => pass::range_against_whole(plan),
            3 => pass::stop_latency(plan),
            4 => detach::against_decouple(plan),
            5 => load::foreground(plan),
            6 => scale::range_checksums(plan),
            7 => footprint::start_and_memory(plan),
            8 => load::busy_delete(plan),
            9 => devloop::developer_loop(plan),
            _ => unreachable!(),
        };
        let mut f = r.unwrap_or_else(|e| failed(plan, fig, &e));
        f.secs = t0.elapsed().as_secs_f64();
        log_line(&format!("bench: figure {fig} done in {:.0} s", f.secs));
        eprint!("{}", f.markdown());
        out.push(f);
        done(&out);
    }
    out
}

/// The doc: machine, commit, then every figure.
pub fn markdown(plan: &Plan, figures: &[Figure], total: Duration) -> String {
    let mut s = String::new();
    s.push_str("# Performance\n\n");
    s.push_str(
        "Written by `make bench` (`spdk-verify --bench`); do not edit by hand. Every figure is a \
         ratio of two measurements taken in the same run, on the same bytes, with their \
         repetitions interleaved; absolute times are context only. Each figure gives the command \
         that measures it again. How the run works: `harness/spdk-harness/src/bench/`.\n\n",
    );
    let _ = writeln!(s, "## Machine and run\n");
    for (k, v) in machine() {
        let _ = writeln!(s, "- {k}: {v}");
    }
    let _ = writeln!(
        s,
        "- run: {} repetitions, seed {}, {:.0} min in all",
        plan.reps,
        plan.seed,
        total.as_secs_f64() / 60.0
    );
    let _ = writeln!(s, "- patched build: `{}`", plan.patched.tree.display());
    if let Some(u) = &plan.unpatched {
        let _ = writeln!(s, "- unpatched Longhorn build: `{}`", u.tree.display());
    }
    s.push('\n');
    let (met, not): (Vec<&Row>, Vec<&Row>) = figures
        .iter()
        .flat_map(|f| f.rows.iter())
        .filter(|r| r.verdict != Verdict::Context)
        .partition(|r| r.verdict == Verdict::Met);
    let _ = writeln!(
        s,
        "Goals: {} met, {} not met{}.\n",
        met.len(),
        not.len(),
        if not.is_empty() {
            format!(
                " ({})",
                not.iter()
                    .map(|r| r.what.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        } else {
            String::new()
        }
    );
    for f in figures {
        s.push_str(&f.markdown());
    }
    s
}

/// What the figures were measured on.
fn machine() -> Vec<(&'static str, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown".into(), |(_, m)| m.trim().to_string());
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<u64>().ok())
        .map_or("unknown".into(), |k| format!("{} GiB", k / 1024 / 1024));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let tmp = std::env::temp_dir();
    let fs = command_line("df", &["-hT", &tmp.display().to_string()])
        .lines()
        .nth(1)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            format!(
                "{} ({}, {} free) holds the AIO files",
                f.first().unwrap_or(&"?"),
                f.get(1).unwrap_or(&"?"),
                f.get(4).unwrap_or(&"?")
            )
        })
        .unwrap_or_default();
    let commit = command_line(
        "git",
        &[
            "-C",
            &workspace_root().display().to_string(),
            "log",
            "-1",
            "--format=%h %s",
        ],
    );
    vec![
        ("CPU", format!("{model}, {cores} cores")),
        ("memory", mem),
        ("kernel", kernel),
        ("disk", fs),
        ("commit", commit.trim().to_string()),
        (
            "date",
            command_line("date", &["-u", "+%F %H:%M UTC"]).trim().into(),
        ),
    ]
}

fn command_line(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Where a figure keeps what it builds (the CPU ceiling's program, say).
pub fn work_dir() -> Result<PathBuf> {
    let d = workspace_root().join("build/bench");
    std::fs::create_dir_all(&d).map_err(|e| Error::Tool(format!("create {}: {e}", d.display())))?;
    Ok(d)
}

/// `value` as a percentage change against `base`: `-12.3%`.
pub fn change(value: f64, base: f64) -> String {
    format!("{:+.1}%", (value / base - 1.0) * 100.0)
}

#[cfg(test)]
mod tests {
    use super::load::parse_bdevperf;
    use super::pass::dd_duration;
    use super::Samples;

    #[test]
    fn samples_give_median_percentiles_and_paired_ratios() {
        let s = Samples(vec![4.0, 1.0, 3.0, 2.0]);
        assert_eq!(s.median(), 2.5);
        assert_eq!(s.pct(50.0), 2.0);
        assert_eq!(s.pct(99.0), 4.0);
        assert_eq!((s.min(), s.max()), (1.0, 4.0));
        let r = Samples(vec![2.0, 2.0]).ratio(&Samples(vec![1.0, 4.0]));
        assert_eq!(r.0, vec![2.0, 0.5]);
        assert_eq!(s.show(1), "2.5 (1.0 to 4.0)");
    }

    #[test]
    fn spdk_dd_speed_gives_the_copy_time() {
        let log = "\u{1b}[2K\rCopying: 512/1024 [MB] (1000 MBps)\u{1b}[2K\rCopying: 1024/1024 [MB] (average 2048 MBps)\n";
        let t = dd_duration(log, 1 << 30).unwrap();
        assert!((t.as_secs_f64() - 0.5).abs() < 1e-9, "{t:?}");
        assert!(dd_duration("Copying: 1/1 [MB] (average 3 PBps)", 1).is_err());
        assert!(dd_duration("no speed here", 1).is_err());
    }

    #[test]
    fn bdevperf_output_gives_iops_failures_and_p99() {
        let out = "\r =====\n\r Total                        :            184123.50     719.23       0.00     0.00      86.71      20.10   3020.00\n\n Latency summary\n\r =====\n\r Job: Nvme0n1 (Core Mask 0x2)\n  50.00000% :    80.123us\n  99.00000% :   141.456us\n  99.50000% :   160.000us\n";
        let p = parse_bdevperf(out).unwrap();
        assert_eq!(p.iops, 184123.50);
        assert_eq!(p.fails_per_s, 0.0);
        assert_eq!(p.avg_us, 86.71);
        assert_eq!(p.p99_us, 141.456);
        assert!(parse_bdevperf("Total : 1 2").is_err());
    }
}
