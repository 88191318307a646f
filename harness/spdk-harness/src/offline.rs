//! The disk as an independent oracle: stop the target under test, read every
//! base disk's file with `lvs-inspect` (SPDK's own code is not involved), then
//! start the target again on the same disks. What the inspector reads is what
//! a target will load after the restart, SIGKILL included; comparing it with
//! what the RPCs said before the stop finds gaps between the target's belief
//! and the disk.
//!
//! The files are read while no target under test has them open. With
//! `SPDK_HARNESS_BASE_BDEV=nvmf-tcp` the exporter keeps its AIO bdev open, but
//! idle: the only writer, the target under test, is gone. PCIe disks have no
//! file and can't be inspected.

use crate::error::{Error, Result};
use crate::lab::{Disk, Lab, Restart};
use crate::target::log_line;
use lvs_inspect::Store;
use spdk_rpc::methods::{LvolDriverInfo, LvolInfo, LvstoreInfo};
use std::time::Instant;

impl Lab {
    /// Stop the target under test: SIGTERM, and it must exit 0 within the
    /// bound, or SIGKILL (a crash: nothing is flushed or unloaded).
    pub fn stop_target(&mut self, how: Restart) -> Result<()> {
        match how {
            Restart::Graceful => {
                let (st, killed) = self.tgt.stop()?;
                if killed {
                    return Err(Error::Check(format!(
                        "spdk_tgt did not exit within the bound after SIGTERM and was killed ({st})"
                    )));
                }
                if !st.success() {
                    return Err(Error::Check(format!(
                        "spdk_tgt exited with {st} on SIGTERM\n--- log tail ---\n{}",
                        self.tgt.log_tail(30)
                    )));
                }
            }
            Restart::Kill => self.tgt.crash()?,
        }
        self.exports.clear();
        self.transport = false;
        Ok(())
    }

    /// Start the stopped target under test and attach its base disks again,
    /// as [`Lab::restart`] does.
    pub fn start_target(&mut self) -> Result<()> {
        self.start_target_with(Reattach::All)
    }

    /// Start the stopped target under test and attach the base disks that
    /// `reattach` names, in its order.
    pub fn start_target_with(&mut self, reattach: Reattach) -> Result<()> {
        let disks = self.reattach_list(reattach)?;
        self.tgt.start_again()?;
        for disk in disks {
            self.attach(&disk)?;
        }
        Ok(())
    }

    /// The disks `reattach` names, in its order; an unknown or repeated
    /// name is an error before anything is stopped or started.
    fn reattach_list(&self, reattach: Reattach) -> Result<Vec<Disk>> {
        match reattach {
            Reattach::All => Ok(self.disks().to_vec()),
            Reattach::Only(names) => {
                let mut out: Vec<Disk> = vec![];
                for n in names {
                    let d = self
                        .disks()
                        .iter()
                        .find(|d| d.name == *n)
                        .ok_or_else(|| Error::Tool(format!("no disk named {n} to attach")))?;
                    if out.iter().any(|o| o.name == *n) {
                        return Err(Error::Tool(format!("disk {n} is named twice")));
                    }
                    out.push(d.clone());
                }
                Ok(out)
            }
        }
    }

    /// Read every base disk's file with the inspector, as (disk name, store).
    /// Disks that hold no blobstore (no super block signature) are left out;
    /// any other error fails. The target under test must be stopped.
    pub fn inspect_disks(&mut self) -> Result<Vec<(String, Store)>> {
        if self.tgt.pid().is_some() {
            return Err(Error::Tool(
                "inspect_disks needs the target under test stopped: it has the files open".into(),
            ));
        }
        let mut out = vec![];
        for d in self.disks() {
            let file = d.file.as_ref().ok_or_else(|| {
                Error::Tool(format!(
                    "disk {} ({}) has no backing file to inspect",
                    d.name,
                    self.base.label()
                ))
            })?;
            let store = match Store::open(file) {
                Ok(s) => s,
                // A base bdev without an lvstore (an esnap's, say) is not read.
                Err(lvs_inspect::Error::NotABlobstore { .. }) => {
                    log_line(&format!("inspected {}: no blobstore", d.name));
                    continue;
                }
                Err(e) => {
                    return Err(Error::Check(format!(
                        "lvs-inspect could not read disk {} ({}): {e}",
                        d.name,
                        file.display()
                    )))
                }
            };
            log_line(&format!(
                "inspected {}: {}, {} blobs, {} of {} data clusters used, {} finding(s)",
                d.name,
                if store.clean { "clean" } else { "dirty" },
                store.blobs.len(),
                store.clusters.used,
                store.clusters.data,
                store.findings.len()
            ));
            out.push((d.name.clone(), store));
        }
        Ok(out)
    }

    /// [`Lab::restart`], and then `check` on what the inspector read, as
    /// (disk name, store): what a scenario's bug is about on disk.
    pub fn restart_inspecting<T>(
        &mut self,
        how: Restart,
        check: impl FnOnce(&[(String, Store)]) -> Result<T>,
    ) -> Result<T> {
        self.restart_inspecting_with(how, Reattach::All, check)
    }

    /// [`Lab::restart_inspecting`], attaching only the disks `reattach`
    /// names, in its order.
    ///
    /// The one restart path: list what the target holds, stop it, inspect
    /// every base disk, hold the disks against the listing and fail on any
    /// inspector finding ([`check_listing`], [`check_findings`]), then run
    /// `check`. A bad name in `reattach` fails first, with the target still
    /// running. After the stop, the target is started again even when the
    /// inspection or a check fails; their error is returned then (with the
    /// start's, if it fails too).
    pub fn restart_inspecting_with<T>(
        &mut self,
        how: Restart,
        reattach: Reattach,
        check: impl FnOnce(&[(String, Store)]) -> Result<T>,
    ) -> Result<T> {
        let t0 = Instant::now();
        self.reattach_list(reattach)?;
        let before = self.listing()?;
        let files: Vec<(String, String)> = self
            .disks()
            .iter()
            .filter(|d| d.file.is_some())
            .map(|d| (d.bdev.clone(), d.name.clone()))
            .collect();
        self.stop_target(how)?;
        let checked = self.inspect_disks().and_then(|stores| {
            let failed: Vec<String> = [
                check_listing(&before, &files, &stores, how),
                check_findings(&stores, how),
            ]
            .into_iter()
            .filter_map(|r| r.err().map(|e| e.to_string()))
            .collect();
            if !failed.is_empty() {
                return Err(Error::Check(failed.join("; and ")));
            }
            check(&stores)
        });
        let started = self.start_target_with(reattach);
        log_line(&format!(
            "restart ({how:?}) with inspection took {:.2}s",
            t0.elapsed().as_secs_f64()
        ));
        match (checked, started) {
            (checked, Ok(())) => checked,
            (Ok(_), Err(e)) => Err(e),
            (Err(c), Err(s)) => Err(Error::Check(format!(
                "{c}\nand then the target did not start again: {s}"
            ))),
        }
    }
}

/// Which base disks a restart attaches again, and in what order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reattach<'a> {
    /// Every disk, in the order they were added (what [`Lab::restart`] does).
    All,
    /// Only these disks, in this order; the others stay detached until
    /// [`Lab::readd_disk`]. An empty list attaches none.
    Only(&'a [&'a str]),
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
) -> Result<Option<&'a lvs_inspect::Blob>> {
    Ok(store(stores, disk)?.blob_by_name(name))
}

/// What the target under test reports about its lvstores and lvols, to hold
/// the disks against after it stops.
#[derive(Debug, Clone)]
pub struct Listing {
    lvstores: Vec<spdk_rpc::methods::LvstoreInfo>,
    lvols: Vec<(
        spdk_rpc::methods::LvolInfo,
        Option<spdk_rpc::methods::LvolDriverInfo>,
    )>,
}

impl Lab {
    /// The lvstores and lvols the target reports now (bdev info where an lvol
    /// has a bdev; a degraded one has none).
    pub fn listing(&mut self) -> Result<Listing> {
        use spdk_rpc::methods::{BdevGetBdevs, BdevLvolGetLvols, BdevLvolGetLvstores};
        let lvstores = self.tgt.ok(&BdevLvolGetLvstores::default())?;
        let bdevs = self.tgt.ok(&BdevGetBdevs::default())?;
        // One bdev_get_bdevs for both the lvols' bdev info and the cluster
        // counts a base leaves out of bdev_lvol_get_lvols.
        let mut lvols = self.tgt.ok(&BdevLvolGetLvols::default())?;
        crate::lab::fill_clusters(&mut lvols, &bdevs);
        let lvols = lvols
            .into_iter()
            .map(|l| {
                let d = crate::lab::lvol_bdev_of(&bdevs, &l);
                (l, d)
            })
            .collect();
        Ok(Listing { lvstores, lvols })
    }
}

fn blob_name(s: &Store, id: u64) -> String {
    s.blob(id)
        .and_then(lvs_inspect::Blob::name)
        .map(str::to_string)
        .unwrap_or_else(|| format!("{id:#x} (not on disk)"))
}

/// No store the inspector read has a finding: a gap between the store's
/// bookkeeping (super block, masks) and its blobs, such as clusters a clean
/// store's mask marks but no blob owns, a cluster owned twice, or metadata
/// SPDK would refuse to load.
fn check_findings(stores: &[(String, Store)], how: Restart) -> Result<()> {
    let found: Vec<String> = stores
        .iter()
        .filter(|(_, s)| !s.findings.is_empty())
        .map(|(disk, s)| {
            format!(
                "on disk {disk} ({} store) after a {how:?} stop, lvs-inspect found {} gap(s) on disk: {}",
                if s.clean { "clean" } else { "dirty" },
                s.findings.len(),
                s.findings
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })
        .collect();
    if found.is_empty() {
        Ok(())
    } else {
        Err(Error::Check(found.join("; ")))
    }
}

/// Each lvstore on a file-backed disk holds what the target listed.
fn check_listing(
    before: &Listing,
    disks: &[(String, String)],
    stores: &[(String, Store)],
    how: Restart,
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
        check_lvstore(
            lvs,
            lvols,
            store(stores, disk)?,
            &format!("on disk {disk} after a {how:?} stop, lvstore {}", lvs.name),
        )?;
    }
    Ok(())
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
    use crate::{ensure, ensure_eq};
    use lvs_inspect::Parent;
    use std::collections::BTreeSet;
    let lvols: Vec<_> = lvols.into_iter().collect();
    ensure_eq!(s.clusters.free, lvs.free_clusters, "{when}: free clusters");
    let on_disk: BTreeSet<&str> = s
        .blobs
        .iter()
        .filter(|b| !b.super_blob)
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
        ensure_eq!(b.thin, l.is_thin_provisioned, "{w}: thin");
        ensure_eq!(b.snapshot, l.is_snapshot, "{w}: snapshot");
        ensure_eq!(b.clone, l.is_clone, "{w}: clone");
        ensure_eq!(b.esnap_clone, l.is_esnap_clone, "{w}: esnap clone");
        // Unknown only for a degraded lvol on a base that reports the count
        // in bdev_get_bdevs alone.
        if let Some(n) = l.num_allocated_clusters {
            ensure_eq!(b.allocated.len() as u64, n, "{w}: allocated clusters");
        }
        ensure!(
            !l.is_snapshot || b.read_only,
            "{w}: a snapshot must be read-only on disk"
        );
        let Some(d) = d else { continue };
        let (parent, esnap) = match &b.parent {
            Parent::None => (None, None),
            Parent::Blob { id } => (Some(blob_name(s, *id)), None),
            Parent::External { id } => (None, Some(id.clone())),
        };
        ensure_eq!(
            parent,
            d.base_snapshot,
            "{w}: parent on disk against base_snapshot"
        );
        ensure_eq!(
            esnap,
            d.external_snapshot_name,
            "{w}: external snapshot id on disk against external_snapshot_name"
        );
        let mut clones: Vec<String> = b.clones.iter().map(|c| blob_name(s, *c)).collect();
        clones.sort();
        let mut want = d.clones.clone();
        want.sort();
        ensure_eq!(clones, want, "{w}: clones on disk against clones");
    }
    Ok(())
}
