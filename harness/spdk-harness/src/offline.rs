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
use crate::lab::{Lab, Restart};
use crate::target::log_line;
use lvs_inspect::Store;
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
        self.tgt.start_again()?;
        for disk in self.disks().to_vec() {
            self.attach(&disk)?;
        }
        Ok(())
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

    /// Stop the target (`how`), inspect every base disk, run `check` on what
    /// was read, and start the target again with its disks attached. The
    /// target is started again even when the inspection or the check fails;
    /// their error is returned then.
    pub fn restart_inspecting<T>(
        &mut self,
        how: Restart,
        check: impl FnOnce(&[(String, Store)]) -> Result<T>,
    ) -> Result<T> {
        let t0 = Instant::now();
        self.stop_target(how)?;
        let res = self.inspect_disks().and_then(|s| check(&s));
        self.start_target()?;
        log_line(&format!(
            "restart ({how:?}) with inspection took {:.2}s",
            t0.elapsed().as_secs_f64()
        ));
        res
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
