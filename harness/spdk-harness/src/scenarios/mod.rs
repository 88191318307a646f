//! Verification scenarios, one file per feature. Each scenario is steps
//! ([`crate::steps`]) and assertions, runs in a lab of its own (a fresh target
//! on fresh base disks) and returns a key figure for the report, or an error
//! that names what went wrong. Scenario files never import from each other.

use crate::error::{Error, Result};
use crate::lab::{Faults, Lab};
use crate::outcome::{Expect, Outcome, Scenario};
use std::time::Instant;

pub mod baseline;
pub mod busy_delete;
pub mod checksum;
pub mod detach;
pub mod hostile;
pub mod lifecycle;
pub mod longhorn;
pub mod shared_image;

/// Every scenario, in report order.
pub fn all() -> Vec<Scenario> {
    let mut v = vec![];
    v.extend(baseline::scenarios());
    v.extend(detach::scenarios());
    v.extend(checksum::scenarios());
    v.extend(busy_delete::scenarios());
    v.extend(shared_image::scenarios());
    v.extend(lifecycle::scenarios());
    v.extend(longhorn::scenarios());
    v.extend(hostile::scenarios());
    v.extend(crate::faults::scenarios());
    v
}

pub fn by_name(name: &str) -> Option<Scenario> {
    all().into_iter().find(|s| s.name == name)
}

/// Run one scenario in a new lab, with faults injected if asked.
pub fn run(s: &Scenario, faults: Faults) -> Outcome {
    let t0 = Instant::now();
    // A panic in a scenario is its failure, not the end of the run.
    let result = crate::error::catch_panic("the scenario", || run_in_lab(s, faults))
        .map_err(|e| e.to_string());
    Outcome {
        name: s.name,
        result,
        secs: t0.elapsed().as_secs_f64(),
        expect: Expect::Pass,
    }
}

fn run_in_lab(s: &Scenario, faults: Faults) -> Result<String> {
    let mut lab = Lab::new()?;
    lab.faults = faults;
    let missing = lab.missing_methods(s.needs)?;
    if !missing.is_empty() {
        return Err(Error::Check(format!(
            "the target does not offer {} (not in rpc_get_methods): this build lacks the patch that adds it{}",
            missing.join(", "),
            s.bug.map(|b| format!(" ({b})")).unwrap_or_default()
        )));
    }
    let figure = (s.run)(&mut lab)?;
    // Every scenario ends with a live target: a crash during the last step
    // must not pass unnoticed.
    lab.tgt.check_alive()?;
    // A sanitized build reports leaks only when the target exits: with
    // SPDK_HARNESS_CLEAN_EXIT set, it must exit 0 on SIGTERM at the end too.
    if std::env::var_os("SPDK_HARNESS_CLEAN_EXIT").is_some() {
        lab.stop_target(crate::lab::Restart::Graceful)?;
    }
    Ok(figure)
}

/// Run a scenario by name and panic with its failure (for `cargo test`).
pub fn run_or_panic(name: &str) -> String {
    let s = by_name(name).unwrap_or_else(|| panic!("no scenario named {name}"));
    let o = run(&s, Faults::default());
    match o.result {
        Ok(fig) => fig,
        Err(e) => panic!("scenario {name} failed after {:.1}s:\n{e}", o.secs),
    }
}
