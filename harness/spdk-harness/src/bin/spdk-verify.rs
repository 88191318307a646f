//! The verification suite: runs every scenario (or those named) against the
//! built target, prints a table and writes JUnit XML.
//!
//!   spdk-verify [--junit PATH] [--list] [SCENARIO...]

use spdk_harness::lab::Faults;
use spdk_harness::{report, scenarios};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut junit = None;
    let mut names = vec![];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--junit" => junit = args.next(),
            "--list" => {
                for s in scenarios::all() {
                    println!("{:<34} {}", s.name, s.about);
                }
                return ExitCode::SUCCESS;
            }
            "-h" | "--help" => {
                println!("usage: spdk-verify [--junit PATH] [--list] [SCENARIO...]");
                return ExitCode::SUCCESS;
            }
            _ => names.push(a),
        }
    }
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
    let base = std::env::var("SPDK_BASE").unwrap_or_else(|_| "master".into());
    let kind = std::env::var("SPDK_HARNESS_BASE_BDEV").unwrap_or_else(|_| "aio".into());
    let title = format!("verify: base {base}, base bdevs {kind}");
    let mut outcomes = vec![];
    for s in &chosen {
        eprintln!("[verify] {} ...", s.name);
        let o = scenarios::run(s, Faults::default());
        match &o.result {
            Ok(f) => eprintln!("[verify] {} PASS ({:.1}s): {f}", s.name, o.secs),
            Err(e) => eprintln!("[verify] {} FAIL ({:.1}s):\n{e}", s.name, o.secs),
        }
        outcomes.push(o);
    }
    print!("{}", report::table(&title, &outcomes));
    if let Some(p) = junit {
        if let Err(e) = std::fs::write(
            &p,
            report::junit(&format!("verify-{base}-{kind}"), &outcomes),
        ) {
            eprintln!("cannot write {p}: {e}");
            return ExitCode::FAILURE;
        }
        eprintln!("[verify] JUnit XML: {p}");
    }
    if outcomes.iter().all(|o| o.passed()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
