//! Verification scenarios. Each runs in a lab of its own (a fresh target on
//! fresh base disks) and returns a key figure for the report, or an error
//! that names what went wrong.

use crate::error::{Error, Result};
use crate::lab::{Faults, Lab};
use std::time::Instant;

pub mod baseline;
pub mod busy_delete;
pub mod checksum;
pub mod detach;
pub mod shared_image;

pub type Run = fn(&mut Lab) -> Result<String>;

#[derive(Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    /// RPC methods the scenario needs. A target that lacks one fails the
    /// scenario with a message naming the method (what a negative control
    /// against an unpatched build shows).
    pub needs: &'static [&'static str],
    pub run: Run,
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Every scenario, in report order.
pub fn all() -> Vec<Scenario> {
    let mut v = vec![];
    v.extend(baseline::scenarios());
    v.extend(detach::scenarios());
    v.extend(checksum::scenarios());
    v.extend(busy_delete::scenarios());
    v.extend(shared_image::scenarios());
    v
}

pub fn by_name(name: &str) -> Option<Scenario> {
    all().into_iter().find(|s| s.name == name)
}

#[derive(Debug)]
pub struct Outcome {
    pub name: &'static str,
    pub result: std::result::Result<String, String>,
    pub secs: f64,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.result.is_ok()
    }
}

/// Run one scenario in a new lab, with faults injected if asked.
pub fn run(s: &Scenario, faults: Faults) -> Outcome {
    let t0 = Instant::now();
    let result = run_in_lab(s, faults).map_err(|e| e.to_string());
    Outcome {
        name: s.name,
        result,
        secs: t0.elapsed().as_secs_f64(),
    }
}

fn run_in_lab(s: &Scenario, faults: Faults) -> Result<String> {
    let mut lab = Lab::new()?;
    lab.faults = faults;
    let methods = lab.methods()?;
    let missing: Vec<&str> = s
        .needs
        .iter()
        .copied()
        .filter(|m| !methods.iter().any(|x| x == m))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Check(format!(
            "the target does not offer {} (not in rpc_get_methods): this build lacks the patch that adds it",
            missing.join(", ")
        )));
    }
    let figure = (s.run)(&mut lab)?;
    // Every scenario ends with a live target: a crash during the last step
    // must not pass unnoticed.
    lab.tgt.check_alive()?;
    Ok(figure)
}

/// The blob of lvol `name` in the inspected store of `disk`, read from the
/// file while no target had it open.
pub fn on_disk<'a>(
    stores: &'a [(String, lvs_inspect::Store)],
    disk: &str,
    name: &str,
) -> Result<Option<&'a lvs_inspect::Blob>> {
    Ok(crate::offline::store(stores, disk)?.blob_by_name(name))
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
