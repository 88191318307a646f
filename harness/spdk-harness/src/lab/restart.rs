//! Restarts of the target under test. Every restart takes one path: list
//! what the target holds, stop it (SIGTERM or SIGKILL), read every
//! file-backed base disk with `lvs-inspect` while nothing has it open, hold
//! that against the listing and the inspector's findings
//! ([`offline::check_restart`]), run the caller's own check of what was read,
//! if any, and start the target again on its disks, also when a check failed.
//!
//! The disks are read while no target under test has them open: an AIO disk
//! from its file, a disk behind the NVMe driver (PCIe, or the exporter's
//! namespace with `SPDK_HARNESS_BASE_BDEV=nvmf-tcp`) by `spdk_dd` into a file
//! (`image.rs`). With nvmf-tcp the exporter keeps its AIO bdev open, but
//! idle: the only writer, the target under test, is gone.

use super::{Disk, Lab};
use crate::error::{Error, Result};
use crate::offline::{self, Listing};
use crate::target::log_line;
use lvs_inspect::Store;
use spdk_rpc::methods::{BdevGetBdevs, BdevLvolGetLvols, BdevLvolGetLvstores};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// SIGTERM; the target must exit 0 within [`Lab::stop_bound`].
    Graceful,
    /// SIGKILL, as a crash: nothing is flushed or unloaded.
    Kill,
    /// The target was asked to exit (`spdk_kill_instance`): it must exit 0
    /// within [`Lab::stop_bound`].
    Exiting,
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

impl Lab {
    /// Restart the target under test on the same base disks, gracefully or
    /// with SIGKILL, and wait until their lvstores are loaded again.
    ///
    /// While the target is down, the inspector reads every file-backed disk
    /// and the restart fails unless each lvstore holds exactly the lvols the
    /// target listed before the stop, with their flags, clusters and parents,
    /// and the inspector found nothing amiss on any disk.
    pub fn restart(&mut self, how: Restart) -> Result<()> {
        self.restart_checking(how, Reattach::All, |_| Ok(()), |_| Ok(()))
    }

    /// [`Lab::restart`] with the same check of the disks, but attaching only
    /// the disks named in `order`, one after the other in that order (each
    /// examined before the next); the others stay detached until
    /// [`Lab::readd_disk`]. With an empty `order` the target comes up with no
    /// base disk, and the caller attaches them one by one.
    pub fn restart_attaching(&mut self, how: Restart, order: &[&str]) -> Result<()> {
        self.restart_checking(how, Reattach::Only(order), |_| Ok(()), |_| Ok(()))
    }

    /// [`Lab::restart`], and then `check` on what the inspector read, as
    /// (disk name, store): what a scenario's bug is about on disk.
    pub fn restart_inspecting<T>(
        &mut self,
        how: Restart,
        check: impl FnOnce(&[(String, Store)]) -> Result<T>,
    ) -> Result<T> {
        self.restart_checking(how, Reattach::All, |_| Ok(()), check)
    }

    /// [`Lab::restart_inspecting`], attaching only the disks `reattach`
    /// names, in its order.
    pub fn restart_inspecting_with<T>(
        &mut self,
        how: Restart,
        reattach: Reattach,
        check: impl FnOnce(&[(String, Store)]) -> Result<T>,
    ) -> Result<T> {
        self.restart_checking(how, reattach, |_| Ok(()), check)
    }

    /// [`Lab::restart_inspecting`], starting `build`'s spdk_tgt on the disks
    /// (a node upgraded or downgraded between builds): the disks are checked
    /// against what the old build listed before its stop, and `check` gets
    /// what the inspector read.
    pub fn restart_on<T>(
        &mut self,
        build: crate::build::SpdkBuild,
        how: Restart,
        check: impl FnOnce(&[(String, Store)]) -> Result<T>,
    ) -> Result<T> {
        self.next_build = Some(build);
        self.restart_checking(how, Reattach::All, |_| Ok(()), check)
    }

    /// [`Lab::restart_inspecting`], with `trigger` run on the lab right after
    /// the listing is taken and before the stop: what makes the target exit
    /// for [`Restart::Exiting`] (`spdk_kill_instance`, say).
    pub fn restart_after<T>(
        &mut self,
        how: Restart,
        trigger: impl FnOnce(&mut Lab) -> Result<()>,
        check: impl FnOnce(&[(String, Store)]) -> Result<T>,
    ) -> Result<T> {
        self.restart_checking(how, Reattach::All, trigger, check)
    }

    /// The one restart path. A bad name in `reattach` fails first, with the
    /// target still running. After the stop, the target is started again
    /// even when the inspection or a check fails; their error is returned
    /// then (with the start's, if it fails too).
    fn restart_checking<T>(
        &mut self,
        how: Restart,
        reattach: Reattach,
        trigger: impl FnOnce(&mut Lab) -> Result<()>,
        check: impl FnOnce(&[(String, Store)]) -> Result<T>,
    ) -> Result<T> {
        let t0 = Instant::now();
        self.reattach_list(reattach)?;
        let mut before = self.listing()?;
        for alias in std::mem::take(&mut self.growing) {
            before.may_grow(&alias);
        }
        for alias in std::mem::take(&mut self.deleting) {
            before.may_vanish(&alias);
        }
        for r in std::mem::take(&mut self.reparenting) {
            before.may_reparent(r);
        }
        for text in std::mem::take(&mut self.known_findings) {
            before.known_finding(text);
        }
        let mut files: Vec<(String, String)> = self
            .disks()
            .iter()
            .map(|d| (d.bdev.clone(), d.name.clone()))
            .collect();
        // An lvstore on a delay bdev over a disk is that disk's.
        let over: Vec<(String, String)> = self
            .delays()
            .iter()
            .filter_map(|(delay, base)| {
                files
                    .iter()
                    .find(|(bdev, _)| bdev == base)
                    .map(|(_, disk)| (delay.clone(), disk.clone()))
            })
            .collect();
        files.extend(over);
        trigger(self)?;
        self.stop_target(how)?;
        let when = format!("after a {how:?} stop");
        let checked = self.inspect_disks().and_then(|stores| {
            offline::check_restart(&before, &files, &stores, &when)?;
            check(&stores)
        });
        let started = match self.next_build.take() {
            Some(b) => self.tgt.use_build(&b).map(|()| self.build = b),
            None => Ok(()),
        }
        .and_then(|()| self.start_target_with(reattach));
        log_line(&format!(
            "restart ({how:?}{}) with inspection took {:.2}s",
            match reattach {
                Reattach::All => String::new(),
                Reattach::Only(order) => format!(", attaching [{}]", order.join(", ")),
            },
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

    /// Stop the target under test: SIGTERM, and it must exit 0 within the
    /// bound, or SIGKILL (a crash: nothing is flushed or unloaded). Scenarios
    /// restart with [`Lab::restart`]; this and [`Lab::start_target`] are for
    /// tests that read the raw disks themselves.
    pub fn stop_target(&mut self, how: Restart) -> Result<()> {
        let bound = self.stop_bound;
        let stopped = match how {
            Restart::Kill => self.tgt.crash().map(|()| None),
            Restart::Graceful => self.tgt.stop_within(bound).map(|r| Some((r, "SIGTERM"))),
            Restart::Exiting => self
                .tgt
                .wait_exit(bound)
                .map(|r| Some((r, "spdk_kill_instance"))),
        };
        // The delay bdevs are gone with the target; the disks come back alone.
        self.delays.clear();
        self.exports.clear();
        self.transport = false;
        let Some(((st, killed), what)) = stopped? else {
            return Ok(());
        };
        if killed {
            return Err(Error::Check(format!(
                "spdk_tgt did not exit within {:.0} s after {what} and was killed ({st})\n--- log tail ---\n{}",
                bound.as_secs_f64(),
                self.tgt.log_tail(30)
            )));
        }
        if !st.success() {
            return Err(Error::Check(format!(
                "spdk_tgt exited with {st} after {what}\n--- log tail ---\n{}",
                self.tgt.log_tail(30)
            )));
        }
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

    /// Read every base disk with the inspector, as (disk name, store).
    /// Disks that hold no blobstore (no super block signature) are left out;
    /// any other error fails. The target under test must be stopped.
    pub fn inspect_disks(&mut self) -> Result<Vec<(String, Store)>> {
        if self.tgt.pid().is_some() {
            return Err(Error::Tool(
                "inspect_disks needs the target under test stopped: it has the files open".into(),
            ));
        }
        let mut out = vec![];
        for d in self.disks().to_vec() {
            let Some(file) = self.disk_image(&d)? else {
                log_line(&format!("inspected {}: no blobstore", d.name));
                continue;
            };
            let file = &file;
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

    /// The lvstores and lvols the target reports now (bdev info where an lvol
    /// has a bdev; a degraded one has none).
    pub fn listing(&mut self) -> Result<Listing> {
        let lvstores = self.tgt.ok(&BdevLvolGetLvstores::default())?;
        // One bdev_get_bdevs for both the lvols' bdev info and the cluster
        // counts a base leaves out of bdev_lvol_get_lvols.
        let bdevs = self.tgt.ok(&BdevGetBdevs::default())?;
        let lvols = self.tgt.ok(&BdevLvolGetLvols::default())?;
        Ok(Listing::from_rpc(lvstores, lvols, &bdevs))
    }
}
