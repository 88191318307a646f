//! The data path: an lvol exported over NVMe-oF/TCP on 127.0.0.1 by the
//! target under test, read or written by `spdk_dd` as a userspace initiator
//! on the other core. spdk_dd exits 0 even when writes failed after the NVMe
//! driver's retries, so a logged failed completion is an error too.

use super::{export_on, free_port, nqn_for, Export, Lab, BLOCK, DD_TIMEOUT, MIB};
use crate::error::{Context, Error, Result};
use crate::target::{log_line, poll, Memory};
use spdk_rpc::methods::NvmfDeleteSubsystem;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

impl Lab {
    /// Export `bdev` from the target under test over NVMe-oF/TCP on 127.0.0.1.
    pub fn export(&mut self, bdev: &str) -> Result<Export> {
        if let Some(e) = self.exports.get(bdev) {
            return Ok(e.clone());
        }
        let nqn = nqn_for(bdev);
        let port = free_port()?;
        if let Err(e) = export_on(&mut self.tgt, &mut self.transport, bdev, &nqn, port) {
            // No half-made subsystem stays behind (a bdev that does not exist
            // yet, say): a later export of the same bdev starts clean.
            let _ = self.tgt.call(&NvmfDeleteSubsystem { nqn });
            return Err(e);
        }
        let e = Export { nqn, port };
        self.exports.insert(bdev.to_string(), e.clone());
        Ok(e)
    }

    /// Remove the export of `bdev` (its subsystem).
    pub fn unexport(&mut self, bdev: &str) -> Result<()> {
        if let Some(e) = self.exports.remove(bdev) {
            self.tgt.ok(&NvmfDeleteSubsystem { nqn: e.nqn })?;
        }
        Ok(())
    }

    /// Write `data` at byte `offset` of `bdev`, through NVMe-oF/TCP with spdk_dd.
    pub fn write(&mut self, bdev: &str, offset: u64, data: &[u8]) -> Result<()> {
        let bs = io_size(offset, data.len() as u64);
        let mut buf = data.to_vec();
        if let Some(i) = self.faults.corrupt_write_at {
            if i < buf.len() {
                buf[i] ^= 0xff;
            }
        }
        let job = self.start_write(bdev, offset, &buf, bs, 4)?;
        self.finish_io(job)?;
        self.writes += 1;
        if self.faults.kill_after_writes == Some(self.writes) {
            log_line("fault: killing the target under test");
            self.tgt.crash()?;
        }
        Ok(())
    }

    /// Read `len` bytes at `offset` of `bdev` through NVMe-oF/TCP with spdk_dd.
    pub fn read(&mut self, bdev: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        let job = self.start_read(bdev, offset, len, io_size(offset, len), 4)?;
        let data = self.finish_io(job)?.expect("a read gives bytes");
        if data.len() as u64 != len {
            return Err(Error::Check(format!(
                "spdk_dd read {} bytes of {bdev} at {offset}, expected {len}",
                data.len()
            )));
        }
        Ok(data)
    }

    fn scratch(&mut self, kind: &str) -> PathBuf {
        self.dd_runs += 1;
        self.dir
            .path()
            .join(format!("dd-{kind}-{}.bin", self.dd_runs))
    }

    /// Start spdk_dd, a userspace NVMe-oF/TCP initiator, on the other core
    /// and return at once. `input` is a scratch file it reads (removed when
    /// it is done), `out` one it writes.
    fn spawn_dd(
        &mut self,
        ex: &Export,
        args: &[String],
        input: Option<PathBuf>,
        out: Option<PathBuf>,
    ) -> Result<DdJob> {
        self.tgt.check_alive()?;
        let n = self.dd_runs;
        let cfg = self.dir.path().join(format!("dd-{n}.json"));
        let log = self.dir.path().join(format!("dd-{n}.log"));
        let json = serde_json::json!({"subsystems": [{"subsystem": "bdev", "config": [
            {"method": "bdev_nvme_attach_controller", "params": {
                "name": "Nvme0", "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1",
                "trsvcid": ex.port.to_string(), "subnqn": ex.nqn}},
            {"method": "bdev_wait_for_examine"}]}]});
        std::fs::write(&cfg, serde_json::to_vec_pretty(&json).unwrap())
            .ctx(|| "write dd config".into())?;
        let child = self
            .dd_command("0x2", &cfg, &log)?
            .args(args)
            .spawn()
            .ctx(|| "spawn spdk_dd".into())?;
        Ok(DdJob {
            child,
            cfg,
            log,
            input,
            out,
            args: args.to_vec(),
        })
    }

    /// spdk_dd on core `mask` with the JSON config `cfg`, its output to
    /// `log`, memory as the target under test has it.
    pub fn dd_command(&self, mask: &str, cfg: &Path, log: &Path) -> Result<Command> {
        let logf = std::fs::File::create(log).ctx(|| format!("create {}", log.display()))?;
        let mem = match self.tgt.memory() {
            Memory::Huge => Memory::Huge,
            Memory::NoHuge { .. } => Memory::NoHuge { mib: 512 },
        };
        let mut cmd = Command::new(self.build.spdk_dd());
        cmd.current_dir(self.dir.path())
            .args(["-m", mask, "--disable-cpumask-locks"])
            .args(mem.args())
            .arg(format!("--json={}", cfg.display()))
            .stdin(Stdio::null())
            .stdout(logf.try_clone().ctx(|| "dup".into())?)
            .stderr(logf);
        Ok(cmd)
    }

    /// Wait for spdk_dd to exit and check that it did its I/O without error;
    /// returns what it read, for a read.
    fn wait_dd(&mut self, mut job: DdJob, timeout: Duration) -> Result<Option<Vec<u8>>> {
        let st = poll("spdk_dd to finish", timeout, || {
            job.child.try_wait().ctx(|| "wait spdk_dd".into())
        });
        if let Some(src) = job.input.take() {
            let _ = std::fs::remove_file(src);
        }
        let st = match st {
            Ok(st) => st,
            Err(e) => {
                let _ = job.child.kill();
                let _ = job.child.wait();
                return Err(e);
            }
        };
        let (args, log) = (job.args.join(" "), &job.log);
        let out = std::fs::read_to_string(log).unwrap_or_default();
        if !st.success() {
            self.tgt.check_alive()?;
            let tail: Vec<&str> = out.lines().rev().take(15).collect();
            return Err(Error::Tool(format!(
                "spdk_dd {args} failed ({st}):\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )));
        }
        // spdk_dd exits 0 even when I/O failed after bdev_nvme's retries; the
        // initiator logs every failed completion, so those lines decide.
        if let Some(line) = out.lines().find(|l| io_error_line(l)) {
            return Err(Error::Tool(format!(
                "spdk_dd {args} hit I/O errors (log {}): {}",
                log.display(),
                line.trim()
            )));
        }
        if std::env::var_os("SPDK_HARNESS_KEEP").is_none() {
            let _ = std::fs::remove_file(&job.cfg);
            let _ = std::fs::remove_file(log);
        }
        let Some(dst) = job.out.take() else {
            return Ok(None);
        };
        let data = std::fs::read(&dst).ctx(|| format!("read {}", dst.display()))?;
        let _ = std::fs::remove_file(&dst);
        Ok(Some(data))
    }

    /// Start reading `len` bytes at `offset` of `bdev` over NVMe-oF/TCP in
    /// `bs`-byte I/Os, `qd` at a time, in the background: I/O running while
    /// the caller does something else. [`Lab::finish_io`] gives the bytes.
    pub fn start_read(
        &mut self,
        bdev: &str,
        offset: u64,
        len: u64,
        bs: u64,
        qd: u32,
    ) -> Result<DdJob> {
        check_aligned(offset, len)?;
        check_io(offset, len, bs)?;
        let ex = self.export(bdev)?;
        let dst = self.scratch("r");
        self.spawn_dd(
            &ex,
            &[
                "--ib=Nvme0n1".into(),
                format!("--of={}", dst.display()),
                format!("--bs={bs}"),
                format!("--skip={}", offset / bs),
                format!("--count={}", len / bs),
                format!("--qd={qd}"),
            ],
            None,
            Some(dst),
        )
    }

    /// Start writing `data` at `offset` of `bdev` as [`Lab::start_read`] reads.
    pub fn start_write(
        &mut self,
        bdev: &str,
        offset: u64,
        data: &[u8],
        bs: u64,
        qd: u32,
    ) -> Result<DdJob> {
        check_aligned(offset, data.len() as u64)?;
        check_io(offset, data.len() as u64, bs)?;
        let ex = self.export(bdev)?;
        let src = self.scratch("w");
        std::fs::write(&src, data).ctx(|| format!("write {}", src.display()))?;
        let job = self.spawn_dd(
            &ex,
            &[
                format!("--if={}", src.display()),
                "--ob=Nvme0n1".into(),
                format!("--bs={bs}"),
                format!("--seek={}", offset / bs),
                format!("--count={}", data.len() as u64 / bs),
                format!("--qd={qd}"),
            ],
            Some(src),
            None,
        )?;
        Ok(job)
    }

    /// Wait for I/O started with [`Lab::start_read`] or [`Lab::start_write`]
    /// to end: an error if any I/O failed; the bytes, for a read.
    pub fn finish_io(&mut self, job: DdJob) -> Result<Option<Vec<u8>>> {
        self.wait_dd(job, DD_TIMEOUT)
    }
}

/// spdk_dd running in the background (see [`Lab::start_read`]).
pub struct DdJob {
    child: Child,
    cfg: PathBuf,
    log: PathBuf,
    input: Option<PathBuf>,
    out: Option<PathBuf>,
    args: Vec<String>,
}

impl DdJob {
    /// Is spdk_dd still running (its I/O not all done)?
    pub fn running(&mut self) -> Result<bool> {
        Ok(self
            .child
            .try_wait()
            .ctx(|| "wait spdk_dd".into())?
            .is_none())
    }
}

impl Drop for DdJob {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(src) = self.input.take() {
            let _ = std::fs::remove_file(src);
        }
    }
}

fn check_io(offset: u64, len: u64, bs: u64) -> Result<()> {
    if bs == 0 || !offset.is_multiple_of(bs) || !len.is_multiple_of(bs) {
        return Err(Error::Tool(format!(
            "I/O of {bs} bytes must divide offset {offset} and length {len}"
        )));
    }
    Ok(())
}

/// A line of spdk_dd's log that reports a failed I/O: a printed NVMe
/// completion (only errors are printed) or an SPDK error message.
fn io_error_line(l: &str) -> bool {
    l.contains("print_completion") || l.contains("*ERROR*")
}

/// The largest I/O size, from 4 KiB to 1 MiB, that divides both the offset
/// and the length: few large I/Os rather than many 4 KiB ones.
fn io_size(offset: u64, len: u64) -> u64 {
    let mut bs = MIB;
    while bs > BLOCK && (!offset.is_multiple_of(bs) || !len.is_multiple_of(bs)) {
        bs /= 2;
    }
    bs
}

fn check_aligned(offset: u64, len: u64) -> Result<()> {
    if !offset.is_multiple_of(BLOCK) || !len.is_multiple_of(BLOCK) || len == 0 {
        return Err(Error::Tool(format!(
            "data path I/O must be whole {BLOCK}-byte blocks: offset {offset}, length {len}"
        )));
    }
    Ok(())
}
