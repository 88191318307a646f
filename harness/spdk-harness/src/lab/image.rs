//! The image the inspector reads of a base disk. An AIO disk is its file. A
//! disk the target under test reaches through its NVMe driver (a PCIe
//! controller, or the exporter's namespace with `SPDK_HARNESS_BASE_BDEV=nvmf-tcp`)
//! is read the same way, by `spdk_dd` with the NVMe bdev driver while the
//! target under test is stopped: the super block first, then everything up
//! to the end of the metadata region, into a sparse file as long as the disk
//! (the data clusters stay holes: the inspector reads metadata only). With
//! nvmf-tcp the disk also has a file, and the metadata read through NVMe must
//! equal the file's: that is how the rehearsal here proves the reader a PCIe
//! host depends on.
//!
//! `spdk_dd` runs with `bdev_auto_examine` off: the lvol module would
//! otherwise load the lvstore, and the recovery of a dirty one writes to the
//! disk before the target under test sees it.

use super::{Attach, Disk, Lab, BLOCK, MIB};
use crate::error::{Context, Error, Result};
use crate::target::{log_line, poll};
use lvs_inspect::layout::{sb, SUPER_SIGNATURE};
use spdk_rpc::methods::BdevNvmeAttachController;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

const DUMP_TIMEOUT: Duration = Duration::from_secs(600);

impl Lab {
    /// The file to inspect for `disk`, or None when it holds no blobstore.
    pub(super) fn disk_image(&mut self, disk: &Disk) -> Result<Option<PathBuf>> {
        match &disk.attach {
            Attach::Aio { file, .. } => Ok(Some(file.clone())),
            Attach::Nvme(req) => self.dump_metadata(disk, req),
        }
    }

    fn dump_metadata(
        &mut self,
        disk: &Disk,
        req: &BdevNvmeAttachController,
    ) -> Result<Option<PathBuf>> {
        let out = self.dir().join(format!("{}.metadata.img", disk.name));
        let _ = std::fs::remove_file(&out);
        self.run_dump(disk, req, &out, BLOCK, 1)?;
        let mut head = [0u8; BLOCK as usize];
        std::fs::File::open(&out)
            .and_then(|mut f| f.read_exact(&mut head))
            .ctx(|| {
                format!(
                    "read the super block of {} from {}",
                    disk.name,
                    out.display()
                )
            })?;
        if &head[sb::SIGNATURE..sb::SIGNATURE + 8] != SUPER_SIGNATURE {
            return Ok(None);
        }
        let le32 = |at: usize| u32::from_le_bytes(head[at..at + 4].try_into().unwrap());
        let page = match le32(sb::MD_PAGE_SIZE) {
            0 => BLOCK,
            n => u64::from(n),
        };
        let end = (u64::from(le32(sb::MD_START)) + u64::from(le32(sb::MD_LEN))) * page;
        if end == 0 || end > disk.size {
            return Err(Error::Check(format!(
                "{}: the super block puts the end of the metadata at byte {end}, the disk has {}",
                disk.name, disk.size
            )));
        }
        let bs = [MIB, 128 * 1024, BLOCK]
            .into_iter()
            .find(|bs| end % bs == 0)
            .ok_or_else(|| {
                Error::Check(format!(
                    "{}: the metadata ends at byte {end}, not on a 4 KiB boundary",
                    disk.name
                ))
            })?;
        self.run_dump(disk, req, &out, bs, end / bs)?;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&out)
            .ctx(|| format!("open {}", out.display()))?;
        f.set_len(disk.size)
            .ctx(|| format!("size {} to {} bytes", out.display(), disk.size))?;
        if let Some(file) = &disk.file {
            same_prefix(&out, file, end).map_err(|e| {
                Error::Check(format!(
                    "{}: the metadata read through the NVMe driver is not the disk's: {e}",
                    disk.name
                ))
            })?;
        }
        log_line(&format!(
            "read {} bytes of metadata of {} through the NVMe driver",
            end, disk.name
        ));
        Ok(Some(out))
    }

    /// spdk_dd `count` blocks of `bs` bytes from the start of the disk's
    /// namespace into `out`.
    fn run_dump(
        &mut self,
        disk: &Disk,
        req: &BdevNvmeAttachController,
        out: &Path,
        bs: u64,
        count: u64,
    ) -> Result<()> {
        let cfg = self.dir().join(format!("{}.dump.json", disk.name));
        let log = self.dir().join(format!("{}.dump.log", disk.name));
        let json = serde_json::json!({"subsystems": [{"subsystem": "bdev", "config": [
            {"method": "bdev_set_options", "params": {"bdev_auto_examine": false}},
            {"method": "bdev_nvme_attach_controller", "params": req},
            {"method": "bdev_wait_for_examine"}]}]});
        std::fs::write(&cfg, serde_json::to_vec_pretty(&json).unwrap())
            .ctx(|| "write the dump's spdk_dd config".into())?;
        let mut child = self
            .dd_command("0x1", &cfg, &log)?
            .arg(format!("--ib={}", disk.bdev))
            .arg(format!("--of={}", out.display()))
            .arg(format!("--bs={bs}"))
            .arg(format!("--count={count}"))
            .spawn()
            .ctx(|| "spawn spdk_dd".into())?;
        let st = match poll("spdk_dd to read the metadata", DUMP_TIMEOUT, || {
            child.try_wait().ctx(|| "wait spdk_dd".into())
        }) {
            Ok(st) => st,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        if !st.success() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            return Err(Error::Tool(format!(
                "spdk_dd could not read {} of {} ({st}):\n{}",
                count * bs,
                disk.name,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )));
        }
        if std::env::var_os("SPDK_HARNESS_KEEP").is_none() {
            let _ = std::fs::remove_file(&cfg);
            let _ = std::fs::remove_file(&log);
        }
        Ok(())
    }
}

/// The first `len` bytes of `a` and `b` are the same.
fn same_prefix(a: &Path, b: &Path, len: u64) -> std::result::Result<(), String> {
    let open = |p: &Path| std::fs::File::open(p).map_err(|e| format!("open {}: {e}", p.display()));
    let (mut fa, mut fb) = (open(a)?, open(b)?);
    let chunk = MIB as usize;
    let (mut x, mut y) = (vec![0u8; chunk], vec![0u8; chunk]);
    let mut at = 0u64;
    fa.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    while at < len {
        let n = chunk.min((len - at) as usize);
        fa.read_exact(&mut x[..n])
            .map_err(|e| format!("read {}: {e}", a.display()))?;
        fb.read_exact(&mut y[..n])
            .map_err(|e| format!("read {}: {e}", b.display()))?;
        if let Some(i) = (0..n).find(|&i| x[i] != y[i]) {
            return Err(format!("first difference at byte {}", at + i as u64));
        }
        at += n as u64;
    }
    Ok(())
}
