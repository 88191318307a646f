//! A lab: one target under test in a temp dir, its base disks, optional
//! helper targets, and the NVMe-oF/TCP data path to its lvols.
//!
//! Base disks are AIO files by default. `SPDK_HARNESS_BASE_BDEV=nvmf-tcp`
//! puts each disk behind a second `spdk_tgt` that exports it over NVMe-oF/TCP,
//! so the target under test reaches it through its NVMe bdev driver.
//! `SPDK_HARNESS_BASE_BDEV=pcie` with `SPDK_HARNESS_PCIE=0000:5e:00.0,...`
//! uses real NVMe controllers (nightly NVMe hosts only; the namespace is wiped
//! by the lvstore the scenarios create).

use crate::build::SpdkBuild;
use crate::error::{Context, Error, Result};
use crate::offline::Reattach;
use crate::target::{log_line, poll, Memory, Target, TargetOpts};
use spdk_rpc::methods::*;
use spdk_rpc::{Client, Pending};
use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub const BLOCK: u64 = 4096;
pub const MIB: u64 = 1024 * 1024;
/// The cluster size of the lvstores the scenarios create.
pub const CLUSTER: u64 = 4 * MIB;
pub const DD_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseKind {
    Aio,
    NvmfTcp,
    Pcie(Vec<String>),
}

impl BaseKind {
    pub fn from_env() -> Result<Self> {
        match std::env::var("SPDK_HARNESS_BASE_BDEV").as_deref() {
            Err(_) | Ok("") | Ok("aio") => Ok(BaseKind::Aio),
            Ok("nvmf-tcp") => Ok(BaseKind::NvmfTcp),
            Ok("pcie") => {
                let list = std::env::var("SPDK_HARNESS_PCIE").map_err(|_| {
                    Error::Build(
                        "SPDK_HARNESS_BASE_BDEV=pcie needs SPDK_HARNESS_PCIE=<bdf>[,<bdf>...]"
                            .into(),
                    )
                })?;
                Ok(BaseKind::Pcie(
                    list.split(',').map(|s| s.trim().to_string()).collect(),
                ))
            }
            Ok(other) => Err(Error::Build(format!(
                "SPDK_HARNESS_BASE_BDEV={other}: expected aio, nvmf-tcp or pcie"
            ))),
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            BaseKind::Aio => "aio",
            BaseKind::NvmfTcp => "nvmf-tcp",
            BaseKind::Pcie(_) => "pcie",
        }
    }
}

/// A base disk as the target under test sees it.
#[derive(Debug, Clone)]
pub struct Disk {
    /// The name given to [`Lab::add_disk`].
    pub name: String,
    /// The bdev to build an lvstore on.
    pub bdev: String,
    /// The backing file, for AIO and for the exporter's AIO bdev.
    pub file: Option<PathBuf>,
    attach: Attach,
}

#[derive(Debug, Clone)]
enum Attach {
    Aio { file: PathBuf, uuid: String },
    Nvme(BdevNvmeAttachController),
}

#[derive(Debug, Clone)]
pub struct Export {
    pub nqn: String,
    pub port: u16,
}

/// Injected faults, for the harness's own tests: they prove a scenario fails
/// when the target or the data misbehave.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Flip this byte of every buffer written through the data path.
    pub corrupt_write_at: Option<usize>,
    /// SIGKILL the target under test right after this many data-path writes.
    pub kill_after_writes: Option<u32>,
}

pub struct Lab {
    pub build: SpdkBuild,
    pub base: BaseKind,
    pub tgt: Target,
    exporter: Option<Target>,
    disks: Vec<Disk>,
    pub(crate) exports: HashMap<String, Export>,
    pub(crate) transport: bool,
    exporter_transport: bool,
    pub faults: Faults,
    writes: u32,
    dd_runs: u32,
    // Last: removed after the targets above are dropped (killed).
    dir: tempfile::TempDir,
}

impl Lab {
    /// A lab with the base disk kind from the environment.
    pub fn new() -> Result<Self> {
        Self::with_base(BaseKind::from_env()?)
    }

    pub fn with_base(base: BaseKind) -> Result<Self> {
        Self::with_build(SpdkBuild::from_env()?, base)
    }

    /// A lab whose targets run `build`.
    pub fn with_build(build: SpdkBuild, base: BaseKind) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("spdk-lab-")
            .tempdir()
            .ctx(|| "create the lab's temp dir".into())?;
        let mut dir = dir;
        if std::env::var_os("SPDK_HARNESS_KEEP").is_some() {
            dir.disable_cleanup(true);
            log_line(&format!("lab dir {} is kept", dir.path().display()));
        }
        let tgt = Target::start(&build, dir.path(), TargetOpts::new("tgt", "0x1"))?;
        Ok(Lab {
            build,
            base,
            tgt,
            exporter: None,
            disks: vec![],
            exports: HashMap::new(),
            transport: false,
            exporter_transport: false,
            faults: Faults::default(),
            writes: 0,
            dd_runs: 0,
            dir,
        })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The methods the target under test offers: scenarios choose from these,
    /// never from version strings.
    pub fn methods(&mut self) -> Result<Vec<String>> {
        self.tgt.ok(&RpcGetMethods::default())
    }

    pub fn has_method(&mut self, m: &str) -> Result<bool> {
        Ok(self.missing_methods(&[m])?.is_empty())
    }

    /// Those of `wanted` the target does not offer, in their order.
    pub fn missing_methods<'a>(&mut self, wanted: &[&'a str]) -> Result<Vec<&'a str>> {
        let offered = self.methods()?;
        Ok(wanted
            .iter()
            .copied()
            .filter(|m| !offered.iter().any(|x| x == m))
            .collect())
    }

    /// Add a base disk of `size_mib` and return the bdev to put an lvstore on.
    pub fn add_disk(&mut self, name: &str, size_mib: u64) -> Result<String> {
        let disk = match &self.base {
            BaseKind::Aio => {
                let file = self.sparse_file(name, size_mib)?;
                Disk {
                    name: name.into(),
                    bdev: name.into(),
                    file: Some(file.clone()),
                    attach: Attach::Aio {
                        file,
                        uuid: new_uuid()?,
                    },
                }
            }
            BaseKind::NvmfTcp => {
                let file = self.sparse_file(name, size_mib)?;
                self.exporter()?;
                let ex = self.exporter.as_mut().unwrap();
                ex.ok(&BdevAioCreate {
                    name: name.into(),
                    filename: file.display().to_string(),
                    block_size: Some(BLOCK as u32),
                    uuid: Some(new_uuid()?),
                })?;
                let nqn = nqn_for(&format!("base-{name}"));
                let port = free_port()?;
                export_on(ex, &mut self.exporter_transport, name, &nqn, port)?;
                Disk {
                    name: name.into(),
                    bdev: format!("{name}n1"),
                    file: Some(file),
                    attach: Attach::Nvme(BdevNvmeAttachController {
                        name: name.into(),
                        trtype: "tcp".into(),
                        traddr: "127.0.0.1".into(),
                        adrfam: Some("ipv4".into()),
                        trsvcid: Some(port.to_string()),
                        subnqn: Some(nqn),
                    }),
                }
            }
            BaseKind::Pcie(addrs) => {
                let used = self.disks.len();
                let addr = addrs.get(used).cloned().ok_or_else(|| {
                    Error::Build(format!(
                        "SPDK_HARNESS_PCIE names {} controller(s); a scenario needs more",
                        addrs.len()
                    ))
                })?;
                Disk {
                    name: name.into(),
                    bdev: format!("{name}n1"),
                    file: None,
                    attach: Attach::Nvme(BdevNvmeAttachController {
                        name: name.into(),
                        trtype: "PCIe".into(),
                        traddr: addr,
                        ..Default::default()
                    }),
                }
            }
        };
        self.attach(&disk)?;
        let bdev = disk.bdev.clone();
        self.disks.push(disk);
        Ok(bdev)
    }

    pub fn disks(&self) -> &[Disk] {
        &self.disks
    }

    fn sparse_file(&self, name: &str, size_mib: u64) -> Result<PathBuf> {
        let file = self.dir.path().join(format!("{name}.img"));
        let f = std::fs::File::create(&file).ctx(|| format!("create {}", file.display()))?;
        f.set_len(size_mib * MIB)
            .ctx(|| format!("size {}", file.display()))?;
        Ok(file)
    }

    fn exporter(&mut self) -> Result<&mut Target> {
        if self.exporter.is_none() {
            let t = Target::start(
                &self.build,
                self.dir.path(),
                TargetOpts::new("exporter", "0x2"),
            )?;
            self.exporter = Some(t);
        }
        Ok(self.exporter.as_mut().unwrap())
    }

    pub(crate) fn attach(&mut self, disk: &Disk) -> Result<()> {
        match &disk.attach {
            Attach::Aio { file, uuid } => {
                self.tgt.ok(&BdevAioCreate {
                    name: disk.bdev.clone(),
                    filename: file.display().to_string(),
                    block_size: Some(BLOCK as u32),
                    uuid: Some(uuid.clone()),
                })?;
            }
            Attach::Nvme(req) => {
                self.tgt.ok(req)?;
            }
        }
        self.tgt.ok(&BdevWaitForExamine {})?;
        Ok(())
    }

    /// Detach a base disk from the target under test (its lvstore goes with it).
    pub fn remove_disk(&mut self, name: &str) -> Result<()> {
        let disk = self.disk(name)?.clone();
        match &disk.attach {
            Attach::Aio { .. } => {
                self.tgt.ok(&BdevAioDelete { name: disk.bdev })?;
            }
            Attach::Nvme(_) => {
                self.tgt.ok(&BdevNvmeDetachController { name: disk.name })?;
            }
        }
        Ok(())
    }

    /// Leave a base disk out of the lab: restarts no longer attach it (its
    /// file stays). The target is not told; restart to see it gone.
    pub fn forget_disk(&mut self, name: &str) -> Result<Disk> {
        let i = self
            .disks
            .iter()
            .position(|d| d.name == name)
            .ok_or_else(|| Error::Tool(format!("no disk named {name}")))?;
        Ok(self.disks.remove(i))
    }

    /// Send the detach of a base disk on a connection of its own and return
    /// it with the pending answer, for the caller to wait on with a bound of
    /// its choosing: the removal may wait for users of the disk's bdevs.
    pub fn start_remove_disk(&mut self, name: &str) -> Result<(Client, Pending)> {
        let disk = self.disk(name)?.clone();
        let mut conn = self.tgt.connect()?;
        let pending = match &disk.attach {
            Attach::Aio { .. } => conn.send(&BdevAioDelete { name: disk.bdev }),
            Attach::Nvme(_) => conn.send(&BdevNvmeDetachController { name: disk.name }),
        }
        .ctx(|| format!("send the removal of disk {name}"))?;
        Ok((conn, pending))
    }

    /// Attach a removed base disk again.
    pub fn readd_disk(&mut self, name: &str) -> Result<()> {
        let disk = self.disk(name)?.clone();
        self.attach(&disk)
    }

    fn disk(&self, name: &str) -> Result<&Disk> {
        self.disks
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| Error::Tool(format!("no disk named {name}")))
    }

    /// Restart the target under test on the same base disks, gracefully or
    /// with SIGKILL, and wait until their lvstores are loaded again.
    ///
    /// While the target is down, the inspector reads every file-backed disk
    /// and the restart fails unless each lvstore holds exactly the lvols the
    /// target listed before the stop, with their flags, clusters and parents,
    /// and the inspector found nothing amiss on any disk.
    pub fn restart(&mut self, how: Restart) -> Result<()> {
        self.restart_inspecting_with(how, Reattach::All, |_| Ok(()))
    }

    /// [`Lab::restart`] with the same check of the disks, but attaching only
    /// the disks named in `order`, one after the other in that order (each
    /// examined before the next); the others stay detached until
    /// [`Lab::readd_disk`]. With an empty `order` the target comes up with no
    /// base disk, and the caller attaches them one by one.
    pub fn restart_attaching(&mut self, how: Restart, order: &[&str]) -> Result<()> {
        self.restart_inspecting_with(how, Reattach::Only(order), |_| Ok(()))
    }

    /// Create lvstore `lvs` with 4 MiB clusters on a new base disk of `mib`.
    pub fn create_lvstore(&mut self, disk: &str, lvs: &str, mib: u64) -> Result<String> {
        let bdev = self.add_disk(disk, mib)?;
        self.tgt.ok(&BdevLvolCreateLvstore {
            bdev_name: bdev,
            lvs_name: lvs.into(),
            cluster_sz: Some(CLUSTER as u32),
            clear_method: None,
        })
    }

    // ------------------------------------------------------------ data path

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
        check_aligned(offset, data.len() as u64)?;
        let bs = io_size(offset, data.len() as u64);
        let ex = self.export(bdev)?;
        let src = self.scratch("w");
        let mut buf = data.to_vec();
        if let Some(i) = self.faults.corrupt_write_at {
            if i < buf.len() {
                buf[i] ^= 0xff;
            }
        }
        std::fs::write(&src, &buf).ctx(|| format!("write {}", src.display()))?;
        let res = self.dd(
            &ex,
            &[
                format!("--if={}", src.display()),
                "--ob=Nvme0n1".into(),
                format!("--bs={bs}"),
                format!("--seek={}", offset / bs),
                format!("--count={}", data.len() as u64 / bs),
                "--qd=4".into(),
            ],
        );
        let _ = std::fs::remove_file(&src);
        res?;
        self.writes += 1;
        if self.faults.kill_after_writes == Some(self.writes) {
            log_line("fault: killing the target under test");
            self.tgt.crash()?;
        }
        Ok(())
    }

    /// Read `len` bytes at `offset` of `bdev` through NVMe-oF/TCP with spdk_dd.
    pub fn read(&mut self, bdev: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        check_aligned(offset, len)?;
        let bs = io_size(offset, len);
        let ex = self.export(bdev)?;
        let dst = self.scratch("r");
        self.dd(
            &ex,
            &[
                "--ib=Nvme0n1".into(),
                format!("--of={}", dst.display()),
                format!("--bs={bs}"),
                format!("--skip={}", offset / bs),
                format!("--count={}", len / bs),
                "--qd=4".into(),
            ],
        )?;
        let data = std::fs::read(&dst).ctx(|| format!("read {}", dst.display()))?;
        let _ = std::fs::remove_file(&dst);
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

    /// Run spdk_dd as a userspace NVMe-oF/TCP initiator on the other core.
    fn dd(&mut self, ex: &Export, args: &[String]) -> Result<()> {
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
        let logf = std::fs::File::create(&log).ctx(|| "create dd log".into())?;
        let mem = match self.tgt.memory() {
            Memory::Huge => Memory::Huge,
            Memory::NoHuge { .. } => Memory::NoHuge { mib: 512 },
        };
        let mut child = Command::new(self.build.spdk_dd())
            .args(["-m", "0x2", "--disable-cpumask-locks"])
            .args(mem.args())
            .arg(format!("--json={}", cfg.display()))
            .args(args)
            .stdin(Stdio::null())
            .stdout(logf.try_clone().ctx(|| "dup".into())?)
            .stderr(logf)
            .spawn()
            .ctx(|| "spawn spdk_dd".into())?;
        let st = poll("spdk_dd to finish", DD_TIMEOUT, || {
            child.try_wait().ctx(|| "wait spdk_dd".into())
        });
        let st = match st {
            Ok(st) => st,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let out = std::fs::read_to_string(&log).unwrap_or_default();
        if !st.success() {
            self.tgt.check_alive()?;
            let tail: Vec<&str> = out.lines().rev().take(15).collect();
            return Err(Error::Tool(format!(
                "spdk_dd {} failed ({st}):\n{}",
                args.join(" "),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )));
        }
        // spdk_dd exits 0 even when I/O failed after bdev_nvme's retries; the
        // initiator logs every failed completion, so those lines decide.
        if let Some(line) = out.lines().find(|l| io_error_line(l)) {
            return Err(Error::Tool(format!(
                "spdk_dd {} hit I/O errors (log {}): {}",
                args.join(" "),
                log.display(),
                line.trim()
            )));
        }
        if std::env::var_os("SPDK_HARNESS_KEEP").is_none() {
            let _ = std::fs::remove_file(&cfg);
            let _ = std::fs::remove_file(&log);
        }
        Ok(())
    }

    // -------------------------------------------------------- lvol helpers

    /// Every lvol, with its allocated clusters (taken from `bdev_get_bdevs` where
    /// the base's `bdev_lvol_get_lvols` does not report them; a degraded lvol on
    /// such a base has no bdev, and its count stays unknown).
    pub fn lvols(&mut self) -> Result<Vec<LvolInfo>> {
        let mut all = self.tgt.ok(&BdevLvolGetLvols::default())?;
        if all.iter().any(|l| l.num_allocated_clusters.is_none()) {
            let bdevs = self.tgt.ok(&BdevGetBdevs::default())?;
            fill_clusters(&mut all, &bdevs);
        }
        Ok(all)
    }

    /// The lvol named `alias` (`lvs/lvol`), or an error naming what exists.
    pub fn lvol(&mut self, alias: &str) -> Result<LvolInfo> {
        let all = self.lvols()?;
        all.iter()
            .find(|l| l.alias == alias || l.uuid == alias)
            .cloned()
            .ok_or_else(|| {
                Error::Check(format!(
                    "lvol {alias} is not in bdev_lvol_get_lvols; present: [{}]",
                    all.iter()
                        .map(|l| l.alias.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// `driver_specific.lvol` of the lvol bdev `name` (parent and clones).
    pub fn lvol_bdev(&mut self, name: &str) -> Result<LvolDriverInfo> {
        let b = self.tgt.ok(&BdevGetBdevs {
            name: Some(name.into()),
            timeout: None,
        })?;
        b.first()
            .and_then(|b| b.lvol())
            .ok_or_else(|| Error::Check(format!("bdev {name} has no lvol driver info")))
    }

    pub fn lvstore(&mut self, name: &str) -> Result<LvstoreInfo> {
        let all = self.tgt.ok(&BdevLvolGetLvstores::default())?;
        all.into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::Check(format!("lvstore {name} is not in bdev_lvol_get_lvstores")))
    }

    /// Wait until `bdev_get_bdevs` lists `name` (after a restart, examine may
    /// still be opening an lvol).
    pub fn wait_bdev(&mut self, name: &str, timeout: Duration) -> Result<()> {
        poll(&format!("bdev {name}"), timeout, || {
            let all = self.tgt.ok(&BdevGetBdevs::default())?;
            Ok(all
                .iter()
                .any(|b| b.name == name || b.aliases.iter().any(|a| a == name))
                .then_some(()))
        })
    }
}

/// The lvol driver info of `l` among `bdevs`, if it has a bdev.
pub(crate) fn lvol_bdev_of(bdevs: &[BdevInfo], l: &LvolInfo) -> Option<LvolDriverInfo> {
    bdevs
        .iter()
        .find(|b| b.name == l.uuid || b.aliases.contains(&l.alias))
        .and_then(|b| b.lvol())
}

/// Fill the cluster counts `bdev_lvol_get_lvols` left out from `bdevs`.
pub(crate) fn fill_clusters(lvols: &mut [LvolInfo], bdevs: &[BdevInfo]) {
    for l in lvols
        .iter_mut()
        .filter(|l| l.num_allocated_clusters.is_none())
    {
        l.num_allocated_clusters = lvol_bdev_of(bdevs, l).map(|d| d.num_allocated_clusters);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    Graceful,
    Kill,
}

fn export_on(t: &mut Target, transport: &mut bool, bdev: &str, nqn: &str, port: u16) -> Result<()> {
    if !*transport {
        t.ok(&NvmfCreateTransport {
            trtype: "TCP".into(),
        })?;
        *transport = true;
    }
    t.ok(&NvmfCreateSubsystem {
        nqn: nqn.into(),
        allow_any_host: true,
        serial_number: Some("SPDKHARNESS0001".into()),
    })?;
    t.ok(&NvmfSubsystemAddNs {
        nqn: nqn.into(),
        namespace: NvmfNamespace {
            bdev_name: bdev.into(),
        },
    })?;
    t.ok(&NvmfSubsystemAddListener {
        nqn: nqn.into(),
        listen_address: ListenAddress {
            trtype: "TCP".into(),
            adrfam: "IPv4".into(),
            traddr: "127.0.0.1".into(),
            trsvcid: port.to_string(),
        },
    })?;
    Ok(())
}

/// A line of spdk_dd's log that reports a failed I/O: a printed NVMe
/// completion (only errors are printed) or an SPDK error message.
fn io_error_line(l: &str) -> bool {
    l.contains("print_completion") || l.contains("*ERROR*")
}

fn nqn_for(bdev: &str) -> String {
    let clean: String = bdev
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("nqn.2026-08.io.spdk.harness:{clean}")
}

/// A random (version 4) UUID for a base bdev, kept across restarts.
fn new_uuid() -> Result<String> {
    use std::io::Read;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .ctx(|| "read /dev/urandom".into())?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").ctx(|| "find a free port".into())?;
    Ok(l.local_addr().ctx(|| "local addr".into())?.port())
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
