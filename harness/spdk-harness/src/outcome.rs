//! What a scenario claims and how its run is judged: the bugs a scenario
//! proves fixed, what a run expects of it, its outcome and the verdict.
//!
//! A bug is named by the check that catches it: its failure message carries
//! the bug (its [`Bug::id`]), and `spdk-verify --expect-bugs` holds a build
//! that still has the bug to exactly that failure.

use crate::error::Result;
use crate::lab::Lab;

/// A bug a scenario proves fixed. On a build that still has it (upstream
/// SPDK, or Longhorn's v1.8.x base without our backport) the scenario fails,
/// and the check that catches it names the bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bug {
    /// What to grep for in the failure: "Longhorn #11046".
    pub id: &'static str,
    pub what: &'static str,
}

impl Bug {
    /// Does this failure message name the bug?
    pub fn named_in(&self, failure: &str) -> bool {
        failure.contains(self.id)
    }
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
pub const PASS_UNBOUNDED: Bug = Bug {
    id: "unbounded pass",
    what: "the snapshot checksum register RPCs take no queue depth, rate limit or busy share: a pass takes what it can of the target's thread and disk (Longhorn v1.8.x)",
};
pub const FORCED_REMOVAL: Bug = Bug {
    id: "Longhorn #10474",
    what: "a refused lvol delete drops the lvol anyway, and it comes back at the next load (seen as #10622)",
};
pub const ESNAP_PARENT_DELETE: Bug = Bug {
    id: "esnap-parent delete",
    what: "deleting the external snapshot of esnap clones never completes (upstream SPDK; no Longhorn issue: v1.8.x keeps a backing image per disk)",
};
pub const ESNAP_PARENT_REMOVAL: Bug = Bug {
    id: "esnap-parent removal",
    what: "removing the disk that holds esnap clones' external snapshot never completes: the clones ignore the remove event and keep the bdev open (upstream SPDK)",
};

pub const SHUTDOWN_HANG: Bug = Bug {
    id: "shutdown hang",
    what: "spdk_tgt does not exit on SIGTERM while a long lvol operation (a checksum pass, a shallow copy, an inflate) holds a blob: the blobstore refuses to unload with the blob open, and the base bdev is never released (upstream SPDK and Longhorn v1.8.x)",
};
pub const HOT_REMOVE_HANG: Bug = Bug {
    id: "hot-remove hang",
    what: "removing an lvstore's base bdev while a long lvol operation holds a blob never completes: the lvstore can't unload (upstream SPDK and Longhorn v1.8.x)",
};

pub const LVS_DELETE_RACE: Bug = Bug {
    id: "lvstore delete vs inflate",
    what: "an inflate started while its lvol store is being deleted keeps one lvol from being deleted: the delete retries it until the stack overflows (our series before the fix) or never answers (Longhorn v1.8.x)",
};
pub const ESNAP_MOVED_REMOVAL: Bug = Bug {
    id: "esnap device moved",
    what: "the remove event of an external snapshot reaches the esnap clone it was opened for, not the snapshot of the clone (or the clone after a merge) that holds the device now: the removal never completes, and the target crashes at shutdown",
};
pub const STALE_CHECKSUM: Bug = Bug {
    id: "stale checksum",
    what: "a crash while an inflate, a decouple or a merge changes a snapshot's clusters leaves its old checksum on disk: it is removed only with the operation's last metadata update",
};

pub const RANGE_HOLES: Bug = Bug {
    id: "range holes",
    what: "bdev_lvol_get_snapshot_range_checksums gives no entry for a cluster the snapshot has not allocated, so Longhorn's delta rebuild, which compares the source's entries only, never flags a cluster only the destination holds: the rebuilt replica keeps its stale bytes",
};
pub const STOP_UNBOUNDED: Bug = Bug {
    id: "unbounded stop",
    what: "bdev_lvol_stop_snapshot_checksum answers only once the device has returned the pass's reads: on a stalled disk it outlasts Longhorn's 10 s polling loop and go-spdk-helper's 60 s timeout",
};

pub const FOREIGN_CHECKSUM: Bug = Bug {
    id: "Longhorn #10399",
    what: "a `checksum` xattr that is not a snapshot checksum (the SHA-512 Longhorn v1.8 keeps on its backing images) is reported as 'Bad length of checksum xattr' at error level at every listing, and a register or a merge into the snapshot replaces or removes it",
};

pub const REPOINT_DEGRADED: Bug = Bug {
    id: "degraded re-point",
    what: "bdev_lvol_set_parent_bdev looks the lvol up by bdev name only: an esnap clone loaded without its external snapshot has no bdev, so it can't be moved to a copy of the image (-ENODEV), and a clone moved while degraded gets no bdev (upstream SPDK and Longhorn v1.8.x)",
};
pub const REPOINT_SIZE: Bug = Bug {
    id: "re-point size",
    what: "bdev_lvol_set_parent_bdev gives an esnap clone an external snapshot of another size than the one it reads: what it reads of the clusters it has not written changes (upstream SPDK and Longhorn v1.8.x)",
};
pub const REPOINT_UNDONE: Bug = Bug {
    id: "re-point undone",
    what: "an esnap clone moved to another external snapshot while degraded stays registered as waiting for the old one: when the old image comes back, its hotplug swaps it in under the new one's id, and deleting the old image then degrades the clone (upstream SPDK and Longhorn v1.8.x)",
};
pub const CLONES_UNLISTED: Bug = Bug {
    id: "esnap clones unlisted",
    what: "no listing names the external snapshot of a degraded esnap clone (it has no bdev, and bdev_lvol_get_lvols shows no external_snapshot_name): whoever moves or deletes a backing image can't tell which clones read it (upstream SPDK and Longhorn v1.8.x)",
};

pub const MIDDLE_DELETE_CRASH: Bug = Bug {
    id: "interrupted middle delete",
    what: "a crash in the delete of a snapshot that has a parent, once its clone is on the parent, leaves a disk whose next load crashes (SIGSEGV in bs_blob_list_remove) or, with that fixed, leaks the clusters the clone did not take (upstream SPDK and Longhorn v1.8.x; found by the crash matrix)",
};

/// A scenario's steps and assertions: a key figure for the report, or an
/// error that names what went wrong.
pub type Run = fn(&mut Lab) -> Result<String>;

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
            (Expect::FailNaming(b), Err(e)) if b.named_in(e) => Verdict::ExpectedFail,
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
