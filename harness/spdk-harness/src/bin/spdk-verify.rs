//! The verification suite: runs every scenario (or those named) against the
//! built target, prints a table and writes JUnit XML.
//!
//!   spdk-verify [--junit PATH] [--title T] [--expect-bugs] [--list] [SCENARIO...]
//!   spdk-verify [--junit PATH] [--title T] --cross-checksums LABEL=TREE LABEL=TREE...
//!   spdk-verify [--junit PATH] [--title T] --cross-disks LABEL=TREE LABEL=TREE...
//!   spdk-verify [--junit PATH] [--title T] --crash-matrix [--trials N] [--seed S] [--ops OP,...]
//!   spdk-verify [--junit PATH] [--title T] --crash-matrix --replay OP:SEED
//!   spdk-verify [--junit PATH] [--title T] --races [--runs N] [--seed S] [--replay RACE:SEED]
//!   spdk-verify --bench [--reps N] [--seed S] [--figures 1,2,...] [--out PATH]
//!
//! `--expect-bugs` is for a build that still has the bugs our series fixes (the
//! unpatched Longhorn base): each scenario that proves a bug fixed must fail
//! with a message naming that bug, and every other scenario must pass.
//!
//! `--cross-checksums` writes the same snapshot contents into a target of each
//! build (two or more) and compares their checksums with each other and with
//! the oracle.
//!
//! `--cross-disks` moves an lvstore written by a target of each build to a
//! target of each other build (upgrade and downgrade) and checks what carries
//! over: lvols, bytes, checksums, per-cluster values, a backing image's xattr.
//!
//! `--crash-matrix` SIGKILLs the target at seeded points of each operation
//! that changes an lvol store ([`spdk_harness::crash`]): N trials (default
//! 26, two per operation) over the operations in turn, trial i seeded from S
//! (default 1); `--replay OP:SEED` runs the one trial a failure printed.
//!
//! `--races` runs each race of [`spdk_harness::races`] N times (default 4)
//! with seeded jitter, and holds every outcome to the allowed set.
//!
//! `--bench` measures the figures of [`spdk_harness::bench`] (all nine by
//! default) and writes them to PATH (default `docs/PERFORMANCE.md`). The
//! unpatched Longhorn build is `build/longhorn-v24.09-unpatched/spdk` (or
//! `BENCH_UNPATCHED_TREE`), the backport `build/longhorn-v24.09/spdk`; the
//! figures that compare with them leave them out when they are not built.
//! It fails only when a figure could not be measured, never on a goal.

use spdk_harness::build::SpdkBuild;
use spdk_harness::lab::Faults;
use spdk_harness::outcome::{Expect, Outcome};
use spdk_harness::{crash, cross, cross_disks, report, scenarios};
use std::process::ExitCode;

const USAGE: &str = "usage: spdk-verify [--junit PATH] [--title T] [--expect-bugs] [--list] [SCENARIO...]\n       spdk-verify [--junit PATH] [--title T] --cross-checksums LABEL=TREE LABEL=TREE...\n       spdk-verify [--junit PATH] [--title T] --cross-disks LABEL=TREE LABEL=TREE...\n       spdk-verify [--junit PATH] [--title T] --crash-matrix [--trials N] [--seed S] [--ops OP,...]\n       spdk-verify [--junit PATH] [--title T] --crash-matrix --replay OP:SEED\n       spdk-verify [--junit PATH] [--title T] --races [--runs N] [--seed S] [--replay RACE:SEED]\n       spdk-verify --bench [--reps N] [--seed S] [--figures 1,2,...] [--out PATH]";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cross {
    Checksums,
    Disks,
}

fn number(flag: &str, v: Option<String>) -> Result<u64, String> {
    let v = v.ok_or_else(|| format!("{flag} takes a number"))?;
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    parsed.map_err(|e| format!("{flag} {v}: {e}"))
}

fn races_plan(
    runs: Option<String>,
    seed: Option<String>,
    replay: Option<String>,
) -> Result<spdk_harness::races::Plan, String> {
    use spdk_harness::races::{Race, RACES};
    let replay = match replay {
        Some(r) => {
            let (name, s) = r
                .split_once(':')
                .ok_or_else(|| format!("--replay takes RACE:SEED, got {r}"))?;
            let race = Race::parse(name).ok_or_else(|| {
                format!(
                    "no race {name}; one of: {}",
                    RACES.map(Race::label).join(", ")
                )
            })?;
            Some((race, number("--replay", Some(s.to_string()))?))
        }
        None => None,
    };
    Ok(spdk_harness::races::Plan {
        seed: seed.map_or(Ok(1), |s| number("--seed", Some(s)))?,
        runs: runs.map_or(Ok(4), |r| number("--runs", Some(r)))? as u32,
        races: RACES.to_vec(),
        replay,
    })
}

fn crash_plan(
    trials: Option<String>,
    seed: Option<String>,
    ops: Option<String>,
    replay: Option<String>,
) -> Result<crash::Plan, String> {
    let op = |s: &str| {
        crash::Op::parse(s).ok_or_else(|| {
            format!(
                "no crash matrix operation {s}; one of: {}",
                crash::OPS.map(crash::Op::label).join(", ")
            )
        })
    };
    let ops = match ops {
        Some(list) => list.split(',').map(op).collect::<Result<Vec<_>, _>>()?,
        None => crash::OPS.to_vec(),
    };
    let replay = match replay {
        Some(r) => {
            let (o, s) = r
                .split_once(':')
                .ok_or_else(|| format!("--replay takes OP:SEED, got {r}"))?;
            Some((op(o)?, number("--replay", Some(s.to_string()))?))
        }
        None => None,
    };
    let trials = match trials {
        Some(t) => number("--trials", Some(t))? as u32,
        None => 2 * ops.len() as u32,
    };
    Ok(crash::Plan {
        seed: seed.map_or(Ok(1), |s| number("--seed", Some(s)))?,
        trials,
        ops,
        replay,
    })
}

fn main() -> ExitCode {
    let mut junit = None;
    let mut title = None;
    let mut expect_bugs = false;
    let mut cross = None;
    let mut names = vec![];
    let mut crash_matrix = false;
    let mut races = false;
    let mut runs = None;
    let mut bench = false;
    let (mut reps, mut figures, mut out) = (None, None, None);
    let (mut trials, mut seed, mut ops, mut replay) = (None, None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--junit" => junit = args.next(),
            "--title" => title = args.next(),
            "--expect-bugs" => expect_bugs = true,
            "--cross-checksums" => cross = Some(Cross::Checksums),
            "--cross-disks" => cross = Some(Cross::Disks),
            "--crash-matrix" => crash_matrix = true,
            "--races" => races = true,
            "--runs" => runs = args.next(),
            "--bench" => bench = true,
            "--reps" => reps = args.next(),
            "--figures" => figures = args.next(),
            "--out" => out = args.next(),
            "--trials" => trials = args.next(),
            "--seed" => seed = args.next(),
            "--ops" => ops = args.next(),
            "--replay" => replay = args.next(),
            "--list" => {
                for s in scenarios::all() {
                    let bug = s.bug.map(|b| format!(" [{}]", b.id)).unwrap_or_default();
                    println!("{:<34} {}{bug}", s.name, s.about);
                }
                return ExitCode::SUCCESS;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => names.push(a),
        }
    }
    if bench {
        return run_bench(reps, seed, figures, out);
    }
    let base = std::env::var("SPDK_BASE").unwrap_or_else(|_| "master".into());
    let kind = std::env::var("SPDK_HARNESS_BASE_BDEV").unwrap_or_else(|_| "aio".into());

    let (suite, title, outcomes) = if races {
        let plan = match races_plan(runs, seed, replay) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{e}\n{USAGE}");
                return ExitCode::from(2);
            }
        };
        let what = match plan.replay {
            Some((r, s)) => format!("replay of {} seed {s:#x}", r.label()),
            None => format!("{} runs of each race, seed {}", plan.runs, plan.seed),
        };
        eprintln!("[verify] races: {what} ...");
        (
            format!("races-{base}-{kind}"),
            title.unwrap_or_else(|| format!("races: base {base}, base bdevs {kind}, {what}")),
            spdk_harness::races::run(&plan),
        )
    } else if crash_matrix {
        let plan = match crash_plan(trials, seed, ops, replay) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{e}\n{USAGE}");
                return ExitCode::from(2);
            }
        };
        let what = match plan.replay {
            Some((op, s)) => format!("replay of {} seed {s:#x}", op.label()),
            None => format!(
                "{} trials over {} operations, seed {}",
                plan.trials,
                plan.ops.len(),
                plan.seed
            ),
        };
        eprintln!("[verify] crash matrix: {what} ...");
        (
            format!("crash-matrix-{base}-{kind}"),
            title
                .unwrap_or_else(|| format!("crash matrix: base {base}, base bdevs {kind}, {what}")),
            crash::run(&plan),
        )
    } else if let Some(cross) = cross {
        let flag = match cross {
            Cross::Checksums => "--cross-checksums",
            Cross::Disks => "--cross-disks",
        };
        let mut builds = vec![];
        for n in &names {
            let Some((label, tree)) = n.split_once('=') else {
                eprintln!("{flag} takes LABEL=TREE arguments, got {n}\n{USAGE}");
                return ExitCode::from(2);
            };
            match SpdkBuild::at(tree, label) {
                Ok(b) => builds.push((label.to_string(), b)),
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        if builds.len() < 2 {
            eprintln!("{flag} needs two builds or more\n{USAGE}");
            return ExitCode::from(2);
        }
        let labels: Vec<&str> = builds.iter().map(|(l, _)| l.as_str()).collect();
        match cross {
            Cross::Checksums => {
                eprintln!("[verify] checksums across {} ...", labels.join(", "));
                let o = cross::run(&builds);
                (
                    format!("cross-checksums-{}", labels.join("-")),
                    title.unwrap_or_else(|| {
                        format!("checksums across implementations: {}", labels.join(", "))
                    }),
                    o,
                )
            }
            Cross::Disks => {
                eprintln!("[verify] disks moved between {} ...", labels.join(", "));
                let o = cross_disks::run(&builds);
                for x in &o {
                    match &x.result {
                        Ok(f) => eprintln!("[verify] {} PASS ({:.1}s): {f}", x.name, x.secs),
                        Err(e) => eprintln!("[verify] {} FAIL ({:.1}s):\n{e}", x.name, x.secs),
                    }
                }
                (
                    format!("cross-disks-{}", labels.join("-")),
                    title.unwrap_or_else(|| {
                        format!("disks moved between builds: {}", labels.join(", "))
                    }),
                    o,
                )
            }
        }
    } else {
        let all = scenarios::all();
        let chosen: Vec<_> = if names.is_empty() {
            all
        } else {
            let mut v = vec![];
            for n in &names {
                match all.iter().find(|s| s.name == n) {
                    Some(s) => v.push(*s),
                    None => {
                        eprintln!("no scenario named {n} (see --list)");
                        return ExitCode::from(2);
                    }
                }
            }
            v
        };
        let mut outcomes: Vec<Outcome> = vec![];
        for s in &chosen {
            eprintln!("[verify] {} ...", s.name);
            let mut o = scenarios::run(s, Faults::default());
            if expect_bugs {
                o.expect = s.bug.map_or(Expect::Pass, Expect::FailNaming);
            }
            match &o.result {
                Ok(f) => eprintln!("[verify] {} PASS ({:.1}s): {f}", s.name, o.secs),
                Err(e) => eprintln!("[verify] {} FAIL ({:.1}s):\n{e}", s.name, o.secs),
            }
            outcomes.push(o);
        }
        let what = if expect_bugs {
            ", expecting each bug the series fixes to show"
        } else {
            ""
        };
        (
            format!("verify-{base}-{kind}"),
            title.unwrap_or_else(|| format!("verify: base {base}, base bdevs {kind}{what}")),
            outcomes,
        )
    };

    print!("{}", report::table(&title, &outcomes));
    if let Some(g) = spdk_harness::faults::grid(&outcomes) {
        print!("{g}");
    }
    print!("{}", report::failures(&outcomes));
    if let Some(p) = junit {
        if let Err(e) = std::fs::write(&p, report::junit(&suite, &outcomes)) {
            eprintln!("cannot write {p}: {e}");
            return ExitCode::FAILURE;
        }
        eprintln!("[verify] JUnit XML: {p}");
    }
    if outcomes.iter().all(|o| o.verdict().ok()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn bench_plan(
    reps: Option<String>,
    seed: Option<String>,
    figures: Option<String>,
) -> Result<spdk_harness::bench::Plan, String> {
    use spdk_harness::bench::ALL_FIGURES;
    let figures = match figures.filter(|f| f != "all") {
        Some(list) => list
            .split(',')
            .map(|f| {
                let n = number("--figures", Some(f.trim().to_string()))? as u32;
                if ALL_FIGURES.contains(&n) {
                    Ok(n)
                } else {
                    Err(format!("no figure {n}; figures are 1 to 9"))
                }
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => ALL_FIGURES.to_vec(),
    };
    let root = spdk_harness::build::workspace_root();
    let patched = SpdkBuild::from_env().map_err(|e| e.to_string())?;
    let unpatched_tree = std::env::var_os("BENCH_UNPATCHED_TREE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("build/longhorn-v24.09-unpatched/spdk"));
    let unpatched = SpdkBuild::at(unpatched_tree, "longhorn-v24.09").ok();
    let backport = SpdkBuild::at(root.join("build/longhorn-v24.09/spdk"), "longhorn-v24.09").ok();
    Ok(spdk_harness::bench::Plan {
        reps: reps.map_or(Ok(5), |r| number("--reps", Some(r)))? as u32,
        figures,
        seed: seed.map_or(Ok(1), |s| number("--seed", Some(s)))?,
        patched,
        unpatched,
        backport,
    })
}

fn run_bench(
    reps: Option<String>,
    seed: Option<String>,
    figures: Option<String>,
    out: Option<String>,
) -> ExitCode {
    let plan = match bench_plan(reps, seed, figures) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let out = out.unwrap_or_else(|| {
        spdk_harness::build::workspace_root()
            .join("docs/PERFORMANCE.md")
            .display()
            .to_string()
    });
    eprintln!(
        "[bench] figures {:?}, {} repetitions, seed {} ...",
        plan.figures, plan.reps, plan.seed
    );
    // The doc is written after every figure: a run that fails late keeps
    // what it measured (its directory is made first).
    if let Some(dir) = std::path::Path::new(&out).parent() {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("cannot create {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    }
    let t0 = std::time::Instant::now();
    let mut write_error = None;
    let figs = spdk_harness::bench::run(&plan, |so_far| {
        let doc = spdk_harness::bench::markdown(&plan, so_far, t0.elapsed());
        if let Err(e) = std::fs::write(&out, doc) {
            write_error = Some(format!("cannot write {out}: {e}"));
        }
    });
    if let Some(e) = write_error {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    let doc = spdk_harness::bench::markdown(&plan, &figs, t0.elapsed());
    if let Some(goals) = doc.lines().find(|l| l.starts_with("Goals: ")) {
        println!("{goals}");
    }
    eprintln!("[bench] wrote {out}");
    if figs.iter().any(|f| f.failed) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
