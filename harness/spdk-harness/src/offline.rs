//! The disk as an independent oracle: what `lvs-inspect` read from a base
//! disk's file while no target had it open (SPDK's own code is not involved),
//! held against what the target listed before it stopped. What the inspector
//! reads is what a target will load after the restart, SIGKILL included; a
//! difference is a gap between the target's belief and the disk.
//!
//! Pure functions and data only: the lab's restart stops the target, reads
//! the disks and calls these.

use crate::error::{Error, Result};
use crate::{ensure, ensure_eq};
use lvs_inspect::{Blob, Parent, Store};
use spdk_rpc::methods::{BdevInfo, LvolDriverInfo, LvolInfo, LvstoreInfo};
use std::collections::{BTreeMap, BTreeSet};

/// What the target under test reports about its lvstores and lvols, to hold
/// the disks against after it stops.
#[derive(Debug, Clone)]
pub struct Listing {
    lvstores: Vec<LvstoreInfo>,
    /// Each lvol with its bdev's lvol info, where it has a bdev (a degraded
    /// one has none).
    lvols: Vec<(LvolInfo, Option<LvolDriverInfo>)>,
    /// Lvols (aliases) an operation allocates clusters for while the target
    /// stops (an inflate): on disk they may hold more than listed, and the
    /// lvstore fewer free clusters by as many.
    growing: Vec<String>,
    /// Lvols (aliases) being deleted while the target stops: on disk they
    /// may be there, marked for removal (which the next load resolves), or
    /// gone, listed or not.
    deleting: Vec<String>,
    /// Lvols an operation takes off their parent while the target stops.
    reparenting: Vec<Reparent>,
    /// Findings (text they contain) of a known upstream defect the scenario
    /// expects; any other finding fails.
    known: Vec<&'static str>,
}

impl Listing {
    /// The listing from the answers of `bdev_lvol_get_lvstores`,
    /// `bdev_lvol_get_lvols` and `bdev_get_bdevs`: the cluster counts a base
    /// leaves out of `bdev_lvol_get_lvols` come from the bdevs.
    pub fn from_rpc(
        lvstores: Vec<LvstoreInfo>,
        mut lvols: Vec<LvolInfo>,
        bdevs: &[BdevInfo],
    ) -> Self {
        fill_clusters(&mut lvols, bdevs);
        let lvols = lvols
            .into_iter()
            .map(|l| {
                let d = lvol_bdev_of(bdevs, &l);
                (l, d)
            })
            .collect();
        Listing {
            lvstores,
            lvols,
            growing: vec![],
            deleting: vec![],
            reparenting: vec![],
            known: vec![],
        }
    }

    /// Findings that contain `text` are a known defect the caller expects.
    pub fn known_finding(&mut self, text: &'static str) {
        self.known.push(text);
    }

    /// `alias` is being deleted while the target stops.
    pub fn may_vanish(&mut self, alias: &str) {
        self.deleting.push(alias.into());
    }

    /// An operation allocates clusters for `alias` while the target stops.
    pub fn may_grow(&mut self, alias: &str) {
        self.growing.push(alias.into());
    }

    /// An operation takes `r.alias` off its parent while the target stops.
    pub fn may_reparent(&mut self, r: Reparent) {
        self.reparenting.push(r);
    }
}

/// An lvol an operation takes off its parent (an inflate, a decouple) while
/// the target stops. The listing is taken before the stop, and the operation
/// may end in between: on disk the lvol may be as listed, or have the parent
/// `to` (a name in its lvstore; none for an inflate, or a decouple from a
/// parent that had none) and the thin flag `thin` (as listed if none), and
/// then be among the clones of `to` and no longer among those of its listed
/// parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reparent {
    pub alias: String,
    pub to: Option<String>,
    pub thin: Option<bool>,
}

/// What operations do to the lvols while the target stops, for
/// [`check_lvstore_growing`].
#[derive(Clone, Copy, Default)]
struct InFlight<'a> {
    growing: &'a [String],
    deleting: &'a [String],
    reparenting: &'a [Reparent],
}

/// The lvol driver info of `l` among `bdevs`, if it has a bdev.
pub fn lvol_bdev_of(bdevs: &[BdevInfo], l: &LvolInfo) -> Option<LvolDriverInfo> {
    bdevs
        .iter()
        .find(|b| b.name == l.uuid || b.aliases.contains(&l.alias))
        .and_then(|b| b.lvol())
}

/// Fill the cluster counts `bdev_lvol_get_lvols` left out from `bdevs`.
pub fn fill_clusters(lvols: &mut [LvolInfo], bdevs: &[BdevInfo]) {
    for l in lvols
        .iter_mut()
        .filter(|l| l.num_allocated_clusters.is_none())
    {
        l.num_allocated_clusters = lvol_bdev_of(bdevs, l).map(|d| d.num_allocated_clusters);
    }
}

/// The store on disk `name` of an inspection.
pub fn store<'a>(stores: &'a [(String, Store)], name: &str) -> Result<&'a Store> {
    stores
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| s)
        .ok_or_else(|| {
            Error::Check(format!(
                "no blobstore was read from disk {name}; read: [{}]",
                stores
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// The blob of lvol `name` in the inspected store of `disk`.
pub fn on_disk<'a>(
    stores: &'a [(String, Store)],
    disk: &str,
    name: &str,
) -> Result<Option<&'a Blob>> {
    Ok(store(stores, disk)?.blob_by_name(name))
}

/// What every restart checks while the target is down: each lvstore on a
/// file-backed disk holds what the target listed ([`check_listing`]), and
/// the inspector found nothing amiss on any disk it read
/// ([`check_findings`]). Both are run; a failure says what each found.
///
/// `disks` are the file-backed disks as (bdev, disk name); `when` says
/// which stop, as "after a Kill stop".
pub fn check_restart(
    before: &Listing,
    disks: &[(String, String)],
    stores: &[(String, Store)],
    when: &str,
) -> Result<()> {
    let failed: Vec<String> = [
        check_listing(before, disks, stores, when),
        check_findings_but(stores, when, &before.deleting, &before.known),
    ]
    .into_iter()
    .filter_map(|r| r.err().map(|e| e.to_string()))
    .collect();
    ensure!(failed.is_empty(), "{}", failed.join("; and "));
    Ok(())
}

/// Each lvstore on a file-backed disk holds what the target listed.
pub fn check_listing(
    before: &Listing,
    disks: &[(String, String)],
    stores: &[(String, Store)],
    when: &str,
) -> Result<()> {
    for lvs in &before.lvstores {
        // Lvstores on other bdevs (a delay bdev, say) have no file of their own here.
        let Some((_, disk)) = disks.iter().find(|(bdev, _)| *bdev == lvs.base_bdev) else {
            continue;
        };
        let lvols = before
            .lvols
            .iter()
            .filter(|(l, _)| l.lvs.name == lvs.name)
            .map(|(l, d)| (l, d.as_ref()));
        check_lvstore_growing(
            lvs,
            lvols,
            store(stores, disk)?,
            &format!("on disk {disk} {when}, lvstore {}", lvs.name),
            InFlight {
                growing: &before.growing,
                deleting: &before.deleting,
                reparenting: &before.reparenting,
            },
        )?;
    }
    Ok(())
}

/// No store the inspector read has a finding: a gap between the store's
/// bookkeeping (super block, masks) and its blobs, such as clusters a clean
/// store's mask marks but no blob owns, a cluster owned twice, or metadata
/// SPDK would refuse to load.
pub fn check_findings(stores: &[(String, Store)], when: &str) -> Result<()> {
    check_findings_but(stores, when, &[], &[])
}

/// [`check_findings`], expecting what an interrupted delete of the lvols in
/// `deleting` (aliases) leaves, and the findings that contain one of `known`
/// (a known upstream defect): what a SIGKILL in the middle of a delete may
/// leave on disk for the next load to resolve.
pub fn check_findings_expecting(
    stores: &[(String, Store)],
    when: &str,
    deleting: &[String],
    known: &[&str],
) -> Result<()> {
    check_findings_but(stores, when, deleting, known)
}

/// [`check_findings`], but what an interrupted delete leaves of an lvol in
/// `deleting` (an alias) is expected: the mark of its pending removal on its
/// blob, and clusters its clone already holds too. SPDK's next load resolves
/// both (the scenario restarts once more to hold the disk to that).
fn check_findings_but(
    stores: &[(String, Store)],
    when: &str,
    deleting: &[String],
    known: &[&str],
) -> Result<()> {
    let expected = |s: &Store, f: &lvs_inspect::Finding| {
        if known.iter().any(|k| f.what.contains(k)) {
            return true;
        }
        let ids: Vec<u64> = s
            .blobs
            .iter()
            .filter(|b| {
                b.name()
                    .is_some_and(|n| deleting.iter().any(|a| a.rsplit('/').next() == Some(n)))
            })
            .map(|b| b.id)
            .collect();
        match f.blob {
            Some(id) => f.what.contains("SNAPRM") && ids.contains(&id),
            None => {
                f.what.contains("is owned by blobs")
                    && ids.iter().any(|id| f.what.contains(&format!("{id:#x}")))
            }
        }
    };
    let found: Vec<String> = stores
        .iter()
        .filter_map(|(disk, s)| {
            let gaps: Vec<String> = s
                .findings
                .iter()
                .filter(|f| !expected(s, f))
                .map(ToString::to_string)
                .collect();
            (!gaps.is_empty()).then(|| {
                format!(
                    "on disk {disk} ({} store) {when}, lvs-inspect found {} gap(s) on disk: {}",
                    if s.clean { "clean" } else { "dirty" },
                    gaps.len(),
                    gaps.join("; ")
                )
            })
        })
        .collect();
    ensure!(found.is_empty(), "{}", found.join("; "));
    Ok(())
}

fn blob_name(s: &Store, id: u64) -> String {
    s.blob(id)
        .and_then(Blob::name)
        .map(str::to_string)
        .unwrap_or_else(|| format!("{id:#x} (not on disk)"))
}

/// The store on disk holds exactly the lvols the target listed (no hidden
/// one, none lost), each with its name, flags and allocated clusters, and,
/// where the lvol had a bdev, its parent, external snapshot and clones; and
/// the free clusters the target reported.
pub fn check_lvstore<'a>(
    lvs: &LvstoreInfo,
    lvols: impl IntoIterator<Item = (&'a LvolInfo, Option<&'a LvolDriverInfo>)>,
    s: &Store,
    when: &str,
) -> Result<()> {
    check_lvstore_growing(lvs, lvols, s, when, InFlight::default())
}

/// [`check_lvstore`], where the lvols `growing` may hold more clusters than
/// listed (an operation allocated them while the target stopped), and the
/// lvstore as many fewer free clusters; lvols `deleting` may be gone; and
/// lvols `reparenting` may have their new parent (see [`Reparent`]).
fn check_lvstore_growing<'a>(
    lvs: &LvstoreInfo,
    lvols: impl IntoIterator<Item = (&'a LvolInfo, Option<&'a LvolDriverInfo>)>,
    s: &Store,
    when: &str,
    in_flight: InFlight,
) -> Result<()> {
    let InFlight {
        growing,
        deleting,
        reparenting,
    } = in_flight;
    let deleted = |name: &str| {
        deleting
            .iter()
            .any(|a| a.as_str() == format!("{}/{name}", lvs.name))
    };
    // An lvol being deleted may be on disk or not, listed or not. Its clone
    // may already have taken its clusters and dropped it as parent (a merge
    // that got that far): on disk the clone's parent is then the deleted
    // lvol's own parent (by name here).
    let lvols: Vec<_> = lvols.into_iter().collect();
    let parent_of_deleted: BTreeMap<String, Option<String>> = lvols
        .iter()
        .filter(|(l, _)| deleted(&l.name))
        .map(|(l, d)| (l.name.clone(), d.and_then(|d| d.base_snapshot.clone())))
        .collect();
    let lvs_prefix = format!("{}/", lvs.name);
    let lvs_deleting: Vec<&str> = deleting
        .iter()
        .filter_map(|a| a.strip_prefix(lvs_prefix.as_str()))
        .collect();
    let clones_of_deleted: BTreeMap<String, Vec<String>> = lvols
        .iter()
        .filter(|(l, _)| deleted(&l.name))
        .map(|(l, d)| {
            (
                l.name.clone(),
                d.map(|d| d.clones.clone()).unwrap_or_default(),
            )
        })
        .collect();
    let lvols: Vec<_> = lvols
        .into_iter()
        .filter(|(l, _)| !deleted(&l.name))
        .collect();
    // Lvols an operation took off their listed parent before the stop, as
    // (name, listed parent, the reparenting that allows it).
    let on_disk_parent_of = |uuid: &str| -> Option<String> {
        match s.blob_by_uuid(uuid).map(|b| &b.parent) {
            Some(Parent::Blob { id }) => Some(blob_name(s, *id)),
            _ => None,
        }
    };
    let moved: Vec<(String, Option<String>, &Reparent)> = lvols
        .iter()
        .filter_map(|(l, d)| {
            let r = reparenting.iter().find(|r| r.alias == l.alias)?;
            let listed = d.and_then(|d| d.base_snapshot.clone());
            let now = on_disk_parent_of(&l.uuid);
            (now != listed && now == r.to).then(|| (l.name.clone(), listed, r))
        })
        .collect();
    // Clusters of a growing lvol were allocated while the listing was taken
    // and after, and one being copied when the target stopped is not on disk
    // yet: its count and the free clusters on disk are what the next load
    // counts; a graceful restart after that load holds them to the listing.
    let grows = lvols.iter().any(|(l, _)| growing.contains(&l.alias));
    if !grows
        && !deleting
            .iter()
            .any(|a| a.starts_with(&format!("{}/", lvs.name)))
    {
        // (A delete cut short frees its clusters or not.)
        ensure_eq!(s.clusters.free, lvs.free_clusters, "{when}: free clusters");
    }
    let on_disk: BTreeSet<&str> = s
        .blobs
        .iter()
        .filter(|b| !b.super_blob && !b.name().is_some_and(deleted))
        .filter_map(|b| b.uuid())
        .collect();
    let listed: BTreeSet<&str> = lvols.iter().map(|(l, _)| l.uuid.as_str()).collect();
    let hidden: Vec<String> = on_disk
        .difference(&listed)
        .map(|u| {
            format!(
                "{} ({u})",
                s.blob_by_uuid(u).and_then(|b| b.name()).unwrap_or("?")
            )
        })
        .collect();
    ensure!(
        hidden.is_empty(),
        "{when}: lvols on disk that bdev_lvol_get_lvols did not list: {}; they hold their clusters \
         and come back at the next load",
        hidden.join(", ")
    );
    let lost: Vec<&str> = listed.difference(&on_disk).copied().collect();
    ensure!(
        lost.is_empty(),
        "{when}: listed lvols missing on disk: {}",
        lost.join(", ")
    );
    for (l, d) in lvols {
        let b = s.blob_by_uuid(&l.uuid).expect("compared above");
        let w = format!("{when}: {} (blob {:#x})", l.alias, b.id);
        ensure_eq!(b.name(), Some(l.name.as_str()), "{w}: name");
        let reparented = moved.iter().find(|(n, _, _)| *n == l.name).map(|m| m.2);
        if let Some(r) = reparented {
            // The operation ended before the stop: the lvol is as it leaves it.
            ensure_eq!(
                b.thin,
                r.thin.unwrap_or(l.is_thin_provisioned),
                "{w}: thin (off its parent, now {:?}, before the stop)",
                r.to
            );
            ensure_eq!(
                b.clone,
                r.to.is_some(),
                "{w}: clone (off its parent, now {:?}, before the stop)",
                r.to
            );
        } else {
            ensure_eq!(b.thin, l.is_thin_provisioned, "{w}: thin");
        }
        // SPDK keeps a snapshot whose last clone went (inflated, decoupled,
        // deleted) in its snapshot list while it runs; a load finds no blob
        // naming it as parent and makes it a plain read-only lvol.
        let lost_last_clone = l.is_snapshot && !b.snapshot && b.read_only && b.clones.is_empty();
        if !lost_last_clone {
            ensure_eq!(b.snapshot, l.is_snapshot, "{w}: snapshot");
        }
        // The listed parent is being deleted (or, while one is, the listing
        // could not name it) and the merge may have gone through on disk: the
        // lvol's parent is then the deleted one's own, none if it had none.
        let listed_parent = d.and_then(|d| d.base_snapshot.as_deref());
        let parent_going = l.is_clone
            && !lvs_deleting.is_empty()
            && listed_parent.is_none_or(|p| lvs_deleting.contains(&p));
        let on_disk_parent = match &b.parent {
            Parent::Blob { id } => Some(blob_name(s, *id)),
            _ => None,
        };
        let merged: Option<Option<String>> = parent_going
            .then(|| {
                let mut may: Vec<Option<String>> = vec![None];
                for n in &lvs_deleting {
                    may.push(Some(n.to_string()));
                    if let Some(g) = parent_of_deleted.get(*n) {
                        may.push(g.clone());
                    }
                }
                may.into_iter().find(|g| *g == on_disk_parent)
            })
            .flatten();
        match &merged {
            _ if reparented.is_some() => {}
            None => ensure_eq!(
                b.clone,
                l.is_clone,
                "{w}: clone (parent listed {listed_parent:?}, on disk {on_disk_parent:?}; being deleted {lvs_deleting:?})"
            ),
            Some(p) => ensure_eq!(
                b.clone,
                p.is_some(),
                "{w}: clone (its parent being deleted, the parent on disk is {p:?})"
            ),
        }
        ensure_eq!(b.esnap_clone, l.is_esnap_clone, "{w}: esnap clone");
        // Unknown only for a degraded lvol on a base that reports the count
        // in bdev_get_bdevs alone.
        if let Some(n) = l
            .num_allocated_clusters
            .filter(|_| !growing.contains(&l.alias))
        {
            ensure_eq!(b.allocated.len() as u64, n, "{w}: allocated clusters");
        }
        ensure!(
            !l.is_snapshot || b.read_only,
            "{w}: a snapshot must be read-only on disk"
        );
        let (parent, esnap) = match &b.parent {
            Parent::None => (None, None),
            Parent::Blob { id } => (Some(blob_name(s, *id)), None),
            Parent::External { id } => (None, Some(id.clone())),
        };
        // bdev_lvol_get_lvols names the external snapshot of every esnap
        // clone with our series, degraded ones (no bdev) included.
        if let Some(e) = &l.external_snapshot_name {
            ensure_eq!(
                esnap.as_ref(),
                Some(e),
                "{w}: external snapshot id on disk against bdev_lvol_get_lvols"
            );
        }
        let Some(d) = d else { continue };
        if let Some(r) = reparented {
            ensure_eq!(
                parent,
                r.to,
                "{w}: parent on disk, off its parent before the stop"
            );
        } else if let Some(p) = merged {
            ensure_eq!(
                parent,
                p,
                "{w}: parent on disk while its parent was being deleted"
            );
        } else {
            ensure_eq!(
                parent,
                d.base_snapshot,
                "{w}: parent on disk against base_snapshot"
            );
        }
        ensure_eq!(
            esnap,
            d.external_snapshot_name,
            "{w}: external snapshot id on disk against external_snapshot_name"
        );
        let mut clones: Vec<String> = b.clones.iter().map(|c| blob_name(s, *c)).collect();
        clones.sort();
        // Those an operation took off this lvol, or gave it, before the stop.
        let mut want: Vec<String> = d
            .clones
            .iter()
            .filter(|c| {
                !moved
                    .iter()
                    .any(|(n, from, _)| n == *c && from.as_deref() == Some(l.name.as_str()))
            })
            .cloned()
            .chain(
                moved
                    .iter()
                    .filter(|(_, _, r)| r.to.as_deref() == Some(l.name.as_str()))
                    .map(|(n, _, _)| n.clone()),
            )
            .collect();
        want.sort();
        // A clone being deleted whose own clone it merged into: that clone
        // takes its place.
        let mut merged_clones: Vec<String> = want
            .iter()
            .flat_map(|c| {
                clones_of_deleted
                    .get(c)
                    .cloned()
                    .unwrap_or_else(|| vec![c.clone()])
            })
            .collect();
        merged_clones.sort();
        if clones != merged_clones {
            ensure_eq!(clones, want, "{w}: clones on disk against clones");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lvs_inspect::{Alloc, Clusters, Finding, Region, SuperBlock, Value, Xattr};
    use serde_json::json;

    fn xattr(name: &str, value: &str) -> Xattr {
        Xattr {
            name: name.into(),
            internal: false,
            value: Value::Text(value.into()),
            raw: value.as_bytes().to_vec(),
        }
    }

    /// A blob of lvol `name` (uuid `u-<name>`) owning `clusters`.
    fn blob(id: u64, name: &str, clusters: u32) -> Blob {
        Blob {
            id,
            md_pages: vec![id as u32],
            extent_pages: vec![],
            invalid_flags: 0,
            data_ro_flags: 0,
            md_ro_flags: 0,
            thin: true,
            read_only: false,
            snapshot: false,
            clone: false,
            esnap_clone: false,
            super_blob: false,
            parent: Parent::None,
            clones: vec![],
            num_clusters: 16,
            allocated: (0..clusters)
                .map(|c| Alloc {
                    blob: u64::from(c),
                    disk: 100 * id as u32 + c,
                })
                .collect(),
            xattrs: vec![xattr("name", name), xattr("uuid", &format!("u-{name}"))],
        }
    }

    /// A store of 100 data clusters holding `blobs`.
    fn disk(blobs: Vec<Blob>) -> Store {
        let used: u64 = blobs.iter().map(|b| b.allocated.len() as u64).sum();
        let region = Region { start: 0, len: 1 };
        Store {
            image_len: 1 << 30,
            super_block: SuperBlock {
                version: 3,
                length: 1,
                clean: true,
                super_blob: None,
                cluster_size: 4 << 20,
                md_page_size: 4096,
                io_unit_size: 4096,
                size: 1 << 30,
                bstype: "LVOLSTORE".into(),
                md: region,
                used_page_mask: region,
                used_cluster_mask: region,
                used_blobid_mask: region,
                total_clusters: 101,
                md_clusters: 1,
                data_clusters: 100,
            },
            clean: true,
            blobs,
            clusters: Clusters {
                total: 101,
                metadata: 1,
                data: 100,
                used,
                free: 100 - used,
                in_use: Default::default(),
            },
            masks: None,
            findings: vec![],
        }
    }

    fn lvol(name: &str, clusters: u64) -> LvolInfo {
        serde_json::from_value(json!({
            "alias": format!("lvs0/{name}"), "uuid": format!("u-{name}"), "name": name,
            "is_thin_provisioned": true, "is_snapshot": false, "is_clone": false,
            "is_esnap_clone": false, "is_degraded": false,
            "num_allocated_clusters": clusters,
            "lvs": {"name": "lvs0", "uuid": "lvs0-uuid"}
        }))
        .unwrap()
    }

    fn lvstore(base_bdev: &str, free: u64) -> LvstoreInfo {
        serde_json::from_value(json!({
            "uuid": "lvs0-uuid", "name": "lvs0", "base_bdev": base_bdev,
            "total_data_clusters": 100, "free_clusters": free,
            "block_size": 4096, "cluster_size": 4 << 20
        }))
        .unwrap()
    }

    fn bdev(name: &str, clusters: u64) -> BdevInfo {
        serde_json::from_value(json!({
            "name": format!("u-{name}"), "aliases": [format!("lvs0/{name}")],
            "product_name": "Logical Volume", "block_size": 4096, "num_blocks": 4096,
            "driver_specific": {"lvol": {
                "lvol_store_uuid": "lvs0-uuid", "base_bdev": "disk0",
                "thin_provision": true, "num_allocated_clusters": clusters,
                "snapshot": false, "clone": false
            }}
        }))
        .unwrap()
    }

    /// The bdev of lvol `name` holding one cluster, its lvol info changed by
    /// the fields of `extra`.
    fn lvol_bdev(name: &str, extra: serde_json::Value) -> BdevInfo {
        let mut lvol = json!({
            "lvol_store_uuid": "lvs0-uuid", "base_bdev": "disk0",
            "thin_provision": true, "num_allocated_clusters": 1,
            "snapshot": false, "clone": false
        });
        for (k, v) in extra.as_object().unwrap() {
            lvol[k] = v.clone();
        }
        serde_json::from_value(json!({
            "name": format!("u-{name}"), "aliases": [format!("lvs0/{name}")],
            "product_name": "Logical Volume", "block_size": 4096, "num_blocks": 4096,
            "driver_specific": {"lvol": lvol}
        }))
        .unwrap()
    }

    const DISKS: &[(&str, &str)] = &[("disk0", "disk0")];

    fn disks() -> Vec<(String, String)> {
        DISKS
            .iter()
            .map(|(b, n)| (b.to_string(), n.to_string()))
            .collect()
    }

    #[test]
    fn a_listing_fills_missing_cluster_counts_from_the_bdevs() {
        let mut vol = lvol("vol", 0);
        vol.num_allocated_clusters = None;
        let mut gone = lvol("degraded", 0);
        gone.num_allocated_clusters = None;
        let l = Listing::from_rpc(vec![], vec![vol, gone], &[bdev("vol", 3)]);
        assert_eq!(l.lvols[0].0.num_allocated_clusters, Some(3));
        assert!(l.lvols[0].1.is_some());
        // A degraded lvol on such a base has no bdev: its count stays unknown.
        assert_eq!(l.lvols[1].0.num_allocated_clusters, None);
        assert!(l.lvols[1].1.is_none());
    }

    /// `p` <- `s` listed, `p` being deleted (a merge killed mid-way): on disk
    /// `s` may still name `p`, or have no parent once the merge got there;
    /// any other parent fails.
    #[test]
    fn a_clone_whose_parent_is_being_deleted_may_have_lost_it() {
        let mut p = lvol("p", 1);
        p.is_snapshot = true;
        let mut s = lvol("s", 1);
        s.is_clone = true;
        let bp = lvol_bdev("p", json!({"snapshot": true, "clones": ["s"]}));
        let bs = lvol_bdev("s", json!({"clone": true, "base_snapshot": "p"}));
        let mut before = Listing::from_rpc(vec![lvstore("disk0", 98)], vec![p, s], &[bp, bs]);
        let merged = |parent: Parent| {
            let mut b = blob(2, "s", 2);
            b.clone = !matches!(parent, Parent::None);
            b.parent = parent;
            vec![("disk0".to_string(), disk(vec![b]))]
        };
        let kill_check = |before: &Listing, st: &[(String, Store)]| {
            check_restart(before, &disks(), st, "after a Kill stop")
        };
        // Not being deleted: a clone without its parent on disk fails.
        assert!(kill_check(&before, &merged(Parent::None)).is_err());
        before.may_vanish("lvs0/p");
        before.may_grow("lvs0/s");
        kill_check(&before, &merged(Parent::None)).unwrap();
        // Still naming p, p still on disk: as listed.
        let mut pb = blob(1, "p", 1);
        pb.snapshot = true;
        pb.read_only = true;
        pb.clones = vec![2];
        let mut sb = blob(2, "s", 1);
        sb.clone = true;
        sb.parent = Parent::Blob { id: 1 };
        let stores = vec![("disk0".to_string(), disk(vec![pb, sb]))];
        kill_check(&before, &stores).unwrap();
        // Another parent: fails.
        let e = kill_check(&before, &merged(Parent::Blob { id: 7 }))
            .unwrap_err()
            .to_string();
        assert!(e.contains("lvs0/s"), "{e}");

        // p already gone from the listing: s listed as a clone whose parent
        // the target could not name. Both outcomes pass, another parent fails.
        let mut s2 = lvol("s", 1);
        s2.is_clone = true;
        let bs2 = lvol_bdev("s", json!({"clone": true}));
        let mut before = Listing::from_rpc(vec![lvstore("disk0", 98)], vec![s2], &[bs2]);
        before.may_vanish("lvs0/p");
        before.may_grow("lvs0/s");
        kill_check(&before, &merged(Parent::None)).unwrap();
        kill_check(&before, &stores).unwrap();
        assert!(kill_check(&before, &merged(Parent::Blob { id: 7 })).is_err());
    }

    /// `p` <- `s` listed, `s` being decoupled or inflated: the listing is
    /// taken before the kill and the operation may end in between. On disk
    /// `s` may name `p`, or have no parent (and no thin flag after an
    /// inflate) with `p` left without clones; another parent fails.
    #[test]
    fn a_clone_an_operation_takes_off_its_parent_may_be_off_it_on_disk() {
        let mut p = lvol("p", 1);
        p.is_snapshot = true;
        let mut s = lvol("s", 1);
        s.is_clone = true;
        let bp = lvol_bdev("p", json!({"snapshot": true, "clones": ["s"]}));
        let bs = lvol_bdev("s", json!({"clone": true, "base_snapshot": "p"}));
        let listing = Listing::from_rpc(vec![lvstore("disk0", 98)], vec![p, s], &[bp, bs]);
        let on_disk = |parent: Parent, thin: bool| {
            let mut pb = blob(1, "p", 1);
            pb.read_only = true;
            let mut sb = blob(2, "s", 2);
            sb.thin = thin;
            if let Parent::Blob { id } = parent {
                sb.clone = true;
                if id == 1 {
                    pb.snapshot = true;
                    pb.clones = vec![2];
                }
            }
            sb.parent = parent;
            vec![("disk0".to_string(), disk(vec![pb, sb]))]
        };
        let kill_check = |before: &Listing, st: &[(String, Store)]| {
            check_restart(before, &disks(), st, "after a Kill stop")
        };
        let decoupling = |thin: Option<bool>| {
            let mut before = listing.clone();
            before.may_grow("lvs0/s");
            before.may_reparent(Reparent {
                alias: "lvs0/s".into(),
                to: None,
                thin,
            });
            before
        };
        let still_on_p = on_disk(Parent::Blob { id: 1 }, true);
        let decoupled = on_disk(Parent::None, true);
        let inflated = on_disk(Parent::None, false);
        let elsewhere = on_disk(Parent::Blob { id: 7 }, true);

        // Nothing said of the operation: off its parent fails, on p's side.
        let mut growing = listing.clone();
        growing.may_grow("lvs0/s");
        kill_check(&growing, &still_on_p).unwrap();
        let e = kill_check(&growing, &decoupled).unwrap_err().to_string();
        assert!(
            e.contains("lvs0/p") && e.contains("clones on disk against clones"),
            "{e}"
        );

        // A decouple: as listed, or off p with its thin flag as listed.
        let before = decoupling(None);
        kill_check(&before, &still_on_p).unwrap();
        kill_check(&before, &decoupled).unwrap();
        let e = kill_check(&before, &inflated).unwrap_err().to_string();
        assert!(e.contains("lvs0/s") && e.contains("thin"), "{e}");
        assert!(kill_check(&before, &elsewhere).is_err());

        // An inflate: as listed, or off p and no longer thin.
        let before = decoupling(Some(false));
        kill_check(&before, &still_on_p).unwrap();
        kill_check(&before, &inflated).unwrap();
        assert!(kill_check(&before, &decoupled).is_err());
        assert!(kill_check(&before, &elsewhere).is_err());
    }

    #[test]
    fn the_disk_holding_what_was_listed_passes() {
        let before = Listing::from_rpc(
            vec![lvstore("disk0", 97)],
            vec![lvol("vol", 3)],
            &[bdev("vol", 3)],
        );
        let stores = vec![("disk0".to_string(), disk(vec![blob(1, "vol", 3)]))];
        check_restart(&before, &disks(), &stores, "after a Kill stop").unwrap();
    }

    #[test]
    fn a_degraded_esnap_clone_is_held_to_the_external_snapshot_it_lists() {
        // No bdev (loaded without its external snapshot): only
        // bdev_lvol_get_lvols names the external snapshot.
        let mut head = lvol("head", 1);
        head.is_esnap_clone = true;
        head.is_degraded = true;
        head.external_snapshot_name = Some("new-image".into());
        let before = Listing::from_rpc(vec![lvstore("disk0", 99)], vec![head], &[]);
        let mut b = blob(1, "head", 1);
        b.esnap_clone = true;
        b.parent = Parent::External {
            id: "new-image".into(),
        };
        let stores = vec![("disk0".to_string(), disk(vec![b.clone()]))];
        check_listing(&before, &disks(), &stores, "after a Kill stop").unwrap();
        b.parent = Parent::External {
            id: "old-image".into(),
        };
        let stores = vec![("disk0".to_string(), disk(vec![b]))];
        let e = check_listing(&before, &disks(), &stores, "after a Kill stop")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("external snapshot id on disk against bdev_lvol_get_lvols")
                && e.contains("old-image"),
            "{e}"
        );
    }

    #[test]
    fn an_lvol_on_disk_that_was_not_listed_is_named() {
        // Upstream's forced removal: the refused delete dropped snap from the
        // listing, its blob stayed.
        let before = Listing::from_rpc(vec![lvstore("disk0", 95)], vec![lvol("vol", 3)], &[]);
        let stores = vec![(
            "disk0".to_string(),
            disk(vec![blob(1, "vol", 3), blob(2, "snap", 2)]),
        )];
        let e = check_restart(&before, &disks(), &stores, "after a Kill stop")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "on disk disk0 after a Kill stop, lvstore lvs0: lvols on disk that \
                 bdev_lvol_get_lvols did not list: snap (u-snap)"
            ),
            "{e}"
        );
    }

    #[test]
    fn a_listed_lvol_missing_on_disk_or_other_clusters_fail() {
        let before = Listing::from_rpc(
            vec![lvstore("disk0", 97)],
            vec![lvol("vol", 3), lvol("lost", 0)],
            &[],
        );
        let stores = vec![("disk0".to_string(), disk(vec![blob(1, "vol", 3)]))];
        let e = check_listing(&before, &disks(), &stores, "after a Graceful stop")
            .unwrap_err()
            .to_string();
        assert!(e.contains("listed lvols missing on disk: u-lost"), "{e}");
        let before = Listing::from_rpc(vec![lvstore("disk0", 96)], vec![lvol("vol", 4)], &[]);
        let e = check_listing(&before, &disks(), &stores, "after a Graceful stop")
            .unwrap_err()
            .to_string();
        assert!(e.contains("free clusters: expected 96, got 97"), "{e}");
    }

    #[test]
    fn an_lvstore_on_another_bdev_is_not_compared_and_a_missing_store_is_named() {
        let before = Listing::from_rpc(vec![lvstore("slow-disk0", 0)], vec![lvol("vol", 3)], &[]);
        check_listing(&before, &disks(), &[], "after a Kill stop").unwrap();
        let before = Listing::from_rpc(vec![lvstore("disk0", 97)], vec![lvol("vol", 3)], &[]);
        let stores = vec![("diskB".to_string(), disk(vec![]))];
        let e = check_listing(&before, &disks(), &stores, "after a Kill stop")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "no blobstore was read from disk disk0; read: [diskB]");
    }

    fn with_findings() -> Store {
        let mut s = disk(vec![blob(1, "vol", 3)]);
        s.findings = vec![
            Finding {
                blob: None,
                what:
                    "the used cluster mask marks cluster(s) 7 that no blob's metadata uses (leaked)"
                        .into(),
            },
            Finding {
                blob: Some(0x100000001),
                what: "owns cluster 0, inside the metadata clusters 0..1".into(),
            },
        ];
        s
    }

    #[test]
    fn any_finding_fails_naming_the_disk_and_every_finding() {
        let stores = vec![
            ("diskA".to_string(), disk(vec![])),
            ("diskB".to_string(), with_findings()),
        ];
        let e = check_findings(&stores, "after a Graceful stop")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "on disk diskB (clean store) after a Graceful stop, lvs-inspect found 2 gap(s)"
            ),
            "{e}"
        );
        assert!(
            e.contains("cluster(s) 7 that no blob's metadata uses (leaked)"),
            "{e}"
        );
        assert!(e.contains("blob 0x100000001: owns cluster 0"), "{e}");
        assert!(!e.contains("diskA"), "{e}");
        check_findings(&stores[..1], "after a Kill stop").unwrap();
    }

    #[test]
    fn the_restart_check_reports_the_listing_and_the_findings_at_once() {
        let before = Listing::from_rpc(vec![lvstore("disk0", 97)], vec![], &[]);
        let stores = vec![("disk0".to_string(), with_findings())];
        let e = check_restart(&before, &disks(), &stores, "after a Graceful stop")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("on disk disk0 after a Graceful stop, lvstore lvs0: lvols on disk")
                && e.contains("did not list: vol (u-vol)")
                && e.contains("; and on disk disk0 (clean store) after a Graceful stop, lvs-inspect found 2 gap(s)"),
            "{e}"
        );
    }
}
