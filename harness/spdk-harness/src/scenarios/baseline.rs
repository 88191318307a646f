//! Unpatched behaviour every base must keep: lvstore → thin lvol with data →
//! snapshot → clone → writes to the clone; parent links, cluster counts and
//! bytes, before and after graceful and SIGKILL restarts; and bad input.

use crate::data::{expect_bytes, pattern};
use crate::error::{Error, Result};
use crate::lab::{Lab, Restart, CLUSTER, MIB};
use crate::outcome::Scenario;
use crate::steps::{clone_snapshot, expect_rpc_error, snapshot, thin_lvol, write, LVOL_MIB};
use crate::{ensure, ensure_eq, fail};
use serde_json::json;
use spdk_rpc::methods::*;
use spdk_rpc::{code, Errno};

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "baseline_snapshot_clone",
            about: "thin lvol → snapshot → clone → clone writes: links, clusters, bytes",
            needs: &[],
            bug: None,
            run: |lab| {
                let c = Chain::build(lab)?;
                c.check(lab)
            },
        },
        Scenario {
            name: "baseline_restart_graceful",
            about: "the same chain survives a SIGTERM restart",
            needs: &[],
            bug: None,
            run: |lab| restart_and_check(lab, Restart::Graceful),
        },
        Scenario {
            name: "baseline_restart_sigkill",
            about: "the same chain survives a SIGKILL restart (dirty blobstore)",
            needs: &[],
            bug: None,
            run: |lab| restart_and_check(lab, Restart::Kill),
        },
        Scenario {
            name: "baseline_bad_input",
            about: "unknown method, missing params, unknown lvol, bad JSON: right error, target alive, data intact",
            needs: &[],
            bug: None,
            run: bad_input,
        },
    ]
}

/// The part of each lvol the checks read back: clusters 0..4.
pub const CHECKED: u64 = 4 * CLUSTER;

/// The chain under test and what each lvol must read.
pub struct Chain {
    pub lvs: String,
    pub vol: Vec<u8>,
    pub clone: Vec<u8>,
    pub total_clusters: u64,
}

impl Chain {
    pub fn build(lab: &mut Lab) -> Result<Self> {
        lab.create_lvstore("disk0", "lvs0", 256)?;
        let total_clusters = lab.lvstore("lvs0")?.total_data_clusters;
        thin_lvol(lab, "lvs0", "vol", LVOL_MIB)?;
        let mut vol = vec![0u8; CHECKED as usize];
        write(lab, "lvs0/vol", &mut vol, 0, pattern(1, 64 * 1024))?;
        write(
            lab,
            "lvs0/vol",
            &mut vol,
            2 * CLUSTER + 4096,
            pattern(2, 64 * 1024),
        )?;
        snapshot(lab, "lvs0/vol", "snap")?;
        clone_snapshot(lab, "lvs0/snap", "clone")?;
        let mut clone = vol.clone();
        write(
            lab,
            "lvs0/clone",
            &mut clone,
            CLUSTER,
            pattern(3, 64 * 1024),
        )?;
        write(
            lab,
            "lvs0/clone",
            &mut clone,
            16 * 1024,
            pattern(4, 8 * 1024),
        )?;
        Ok(Chain {
            lvs: "lvs0".into(),
            vol,
            clone,
            total_clusters,
        })
    }

    /// Links, flags, cluster counts and bytes of the whole chain.
    pub fn check(&self, lab: &mut Lab) -> Result<String> {
        let vol = lab.lvol("lvs0/vol")?;
        let snap = lab.lvol("lvs0/snap")?;
        let clone = lab.lvol("lvs0/clone")?;
        ensure!(
            snap.is_snapshot && !snap.is_clone,
            "snap must be a snapshot without a parent: {snap:?}"
        );
        ensure!(
            vol.is_clone && !vol.is_snapshot,
            "vol must be a clone of snap after the snapshot: {vol:?}"
        );
        ensure!(
            clone.is_clone && !clone.is_snapshot,
            "clone must be a clone: {clone:?}"
        );
        ensure!(
            vol.is_thin_provisioned && clone.is_thin_provisioned,
            "vol and clone must stay thin"
        );
        ensure_eq!(
            snap.allocated(),
            2,
            "clusters of snap (0 and 2 were written)"
        );
        ensure_eq!(
            vol.allocated(),
            0,
            "clusters of vol (nothing written since the snapshot)"
        );
        ensure_eq!(
            clone.allocated(),
            2,
            "clusters of clone (1 written, 0 copied on write)"
        );

        let vb = lab.lvol_bdev("lvs0/vol")?;
        let cb = lab.lvol_bdev("lvs0/clone")?;
        let sb = lab.lvol_bdev("lvs0/snap")?;
        ensure_eq!(vb.base_snapshot.as_deref(), Some("snap"), "parent of vol");
        ensure_eq!(cb.base_snapshot.as_deref(), Some("snap"), "parent of clone");
        ensure_eq!(sb.base_snapshot, None, "parent of snap");
        let mut clones = sb.clones.clone();
        clones.sort();
        ensure_eq!(
            clones,
            vec!["clone".to_string(), "vol".to_string()],
            "clones of snap"
        );

        let lvs = lab.lvstore(&self.lvs)?;
        ensure_eq!(
            lvs.free_clusters,
            self.total_clusters - 4,
            "free clusters of lvs0 (4 allocated)"
        );

        let got = lab.read("lvs0/vol", 0, CHECKED)?;
        expect_bytes("lvs0/vol clusters 0-3", &got, &self.vol)?;
        let got = lab.read("lvs0/snap", 0, CHECKED)?;
        expect_bytes("lvs0/snap clusters 0-3", &got, &self.vol)?;
        let got = lab.read("lvs0/clone", 0, CHECKED)?;
        expect_bytes("lvs0/clone clusters 0-3", &got, &self.clone)?;
        Ok(format!(
            "clusters snap/vol/clone = {}/{}/{}, free {}, {} MiB read back",
            snap.allocated(),
            vol.allocated(),
            clone.allocated(),
            lvs.free_clusters,
            3 * CHECKED / MIB
        ))
    }
}

fn restart_and_check(lab: &mut Lab, how: Restart) -> Result<String> {
    let c = Chain::build(lab)?;
    c.check(lab)?;
    lab.restart(how)?;
    let fig = c.check(lab)?;
    Ok(format!("after {how:?} restart: {fig}"))
}

fn bad_input(lab: &mut Lab) -> Result<String> {
    let c = Chain::build(lab)?;
    let before = lab.lvols()?;
    let rpc = lab.tgt.rpc()?;

    expect_rpc_error(
        "unknown method",
        rpc.call_raw("bdev_lvol_no_such_method", Some(json!({"name": "x"}))),
        code::METHOD_NOT_FOUND,
        "Method not found",
    )?;
    expect_rpc_error(
        "bdev_lvol_delete without params",
        rpc.call_raw("bdev_lvol_delete", None),
        code::INTERNAL_ERROR,
        "spdk_json_decode_object failed",
    )?;
    expect_rpc_error(
        "bdev_lvol_snapshot with a missing snapshot_name",
        rpc.call_raw("bdev_lvol_snapshot", Some(json!({"lvol_name": "lvs0/vol"}))),
        code::INTERNAL_ERROR,
        "spdk_json_decode_object failed",
    )?;
    expect_rpc_error(
        "bdev_lvol_create with a number for lvol_name",
        rpc.call_raw(
            "bdev_lvol_create",
            Some(json!({"lvol_name": 5, "size_in_mib": 4, "lvs_name": "lvs0"})),
        ),
        code::INTERNAL_ERROR,
        "spdk_json_decode_object failed",
    )?;
    let enodev = -(Errno::ENODEV as i32);
    expect_rpc_error(
        "bdev_lvol_delete of an unknown lvol",
        rpc.call(&BdevLvolDelete {
            name: "lvs0/no_such_lvol".into(),
        }),
        enodev,
        "No such device",
    )?;
    expect_rpc_error(
        "bdev_lvol_snapshot of an unknown lvol",
        rpc.call(&BdevLvolSnapshot {
            lvol_name: "lvs0/no_such_lvol".into(),
            snapshot_name: "s2".into(),
            ..Default::default()
        }),
        enodev,
        "No such device",
    )?;
    expect_rpc_error(
        "bdev_lvol_clone of an lvol that is not a snapshot",
        rpc.call(&BdevLvolClone {
            snapshot_name: "lvs0/vol".into(),
            clone_name: "c2".into(),
        }),
        code::INVALID_PARAMS,
        "Invalid argument",
    )?;

    // Malformed JSON on a connection of its own. SPDK cannot resync a JSON
    // stream after a parse error: it queues a -32700 answer and closes the
    // connection, so the answer may or may not arrive first.
    let mut raw = lab.tgt.connect()?;
    raw.send_bytes(br#"{"jsonrpc":"2.0","id":1,"method":"rpc_get_methods",,}"#)
        .map_err(|e| Error::Check(format!("sending malformed JSON: {e}")))?;
    let t = std::time::Duration::from_secs(10);
    match raw.read_value("<malformed>", std::time::Instant::now() + t, t) {
        Ok(resp) => ensure_eq!(
            resp["error"]["code"].as_i64(),
            Some(code::PARSE_ERROR as i64),
            "error code for malformed JSON (answer: {resp})"
        ),
        Err(spdk_rpc::RpcError::Closed { .. }) => {}
        Err(e) => fail!("malformed JSON: expected a parse error or a closed connection, got {e}"),
    }
    drop(raw);
    // Valid JSON that is not a request: -32600, and the connection stays usable.
    let mut raw = lab.tgt.connect()?;
    raw.send_bytes(br#""not a request""#)
        .map_err(|e| Error::Check(format!("sending a JSON string: {e}")))?;
    let resp = raw
        .read_value("<string>", std::time::Instant::now() + t, t)
        .map_err(|e| Error::Check(format!("no answer to a JSON string as request: {e}")))?;
    ensure_eq!(
        resp["error"]["code"].as_i64(),
        Some(code::INVALID_REQUEST as i64),
        "error code for a request that is not an object (answer: {resp})"
    );
    raw.call(&RpcGetMethods::default())
        .map_err(|e| Error::Check(format!("the connection must stay usable after -32600: {e}")))?;
    drop(raw);

    // The target is alive and nothing changed.
    lab.tgt.check_alive()?;
    ensure!(
        lab.has_method("bdev_lvol_get_lvols")?,
        "rpc_get_methods must still answer"
    );
    let after = lab.lvols()?;
    ensure_eq!(after, before, "bdev_lvol_get_lvols after the bad requests");
    let fig = c.check(lab)?;
    Ok(format!("9 bad requests refused; {fig}"))
}
