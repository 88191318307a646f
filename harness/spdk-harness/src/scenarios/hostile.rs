//! Generated hostile input (issue #15 part 3): bad requests for every RPC the
//! series adds and the ones it touches, generated from a table of each
//! method's params rather than written one by one (the `*_bad_input`
//! scenarios stay as they are).
//!
//! For each method the target offers: params absent, of the wrong JSON type
//! (array, string, number), empty; each required param left out; an unknown
//! param added; each param replaced by a value of every other JSON type, by
//! numbers at and past the edges of u64, and, for names, by hostile names
//! (empty, separators only, 4 KiB, non-ASCII, NUL, control characters, path
//! tricks, UUIDs of nothing). The other params hold names that resolve to
//! nothing, so that no case can reach data by accident. Then the methods
//! that only read are aimed at every kind of lvol (a clone, a snapshot with
//! two clones and an esnap clone reading it, a read-only lvol, an esnap
//! clone, a degraded esnap clone without a bdev) with counts and indexes at
//! 0, 1, past the end and near 2^64; and a delete and a detach that must be
//! refused. New names go to `bdev_lvol_clone` of a real snapshot; an
//! accepted clone is deleted afterwards.
//!
//! Every case is sent twice: in order on one connection, then again split
//! over three connections, all sent before any answer is read. Each must get
//! a result or a JSON-RPC error within the bound; a case that resolves to
//! nothing must get an error. Afterwards the target is up, every lvol is
//! listed as before (flags, parents, clusters) and reads back the same bytes,
//! also after a restart.

use crate::error::{Error, Result};
use crate::lab::{Lab, Restart, BLOCK, CLUSTER, MIB};
use crate::outcome::Scenario;
use crate::steps::{clone_snapshot, log_line, snapshot, thin_lvol, HANG_AFTER};
use crate::{ensure, ensure_eq, fail};
use serde_json::{json, Map, Value};
use spdk_rpc::methods::*;
use spdk_rpc::{Client, Pending, RpcError};
use std::collections::BTreeMap;

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "hostile_input_generated",
        about: "generated bad requests (shape, types, u64 edges, hostile names, every kind of lvol) for the series' RPCs and those it touches, sequential and over 3 connections at once: answered, target up, data unchanged",
        needs: &[],
        bug: None,
        run: hostile_input,
    }]
}

/// What a param holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// An existing lvol, by alias or UUID.
    Lvol,
    /// The name of an lvol to create.
    NewName,
    Lvs,
    /// Any bdev, by name or UUID.
    Bdev,
    Uuid,
    Count,
    /// An option of a checksum pass (queue depth, rate, busy share): sent
    /// only out of range, or as no limit, so that no pass crawls.
    PassOption,
}

struct Param {
    name: &'static str,
    kind: Kind,
    required: bool,
}

const fn p(name: &'static str, kind: Kind) -> Param {
    Param {
        name,
        kind,
        required: true,
    }
}

const fn opt(name: &'static str, kind: Kind) -> Param {
    Param {
        name,
        kind,
        required: false,
    }
}

use Kind::*;

/// The series' RPCs and the ones it touches, with their params.
const METHODS: &[(&str, &[Param])] = &[
    ("bdev_lvol_delete", &[p("name", Lvol)]),
    (
        "bdev_lvol_snapshot",
        &[p("lvol_name", Lvol), p("snapshot_name", NewName)],
    ),
    (
        "bdev_lvol_clone",
        &[p("snapshot_name", Lvol), p("clone_name", NewName)],
    ),
    (
        "bdev_lvol_clone_bdev",
        &[
            p("bdev", Bdev),
            p("lvs_name", Lvs),
            p("clone_name", NewName),
        ],
    ),
    (
        "bdev_lvol_set_parent",
        &[p("lvol_name", Lvol), p("parent_name", Lvol)],
    ),
    (
        "bdev_lvol_set_parent_bdev",
        &[p("lvol_name", Lvol), p("parent_name", Bdev)],
    ),
    ("bdev_lvol_inflate", &[p("name", Lvol)]),
    ("bdev_lvol_decouple_parent", &[p("name", Lvol)]),
    (
        "bdev_lvol_start_shallow_copy",
        &[p("src_lvol_name", Lvol), p("dst_bdev_name", Bdev)],
    ),
    (
        "bdev_lvol_delete_lvstore",
        &[opt("lvs_name", Lvs), opt("uuid", Uuid)],
    ),
    ("bdev_lvol_detach_parent", &[p("name", Lvol)]),
    (
        "bdev_lvol_register_snapshot_checksum",
        &[
            p("name", Lvol),
            opt("queue_depth", PassOption),
            opt("max_read_bytes_per_sec", PassOption),
            opt("busy_share", PassOption),
        ],
    ),
    (
        "bdev_lvol_register_snapshot_range_checksums",
        &[
            p("name", Lvol),
            opt("queue_depth", PassOption),
            opt("max_read_bytes_per_sec", PassOption),
            opt("busy_share", PassOption),
        ],
    ),
    ("bdev_lvol_get_snapshot_checksum", &[p("name", Lvol)]),
    (
        "bdev_lvol_get_snapshot_range_checksums",
        &[
            p("name", Lvol),
            p("cluster_start_index", Count),
            p("cluster_count", Count),
        ],
    ),
    ("bdev_lvol_stop_snapshot_checksum", &[p("name", Lvol)]),
];

/// Methods that only read, or whose every effect on these targets is a
/// refusal or metadata the check ignores (a stored checksum): aimed at
/// every kind of lvol.
const READERS: &[&str] = &[
    "bdev_lvol_register_snapshot_checksum",
    "bdev_lvol_register_snapshot_range_checksums",
    "bdev_lvol_get_snapshot_checksum",
    "bdev_lvol_get_snapshot_range_checksums",
    "bdev_lvol_stop_snapshot_checksum",
];

/// A value of `kind` that resolves to nothing.
fn nothing(kind: Kind) -> Value {
    match kind {
        Lvol => json!("lvs0/no_such_lvol"),
        NewName => json!("new0"),
        Lvs => json!("no_such_lvs"),
        Bdev => json!("no_such_bdev"),
        Uuid => json!("6f1d3b2e-0000-4000-8000-00000000dead"),
        Count => json!(1),
        PassOption => json!(0),
    }
}

/// Names no lvol, lvstore or bdev has.
fn hostile_names() -> Vec<String> {
    vec![
        String::new(),
        "/".into(),
        "//".into(),
        "lvs0/".into(),
        "/vol".into(),
        "lvs0//vol".into(),
        "lvs0/vol/x".into(),
        "../lvs0/vol".into(),
        " lvs0/vol".into(),
        "lvs0/vol\n".into(),
        "lvs0/\u{0}vol".into(),
        "lvs0/\u{7f}\u{1b}[2J".into(),
        "lvs0/日本語のボリューム".into(),
        "lvs0/\u{fffd}\u{202e}lov".into(),
        "%s%s%s%n".into(),
        "a".repeat(63),
        "a".repeat(64),
        "a".repeat(256),
        format!("lvs0/{}", "v".repeat(300)),
        "x".repeat(4096),
        "00000000-0000-0000-0000-000000000000".into(),
        "ffffffff-ffff-ffff-ffff-ffffffffffff".into(),
        "6f1d3b2e-0000-4000-8000-00000000beef".into(),
        "6f1d3b2e-0000-4000-8000-00000000beef/vol".into(),
    ]
}

/// Values of every JSON type but a string, and strings where numbers go.
fn wrong_types(kind: Kind) -> Vec<Value> {
    let mut v = vec![
        Value::Null,
        json!(true),
        json!(1.5),
        json!(-1),
        json!({}),
        json!([]),
        json!(["lvs0/vol"]),
        json!({"name": "lvs0/vol"}),
    ];
    if kind == Count || kind == PassOption {
        v.extend([json!("1"), json!(""), json!(-9_223_372_036_854_775_807_i64)]);
        // Past u64: a JSON number SPDK must refuse, sent as a float.
        v.push(json!(1.8446744073709552e19));
        v.push(json!(1e300));
    } else {
        v.extend([json!(0), json!(u64::MAX)]);
    }
    v
}

/// u64 edges for counts and indexes.
fn counts() -> Vec<Value> {
    [
        0,
        1,
        2,
        3,
        4,
        5,
        16,
        65_535,
        65_536,
        65_537,
        1 << 32,
        (1 << 63) - 1,
        1 << 63,
        u64::MAX - 1,
        u64::MAX,
    ]
    .into_iter()
    .map(|n| json!(n))
    .collect()
}

/// Values of a pass option that a target must refuse. The rate has no
/// refused value: a 0 is no limit, and a small one would make the pass crawl.
fn out_of_range(option: &str) -> Vec<Value> {
    match option {
        "queue_depth" => vec![json!(0), json!(65), json!(1u64 << 32), json!(u64::MAX)],
        "busy_share" => vec![json!(0), json!(101), json!(256), json!(u64::MAX)],
        _ => vec![json!(-1), json!(1.8446744073709552e19)],
    }
}

/// One request, and whether it can only fail (everything it names resolves
/// to nothing).
#[derive(Clone, Debug)]
struct Case {
    method: &'static str,
    params: Option<Value>,
    must_fail: bool,
    what: String,
}

fn base(params: &[Param]) -> Map<String, Value> {
    params
        .iter()
        .filter(|p| p.required)
        .map(|p| (p.name.to_string(), nothing(p.kind)))
        .collect()
}

/// The generated cases for the methods in `offered`, aimed at `targets`
/// (lvol kind → alias) and creating new lvols only as clones of `snap`.
fn generate(offered: &[&'static str], targets: &[(&str, String)], snap: &str) -> Vec<Case> {
    let mut out = vec![];
    for (m, params) in METHODS.iter().filter(|(m, _)| offered.contains(m)) {
        let m: &'static str = m;
        let mut push = |params: Option<Value>, must_fail: bool, what: String| {
            out.push(Case {
                method: m,
                params,
                must_fail,
                what,
            })
        };
        let b = base(params);
        let has_required = params.iter().any(|p| p.required);
        // Shape.
        for (v, what) in [
            (None, "no params"),
            (Some(json!([])), "params an empty array"),
            (Some(json!(["lvs0/vol"])), "params an array"),
            (Some(json!("lvs0/vol")), "params a string"),
            (Some(json!(7)), "params a number"),
            (Some(Value::Null), "params null"),
        ] {
            push(
                v,
                has_required || m == "bdev_lvol_delete_lvstore",
                what.into(),
            );
        }
        push(Some(json!({})), true, "params empty".into());
        for p in params.iter().filter(|p| p.required) {
            let mut q = b.clone();
            q.remove(p.name);
            push(Some(Value::Object(q)), true, format!("without {}", p.name));
        }
        let mut q = b.clone();
        q.insert("no_such_param".into(), json!(1));
        push(Some(Value::Object(q)), true, "an unknown param".into());
        let mut q = b.clone();
        q.insert(params[0].name.into(), nothing(params[0].kind));
        q.insert(format!("{} ", params[0].name), json!("x"));
        push(
            Some(Value::Object(q)),
            true,
            "a param name with a space".into(),
        );
        // Types.
        for p in params.iter() {
            for v in wrong_types(p.kind) {
                let mut q = b.clone();
                q.insert(p.name.into(), v.clone());
                push(Some(Value::Object(q)), true, format!("{} = {v}", p.name));
            }
        }
        // Names.
        for p in params
            .iter()
            .filter(|p| p.kind != Count && p.kind != PassOption)
        {
            for n in hostile_names() {
                let mut q = b.clone();
                q.insert(p.name.into(), json!(n));
                push(
                    Some(Value::Object(q)),
                    true,
                    format!("{} = {:?}", p.name, shorten(&n)),
                );
            }
        }
        // Counts on nothing.
        for p in params.iter().filter(|p| p.kind == Count) {
            for v in counts() {
                let mut q = b.clone();
                q.insert(p.name.into(), v.clone());
                push(Some(Value::Object(q)), true, format!("{} = {v}", p.name));
            }
        }
        // Pass options out of range, on nothing and on every kind of lvol:
        // refused before a pass starts.
        for p in params.iter().filter(|p| p.kind == PassOption) {
            for v in out_of_range(p.name) {
                let mut q = b.clone();
                q.insert(p.name.into(), v.clone());
                push(Some(Value::Object(q)), true, format!("{} = {v}", p.name));
                for (kind, alias) in targets {
                    push(
                        Some(json!({"name": alias, p.name: v})),
                        true,
                        format!("the {kind} {alias}, {} = {v}", p.name),
                    );
                }
            }
        }
        // Every kind of lvol, for the methods that only read.
        if READERS.contains(&m) {
            for (kind, alias) in targets {
                let counted = params.iter().any(|p| p.kind == Count);
                if !counted {
                    push(
                        Some(json!({"name": alias})),
                        false,
                        format!("the {kind} {alias}"),
                    );
                    continue;
                }
                for start in counts() {
                    for count in [json!(0), json!(1), json!(4), json!(65_536), json!(u64::MAX)] {
                        push(
                            Some(
                                json!({"name": alias, "cluster_start_index": start, "cluster_count": count}),
                            ),
                            false,
                            format!("the {kind} {alias}, clusters {start} + {count}"),
                        );
                    }
                }
            }
        }
    }
    // Requests that must be refused on real lvols.
    let refused = [
        (
            "bdev_lvol_delete",
            json!({"name": snap}),
            "a snapshot with 2 clones",
        ),
        (
            "bdev_lvol_detach_parent",
            json!({"name": "lvs1/esnap"}),
            "an esnap clone",
        ),
        (
            "bdev_lvol_detach_parent",
            json!({"name": "lvs1/deg"}),
            "a degraded esnap clone",
        ),
        (
            "bdev_lvol_detach_parent",
            json!({"name": "lvs0/ro"}),
            "a lvol without a parent",
        ),
        (
            "bdev_lvol_snapshot",
            json!({"lvol_name": "lvs0/vol", "snapshot_name": "c1"}),
            "the name of another lvol",
        ),
        (
            "bdev_lvol_clone",
            json!({"snapshot_name": "lvs0/vol", "clone_name": "new1"}),
            "a lvol that is not a snapshot",
        ),
    ];
    for (m, params, what) in refused {
        if offered.contains(&m) {
            out.push(Case {
                method: m,
                params: Some(params),
                must_fail: true,
                what: format!("on {what}"),
            });
        }
    }
    // New names, as clones of a real snapshot: some may be taken.
    if offered.contains(&"bdev_lvol_clone") {
        for n in hostile_names() {
            out.push(Case {
                method: "bdev_lvol_clone",
                params: Some(json!({"snapshot_name": snap, "clone_name": n})),
                must_fail: false,
                what: format!("a clone of {snap} named {:?}", shorten(&n)),
            });
        }
    }
    out
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 24 {
        format!(
            "{}... ({} bytes)",
            s.chars().take(16).collect::<String>(),
            s.len()
        )
    } else {
        s.to_string()
    }
}

/// How the cases were answered.
#[derive(Default)]
struct Tally {
    results: usize,
    errors: BTreeMap<i32, usize>,
}

/// Check one answer against its case.
fn judge(c: &Case, r: std::result::Result<Value, RpcError>, t: &mut Tally) -> Result<()> {
    match r {
        Ok(v) => {
            ensure!(
                !c.must_fail,
                "{} with {} answered {v}: it names nothing that exists and must fail",
                c.method,
                c.what
            );
            t.results += 1;
        }
        Err(RpcError::Rpc { code, .. }) => *t.errors.entry(code).or_default() += 1,
        Err(e @ RpcError::Timeout { .. }) => fail!(
            "{} with {} got no answer within {:.0} s: {e}",
            c.method,
            c.what,
            HANG_AFTER.as_secs_f64()
        ),
        Err(e) => fail!("{} with {}: {e}", c.method, c.what),
    }
    Ok(())
}

/// What must not change: each lvol as listed, and the bytes of those read.
struct Stock {
    lvols: Vec<String>,
    bytes: Vec<(String, Vec<u8>)>,
}

fn take_stock(lab: &mut Lab, read: &[&str]) -> Result<Stock> {
    let mut lvols: Vec<String> = lab
        .lvols()?
        .into_iter()
        .map(|l| {
            format!(
                "{} {} snapshot {} clone {} esnap clone {} degraded {} thin {} clusters {:?}",
                l.alias,
                l.uuid,
                l.is_snapshot,
                l.is_clone,
                l.is_esnap_clone,
                l.is_degraded,
                l.is_thin_provisioned,
                l.num_allocated_clusters
            )
        })
        .collect();
    lvols.sort();
    let mut bytes = vec![];
    for a in read {
        bytes.push((a.to_string(), lab.read(a, 0, VOL_MIB * MIB)?));
        lab.unexport(a)?;
    }
    Ok(Stock { lvols, bytes })
}

/// Delete the lvols that were not there `before` (clones that odd names
/// made: nothing else may appear); returns their names, shortened.
fn drop_created(lab: &mut Lab, before: &Stock) -> Result<Vec<String>> {
    let mut taken = vec![];
    for l in lab.lvols()? {
        if !before.lvols.iter().any(|k| k.contains(&l.uuid)) {
            ensure!(
                l.is_clone && !l.is_snapshot,
                "{} appeared, and it is not a clone the hostile names made",
                l.alias
            );
            lab.tgt.ok(&BdevLvolDelete { name: l.uuid })?;
            taken.push(format!("{:?}", shorten(&l.name)));
        }
    }
    taken.sort();
    Ok(taken)
}

/// The stock after the hostile input against the one before.
fn same_stock(want: &Stock, got: &Stock, when: &str) -> Result<()> {
    ensure_eq!(got.lvols, want.lvols, "{when}: the lvols listed");
    for ((a, got), (_, want)) in got.bytes.iter().zip(&want.bytes) {
        ensure!(got == want, "{when}: {a} reads other bytes");
    }
    Ok(())
}

const VOL_MIB: u64 = 16;

fn hostile_input(lab: &mut Lab) -> Result<String> {
    // The lvols every kind of target is taken from.
    lab.create_lvstore("disk0", "lvs0", 256)?;
    lab.create_lvstore("disk1", "lvs1", 128)?;
    thin_lvol(lab, "lvs0", "vol", VOL_MIB)?;
    let stamp = |c: u64| vec![c as u8 + 1; CLUSTER as usize];
    lab.write("lvs0/vol", 0, &stamp(0))?;
    lab.write("lvs0/vol", 2 * CLUSTER, &stamp(2))?;
    snapshot(lab, "lvs0/vol", "snap")?;
    lab.write("lvs0/vol", CLUSTER, &stamp(1))?;
    clone_snapshot(lab, "lvs0/snap", "c1")?;
    lab.write("lvs0/c1", 3 * CLUSTER, &stamp(3))?;
    thin_lvol(lab, "lvs0", "ro", VOL_MIB)?;
    lab.write("lvs0/ro", 0, &vec![0x5a; 2 * BLOCK as usize])?;
    lab.unexport("lvs0/ro")?;
    lab.tgt.ok(&BdevLvolSetReadOnly {
        name: "lvs0/ro".into(),
    })?;
    let snap_uuid = lab.lvol("lvs0/snap")?.uuid;
    lab.tgt.ok(&BdevLvolCloneBdev {
        bdev: snap_uuid,
        lvs_name: "lvs1".into(),
        clone_name: "esnap".into(),
    })?;
    // An esnap clone of a malloc bdev, which the restart takes away: it loads
    // degraded, without a bdev.
    lab.tgt.ok(&BdevMallocCreate {
        name: "img".into(),
        num_blocks: VOL_MIB * MIB / BLOCK,
        block_size: BLOCK as u32,
    })?;
    lab.tgt.ok(&BdevLvolCloneBdev {
        bdev: "img".into(),
        lvs_name: "lvs1".into(),
        clone_name: "deg".into(),
    })?;
    lab.restart(Restart::Graceful)?;
    let deg = lab.lvol("lvs1/deg")?;
    ensure!(
        deg.is_degraded,
        "lvs1/deg must load degraded without its malloc image"
    );
    let targets: Vec<(&str, String)> = vec![
        ("clone", "lvs0/vol".into()),
        (
            "snapshot with 2 clones and an esnap clone",
            "lvs0/snap".into(),
        ),
        ("snapshot by UUID", lab.lvol("lvs0/snap")?.uuid),
        ("clone of that snapshot", "lvs0/c1".into()),
        ("read-only lvol", "lvs0/ro".into()),
        ("esnap clone", "lvs1/esnap".into()),
        ("degraded esnap clone", "lvs1/deg".into()),
        ("degraded esnap clone by UUID", deg.uuid.clone()),
    ];
    let readable = ["lvs0/vol", "lvs0/c1", "lvs0/ro", "lvs1/esnap"];
    let before = take_stock(lab, &readable)?;

    let methods = lab.methods()?;
    let offered: Vec<&'static str> = METHODS
        .iter()
        .map(|(m, _)| *m)
        .filter(|m| methods.iter().any(|x| x == m))
        .collect();
    let cases = generate(&offered, &targets, "lvs0/snap");
    log_line(&format!(
        "{} generated cases over {} methods ({} not offered by this target)",
        cases.len(),
        offered.len(),
        METHODS.len() - offered.len()
    ));
    let mut tally = Tally::default();

    // In order, on one connection.
    for c in &cases {
        let rpc = lab.tgt.rpc()?;
        let r = rpc
            .send_raw(c.method, c.params.clone())
            .and_then(|pnd| rpc.wait(pnd, HANG_AFTER));
        judge(c, r, &mut tally)?;
    }
    lab.tgt.check_alive()?;
    // The clones odd names made go, so that the second round meets the same lvols.
    let taken = drop_created(lab, &before)?;

    // Again, over three connections at once: every request sent first.
    let mut conns: Vec<Client> = (0..3).map(|_| lab.tgt.connect()).collect::<Result<_>>()?;
    let mut sent: Vec<(usize, &Case, Pending)> = vec![];
    for (i, c) in cases.iter().enumerate() {
        let k = i % conns.len();
        let pnd = conns[k]
            .send_raw(c.method, c.params.clone())
            .map_err(|e| Error::Check(format!("send {} with {}: {e}", c.method, c.what)))?;
        sent.push((k, c, pnd));
    }
    for (k, c, pnd) in sent {
        let r = conns[k].wait(pnd, HANG_AFTER);
        judge(c, r, &mut tally)?;
    }
    drop(conns);
    lab.tgt.check_alive()?;

    // (Fewer, or none: a clone of a snapshot that a checksum pass holds is
    // refused, and the second round runs passes at the same time.)
    let again_taken = drop_created(lab, &before)?;
    let after = take_stock(lab, &readable)?;
    same_stock(&before, &after, "after the hostile input")?;
    lab.restart(Restart::Graceful)?;
    let again = take_stock(lab, &readable)?;
    same_stock(&before, &again, "after a restart")?;
    let errors: Vec<String> = tally
        .errors
        .iter()
        .map(|(c, n)| format!("{n}× {c}"))
        .collect();
    Ok(format!(
        "{} cases over {} methods, each sent twice (in order, then over 3 connections at once): \
         {} results, errors {}; {} odd clone names taken in the first round, {} in the second \
         (deleted after each): {}; target up, lvols and bytes unchanged, also after a restart",
        cases.len(),
        offered.len(),
        tally.results,
        errors.join(", "),
        taken.len(),
        again_taken.len(),
        taken.join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_of_a_method_that_names_nothing_must_fail() {
        let all: Vec<&'static str> = METHODS.iter().map(|(m, _)| *m).collect();
        let cases = generate(&all, &[("clone", "lvs0/vol".into())], "lvs0/snap");
        assert!(cases.len() > 1000, "{} cases", cases.len());
        for c in &cases {
            let real = c.params.as_ref().is_some_and(|p| {
                p.to_string().contains("lvs0/vol\"")
                    || p.to_string().contains("lvs0/snap\"")
                    || p.to_string().contains("lvs1/")
                    || p.to_string().contains("lvs0/ro\"")
            });
            if !real {
                assert!(c.must_fail, "{} {}", c.method, c.what);
            }
        }
        // Every method has a case without each required param.
        for (m, params) in METHODS {
            for p in params.iter().filter(|p| p.required) {
                assert!(
                    cases
                        .iter()
                        .any(|c| c.method == *m && c.what == format!("without {}", p.name)),
                    "{m} without {}",
                    p.name
                );
            }
        }
    }
}
