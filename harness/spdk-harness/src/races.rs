//! Races, many times each: two requests that meet in the target, sent with
//! a seeded jitter between them, and every outcome held against the set the
//! contract allows (issue #15 part 4).
//!
//! Each run builds, in a lab of its own, `p` (8 clusters) ← `s` (4 clusters)
//! ← `vol` on a delay bdev that makes each read of the store take
//! [`READ_US`], so a checksum pass over `s` takes some 50 ms and the
//! jitter (0 to [`JITTER_MS`]) lands the second request before, during or
//! after it. Then one race, and after it, whatever the outcome: the target
//! is alive, `vol` reads back as the model, a checksum present is right for
//! the clusters its snapshot holds, what was deleted is gone and what was
//! refused is listed, and a graceful restart holds the disk to the listing.
//!
//! One outcome the sets allow that a client must know: a delete sent right
//! behind a stop on the same connection, before the stop's answer, may still
//! find the pass and be refused (-EBUSY). SPDK's RPC server runs the delete
//! while the stop waits for the pass to end; the stop's answer, not its
//! sending, is what frees the snapshot.

use crate::crash::trial_seed;
use crate::data::{expect_bytes, pattern};
use crate::error::Result;
use crate::lab::{Lab, Restart, CLUSTER, MIB};
use crate::outcome::{Expect, Outcome};
use crate::steps::{self, Latency, CRC64_GO_ISO};
use crate::{ensure, ensure_eq, fail};
use spdk_rpc::methods::*;
use spdk_rpc::{Client, Errno, Pending, RpcError};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Each read of the store takes this long while a race runs.
pub const READ_US: u64 = 40_000;
/// The second request goes out 0 to this many milliseconds after the first.
pub const JITTER_MS: u64 = 80;
const LVS: &str = "lvs0";
const MIBS: u64 = 32;
const WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Race {
    /// a stop sent while the pass may be completing
    StopVsCompletion,
    /// a stop and a delete of the snapshot, right behind each other
    StopVsDelete,
    /// a register on a snapshot whose delete was sent first
    RegisterVsDelete,
    /// passes on two snapshots at once
    SeveralPasses,
    /// a stop during a per-cluster (range) pass
    StopDuringRange,
    /// two stops from two connections
    TwoStops,
    /// the delete of a parent while its only clone is checksummed
    DeleteParentOfChecksummed,
}

pub const RACES: [Race; 7] = [
    Race::StopVsCompletion,
    Race::StopVsDelete,
    Race::RegisterVsDelete,
    Race::SeveralPasses,
    Race::StopDuringRange,
    Race::TwoStops,
    Race::DeleteParentOfChecksummed,
];

impl Race {
    pub fn label(self) -> &'static str {
        match self {
            Race::StopVsCompletion => "race_stop_vs_completion",
            Race::StopVsDelete => "race_stop_vs_delete",
            Race::RegisterVsDelete => "race_register_vs_delete",
            Race::SeveralPasses => "race_several_passes",
            Race::StopDuringRange => "race_stop_during_range",
            Race::TwoStops => "race_two_stops",
            Race::DeleteParentOfChecksummed => "race_delete_parent_of_checksummed",
        }
    }

    pub fn parse(s: &str) -> Option<Race> {
        RACES.iter().copied().find(|r| r.label() == s)
    }
}

/// `runs` runs of each race, run i of race r seeded
/// [`trial_seed`]`(seed, r * runs + i)`; or one run of one race.
#[derive(Debug, Clone)]
pub struct Plan {
    pub seed: u64,
    pub runs: u32,
    pub races: Vec<Race>,
    pub replay: Option<(Race, u64)>,
}

pub fn run(plan: &Plan) -> Vec<Outcome> {
    let mut out = vec![];
    let races = match plan.replay {
        Some((r, _)) => vec![r],
        None => plan.races.clone(),
    };
    for (ri, &race) in races.iter().enumerate() {
        let t0 = Instant::now();
        let seeds: Vec<u64> = match plan.replay {
            Some((_, s)) => vec![s],
            None => (0..plan.runs)
                .map(|i| trial_seed(plan.seed, ri as u32 * plan.runs + i))
                .collect(),
        };
        let mut seen: BTreeMap<String, u32> = BTreeMap::new();
        let mut failures = vec![];
        for (i, &seed) in seeds.iter().enumerate() {
            let jitter = Duration::from_millis(seed % (JITTER_MS + 1));
            eprintln!(
                "[races] {} run {}/{} seed {seed:#018x}: jitter {} ms",
                race.label(),
                i + 1,
                seeds.len(),
                jitter.as_millis()
            );
            let r = crate::error::catch_panic("the run", || one(race, jitter));
            match r {
                Ok(o) => {
                    eprintln!("[races]   {o}");
                    *seen.entry(o).or_default() += 1;
                }
                Err(e) => {
                    let msg = format!(
                        "seed {seed:#018x}, jitter {} ms: {e}\n  replay: spdk-verify --races --replay {}:{seed:#x}",
                        jitter.as_millis(),
                        race.label()
                    );
                    eprintln!("[races]   FAIL: {msg}");
                    failures.push(msg);
                }
            }
        }
        let result = if failures.is_empty() {
            Ok(format!(
                "{} runs, every outcome allowed: {}",
                seeds.len(),
                seen.iter()
                    .map(|(o, n)| format!("{n}× {o}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        } else {
            Err(failures.join("\n"))
        };
        out.push(Outcome {
            name: race.label(),
            result,
            secs: t0.elapsed().as_secs_f64(),
            expect: Expect::Pass,
        });
    }
    out
}

/// What a request answered, reduced to what the contract talks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    True,
    False,
    Failed(Option<Errno>),
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::True => f.write_str("true"),
            Answer::False => f.write_str("false"),
            Answer::Failed(Some(e)) => write!(f, "-{e:?}"),
            Answer::Failed(None) => f.write_str("error"),
        }
    }
}

fn answer(r: std::result::Result<serde_json::Value, RpcError>) -> Result<Answer> {
    match r {
        Ok(serde_json::Value::Bool(true)) => Ok(Answer::True),
        Ok(serde_json::Value::Bool(false)) => Ok(Answer::False),
        Ok(v) => fail!("an answer that is not a bool: {v}"),
        Err(e @ RpcError::Timeout { .. }) => fail!("no answer within {} s: {e}", WAIT.as_secs()),
        Err(e @ RpcError::Closed { .. }) => fail!("the target closed the connection: {e}"),
        Err(e) => Ok(Answer::Failed(e.errno())),
    }
}

fn wait(c: &mut Client, p: Pending) -> Result<Answer> {
    answer(c.wait(p, WAIT))
}

/// The world: `p` ← `s` ← `vol`, and the bytes each reads.
struct World {
    vol: Vec<u8>,
    p: Vec<u8>,
    slow: String,
}

fn world(lab: &mut Lab) -> Result<World> {
    let slow = steps::slow_lvstore(lab, "disk0", LVS, 256, Latency::default())?;
    let vol = steps::thin_lvol(lab, LVS, "vol", MIBS)?;
    let a = pattern(7001, (MIBS * MIB) as usize);
    lab.write(&vol, 0, &a)?;
    lab.unexport(&vol)?;
    steps::snapshot(lab, &vol, "p")?;
    let b = pattern(7002, (4 * CLUSTER) as usize);
    lab.write(&vol, 0, &b)?;
    lab.unexport(&vol)?;
    steps::snapshot(lab, &vol, "s")?;
    let mut bytes = a.clone();
    bytes[..b.len()].copy_from_slice(&b);
    steps::set_read_latency(lab, &slow, READ_US)?;
    Ok(World {
        vol: bytes,
        p: a,
        slow,
    })
}

fn n(x: &str) -> String {
    format!("{LVS}/{x}")
}

fn send<R: spdk_rpc::Rpc>(lab: &mut Lab, req: &R) -> Result<(Client, Pending)> {
    let mut c = lab.tgt.connect()?;
    let p = steps::send(&mut c, req)?;
    Ok((c, p))
}

fn register(lab: &mut Lab, x: &str) -> Result<(Client, Pending)> {
    send(
        lab,
        &BdevLvolRegisterSnapshotChecksum {
            name: n(x),
            ..Default::default()
        },
    )
}

fn stop(lab: &mut Lab, x: &str) -> Result<(Client, Pending)> {
    send(lab, &BdevLvolStopSnapshotChecksum { name: n(x) })
}

/// The jitter is the run's parameter, not a wait for a condition.
fn jitter(d: Duration) {
    std::thread::sleep(d);
}

/// One run of `race`; returns its outcome, as the answers it got.
fn one(race: Race, j: Duration) -> Result<String> {
    let mut own = Lab::new()?;
    let lab = &mut own;
    let needs: &[&str] = match race {
        Race::StopDuringRange => &[steps::RANGE_RPCS[0], steps::STOP_RPC],
        _ => steps::STOP_RPCS,
    };
    let missing = lab.missing_methods(needs)?;
    ensure!(
        missing.is_empty(),
        "the target does not offer {}",
        missing.join(", ")
    );
    let w = world(lab)?;
    use Answer::*;
    let outcome = match race {
        Race::StopVsCompletion => {
            let (mut c1, reg) = register(lab, "s")?;
            jitter(j);
            let (mut c2, st) = stop(lab, "s")?;
            let (r, s) = (wait(&mut c1, reg)?, wait(&mut c2, st)?);
            allowed_stop_pair("register", r, s)?;
            check_checksum(lab, &w, "s", r == True)?;
            format!("register {r}, stop {s}")
        }
        Race::StopVsDelete => {
            let (mut c1, reg) = register(lab, "s")?;
            jitter(j);
            let mut c2 = lab.tgt.connect()?;
            let st = steps::send(&mut c2, &BdevLvolStopSnapshotChecksum { name: n("s") })?;
            let del = steps::send(&mut c2, &BdevLvolDelete { name: n("s") })?;
            let r = wait(&mut c1, reg)?;
            let (s, d) = (wait(&mut c2, st)?, wait(&mut c2, del)?);
            ensure!(
                matches!(r, True | Failed(Some(Errno::EINTR))),
                "register {r}: expected true or -EINTR"
            );
            ensure!(
                matches!(s, True | Failed(Some(Errno::ESRCH))),
                "stop {s}: expected true or -ESRCH"
            );
            ensure!(
                matches!(d, True | Failed(Some(Errno::EBUSY))),
                "delete {d}: expected true or -EBUSY"
            );
            ensure!(
                !(r == Failed(Some(Errno::EINTR)) && s != True),
                "register {r} although no stop found the pass (stop {s})"
            );
            check_listed(lab, "s", d != True)?;
            if d != True {
                check_checksum(lab, &w, "s", r == True)?;
            }
            format!("register {r}, stop {s}, delete {d}")
        }
        Race::RegisterVsDelete => {
            let (mut c2, del) = send(lab, &BdevLvolDelete { name: n("s") })?;
            jitter(j);
            let (mut c1, reg) = register(lab, "s")?;
            let (d, r) = (wait(&mut c2, del)?, wait(&mut c1, reg)?);
            ensure!(
                matches!(d, True | Failed(Some(Errno::EBUSY))),
                "delete {d}: expected true or -EBUSY"
            );
            ensure!(
                d == True || r == True,
                "delete {d} although no pass held s (register {r})"
            );
            ensure!(
                matches!(r, True | Failed(Some(Errno::ENODEV | Errno::ENOENT | Errno::EBUSY))),
                "register {r}: expected true, or -ENODEV, -ENOENT or -EBUSY for a snapshot being deleted"
            );
            check_listed(lab, "s", d != True)?;
            if d != True {
                check_checksum(lab, &w, "s", true)?;
            }
            format!("delete {d}, register {r}")
        }
        Race::SeveralPasses => {
            let (mut c1, r1) = register(lab, "s")?;
            jitter(j);
            let (mut c2, r2) = register(lab, "p")?;
            let (a, b) = (wait(&mut c1, r1)?, wait(&mut c2, r2)?);
            ensure!(a == True && b == True, "registers of s and p: {a}, {b}");
            check_checksum(lab, &w, "s", true)?;
            check_checksum(lab, &w, "p", true)?;
            "both true, both right".into()
        }
        Race::StopDuringRange => {
            let (mut c1, reg) = send(
                lab,
                &BdevLvolRegisterSnapshotRangeChecksums {
                    name: n("s"),
                    ..Default::default()
                },
            )?;
            jitter(j);
            let (mut c2, st) = stop(lab, "s")?;
            let (r, s) = (wait(&mut c1, reg)?, wait(&mut c2, st)?);
            allowed_stop_pair("range register", r, s)?;
            check_checksum(lab, &w, "s", r == True)?;
            check_ranges(lab, &w, r == True)?;
            format!("range register {r}, stop {s}")
        }
        Race::TwoStops => {
            let (mut c1, reg) = register(lab, "s")?;
            jitter(j);
            let (mut c2, s1) = stop(lab, "s")?;
            jitter(j / 4);
            let (mut c3, s2) = stop(lab, "s")?;
            let r = wait(&mut c1, reg)?;
            let (a, b) = (wait(&mut c2, s1)?, wait(&mut c3, s2)?);
            for s in [a, b] {
                ensure!(
                    matches!(s, True | Failed(Some(Errno::ESRCH))),
                    "a stop answered {s}: expected true or -ESRCH"
                );
            }
            ensure!(
                matches!(r, True | Failed(Some(Errno::EINTR))),
                "register {r}: expected true or -EINTR"
            );
            ensure!(
                r == True || a == True || b == True,
                "register -EINTR, but neither stop found the pass ({a}, {b})"
            );
            check_checksum(lab, &w, "s", r == True)?;
            format!("register {r}, stops {a} and {b}")
        }
        Race::DeleteParentOfChecksummed => {
            let (mut c1, reg) = register(lab, "s")?;
            jitter(j);
            let (mut c2, del) = send(lab, &BdevLvolDelete { name: n("p") })?;
            let (r, d) = (wait(&mut c1, reg)?, wait(&mut c2, del)?);
            ensure!(
                matches!(r, True | Failed(Some(Errno::EINTR | Errno::EBUSY))),
                "register {r}: expected true, -EINTR or -EBUSY"
            );
            ensure!(
                matches!(d, True | Failed(Some(Errno::EBUSY))),
                "delete of p {d}: expected true or -EBUSY"
            );
            check_listed(lab, "p", d != True)?;
            // A merge changes s's clusters: its checksum is then right for
            // the 8 clusters it holds, or absent, never stale.
            check_checksum_if_any(lab, &w, "s")?;
            format!("register {r}, delete of p {d}")
        }
    };
    // Whatever happened: the target is up, vol reads as it did, and the disk
    // holds what the target lists.
    lab.tgt.check_alive()?;
    steps::set_read_latency(lab, &w.slow, 0)?;
    let got = lab.read(&n("vol"), 0, MIBS * MIB)?;
    expect_bytes("lvs0/vol after the race", &got, &w.vol)?;
    lab.unexport(&n("vol"))?;
    lab.restart(Restart::Graceful)?;
    Ok(outcome)
}

/// A pass and one stop of it: completed before the stop (true, -ESRCH),
/// completed as the stop came (true, true), or stopped (-EINTR, true).
fn allowed_stop_pair(what: &str, r: Answer, s: Answer) -> Result<()> {
    use Answer::*;
    match (r, s) {
        (True, True) | (True, Failed(Some(Errno::ESRCH))) | (Failed(Some(Errno::EINTR)), True) => {
            Ok(())
        }
        _ => fail!("{what} {r}, stop {s}: not an allowed pair"),
    }
}

fn check_listed(lab: &mut Lab, x: &str, listed: bool) -> Result<()> {
    let is = lab.lvol(&n(x)).is_ok();
    ensure_eq!(
        is,
        listed,
        "{LVS}/{x} listed after the race (deleted: {})",
        !listed
    );
    Ok(())
}

/// The bytes `x` reads and the clusters it holds now.
fn holds(lab: &mut Lab, w: &World, x: &str) -> Result<(Vec<u8>, Vec<u64>)> {
    let bytes = if x == "p" { w.p.clone() } else { w.vol.clone() };
    let n_alloc = lab.lvol(&n(x))?.allocated();
    // s holds clusters 0-3, and all 8 once p merged into it; p all 8.
    Ok((bytes, (0..n_alloc).collect()))
}

fn whole_of(bytes: &[u8], idx: &[u64]) -> u64 {
    let mut d = CRC64_GO_ISO.digest();
    for &c in idx {
        d.update(&bytes[(c * CLUSTER) as usize..((c + 1) * CLUSTER) as usize]);
    }
    d.finalize()
}

/// `x`'s checksum is present and right (`present`), or absent.
fn check_checksum(lab: &mut Lab, w: &World, x: &str, present: bool) -> Result<()> {
    let r = lab.tgt.call(&BdevLvolGetSnapshotChecksum { name: n(x) });
    match (r, present) {
        (Ok(c), true) => {
            let (bytes, idx) = holds(lab, w, x)?;
            ensure_eq!(
                c.checksum,
                whole_of(&bytes, &idx),
                "the checksum of {LVS}/{x} after a completed pass"
            );
        }
        (Err(e), false) if e.errno() == Some(Errno::ENODEV) => {}
        (r, want) => fail!(
            "checksum of {LVS}/{x}: expected {}, got {r:?}",
            if want { "the value" } else { "none (-ENODEV)" }
        ),
    }
    Ok(())
}

/// A checksum of `x`, if any, is right for the clusters it holds now.
fn check_checksum_if_any(lab: &mut Lab, w: &World, x: &str) -> Result<()> {
    match lab.tgt.call(&BdevLvolGetSnapshotChecksum { name: n(x) }) {
        Ok(c) => {
            let (bytes, idx) = holds(lab, w, x)?;
            ensure_eq!(
                c.checksum,
                whole_of(&bytes, &idx),
                "the checksum of {LVS}/{x}: right for the {} clusters it holds, or absent",
                idx.len()
            );
            Ok(())
        }
        Err(e) if e.errno() == Some(Errno::ENODEV) => Ok(()),
        Err(e) => fail!("bdev_lvol_get_snapshot_checksum of {LVS}/{x}: {e}"),
    }
}

/// The per-cluster values of s: right (`present`) or absent.
fn check_ranges(lab: &mut Lab, w: &World, present: bool) -> Result<()> {
    let r = lab.tgt.call(&BdevLvolGetSnapshotRangeChecksums {
        name: n("s"),
        cluster_start_index: 0,
        cluster_count: MIBS * MIB / CLUSTER,
    });
    match (r, present) {
        (Ok(per), true) => {
            let (bytes, idx) = holds(lab, w, "s")?;
            for c in per {
                let want = if idx.contains(&c.cluster_index) {
                    let i = c.cluster_index;
                    CRC64_GO_ISO
                        .checksum(&bytes[(i * CLUSTER) as usize..((i + 1) * CLUSTER) as usize])
                } else {
                    0
                };
                ensure_eq!(
                    c.checksum,
                    want,
                    "per-cluster checksum {} of s",
                    c.cluster_index
                );
            }
        }
        (Err(e), false) if e.errno() == Some(Errno::ENODEV) => {}
        (r, want) => fail!(
            "range checksums of s: expected {}, got {r:?}",
            if want { "the values" } else { "none (-ENODEV)" }
        ),
    }
    Ok(())
}
