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

/// A bug a scenario proves fixed. On a build that still has it (upstream
/// SPDK, or Longhorn's v1.8.x base without our backport) the scenario fails,
/// and the check that catches it names the bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bug {
    /// What to grep for in the failure: "Longhorn #11046".
    pub id: &'static str,
    pub what: &'static str,
}

impl std::fmt::Display for Bug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.id, self.what)
    }
}

pub const DETACH_REPARENTS: Bug = Bug {
    id: "Longhorn #11046",
    what: "bdev_lvol_detach_parent makes the grandparent the lvol's new parent",
};
pub const CHECKSUM_UNSTOPPABLE: Bug = Bug {
    id: "Longhorn #10421",
    what: "a snapshot checksum pass cannot be stopped",
};
pub const FORCED_REMOVAL: Bug = Bug {
    id: "Longhorn #10474",
    what: "a refused lvol delete drops the lvol anyway, and it comes back at the next load (seen as #10622)",
};
pub const ESNAP_PARENT_DELETE: Bug = Bug {
    id: "esnap-parent delete",
    what: "deleting the external snapshot of esnap clones never completes (upstream SPDK; no Longhorn issue: v1.8.x keeps a backing image per disk)",
};
/// How long a request that answers in milliseconds (a delete, refused or not;
/// a disk's removal) may go unanswered before a scenario calls it a hang.
pub const HANG_AFTER: std::time::Duration = std::time::Duration::from_secs(20);

pub const ESNAP_PARENT_REMOVAL: Bug = Bug {
    id: "esnap-parent removal",
    what: "removing the disk that holds esnap clones' external snapshot never completes: the clones ignore the remove event and keep the bdev open (upstream SPDK)",
};

#[derive(Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    /// RPC methods the scenario needs. A target that lacks one fails the
    /// scenario with a message naming the method (and [`Scenario::bug`]).
    /// Methods a scenario can do without are looked up in `rpc_get_methods`
    /// where it uses them ([`Lab::has_method`]).
    pub needs: &'static [&'static str],
    /// The bug this scenario proves fixed, if any.
    pub bug: Option<Bug>,
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

/// What a run expects of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Pass,
    /// A build that still has this bug (the unpatched Longhorn base): the
    /// scenario must fail, and its failure must name the bug.
    FailNaming(Bug),
}

#[derive(Debug)]
pub struct Outcome {
    pub name: &'static str,
    pub result: std::result::Result<String, String>,
    pub secs: f64,
    pub expect: Expect,
}

/// An outcome held against what was expected of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// Failed as expected, naming the bug.
    ExpectedFail,
    /// Expected to fail on the bug, and passed: the build or the scenario is not what we think.
    UnexpectedPass,
    /// Expected to fail on the bug, and failed for another reason.
    FailedOtherwise,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail | Verdict::FailedOtherwise => "FAIL",
            Verdict::ExpectedFail => "XFAIL",
            Verdict::UnexpectedPass => "XPASS",
        }
    }

    /// Does the run hold up?
    pub fn ok(self) -> bool {
        matches!(self, Verdict::Pass | Verdict::ExpectedFail)
    }
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.result.is_ok()
    }

    pub fn verdict(&self) -> Verdict {
        match (self.expect, &self.result) {
            (Expect::Pass, Ok(_)) => Verdict::Pass,
            (Expect::Pass, Err(_)) => Verdict::Fail,
            (Expect::FailNaming(_), Ok(_)) => Verdict::UnexpectedPass,
            (Expect::FailNaming(b), Err(e)) if e.contains(b.id) => Verdict::ExpectedFail,
            (Expect::FailNaming(_), Err(_)) => Verdict::FailedOtherwise,
        }
    }

    /// The line the report shows: the key figure, the failure, or why the
    /// outcome is not what was expected.
    pub fn summary(&self) -> String {
        let first = |e: &str| e.lines().next().unwrap_or("").to_string();
        match (self.verdict(), self.expect, &self.result) {
            (Verdict::UnexpectedPass, Expect::FailNaming(b), Ok(f)) => {
                format!("expected to fail on {}, passed: {f}", b.id)
            }
            (Verdict::FailedOtherwise, Expect::FailNaming(b), Err(e)) => {
                format!("expected a failure naming {}, got: {}", b.id, first(e))
            }
            (_, _, Ok(f)) => f.clone(),
            (_, _, Err(e)) => first(e),
        }
    }
}

/// Run one scenario in a new lab, with faults injected if asked.
pub fn run(s: &Scenario, faults: Faults) -> Outcome {
    let t0 = Instant::now();
    // A panic in a scenario is its failure, not the end of the run.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_in_lab(s, faults)))
        .unwrap_or_else(|p| {
            let what = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into());
            Err(Error::Check(format!("the scenario panicked: {what}")))
        })
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
    Ok(figure)
}

/// A method a scenario needs from here on: fail, naming `bug`, if the target
/// does not offer it.
pub fn require(lab: &mut Lab, method: &str, bug: Bug) -> Result<()> {
    if lab.has_method(method)? {
        return Ok(());
    }
    Err(Error::Check(format!(
        "the target does not offer {method} (not in rpc_get_methods) ({bug})"
    )))
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
