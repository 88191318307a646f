//! A lab: one target under test in a temp dir, its base disks, optional
//! helper targets, and the NVMe-oF/TCP data path to its lvols.
//!
//! - here: the lab, its base disks and what the target lists;
//! - [`restart`](Lab::restart) (`restart.rs`): every restart, always checked
//!   against what the inspector reads from the disks;
//! - [`write`](Lab::write) and [`read`](Lab::read) (`data_path.rs`): bytes over
//!   NVMe-oF/TCP with `spdk_dd`.
//!
//! Base disks are AIO files by default. `SPDK_HARNESS_BASE_BDEV=nvmf-tcp`
//! puts each disk behind a second `spdk_tgt` that exports it over NVMe-oF/TCP,
//! so the target under test reaches it through its NVMe bdev driver.
//! `SPDK_HARNESS_BASE_BDEV=pcie` with `SPDK_HARNESS_PCIE=0000:5e:00.0,...`
//! uses real NVMe controllers (nightly NVMe hosts only; the namespace is wiped
//! by the lvstore the scenarios create).

use crate::build::SpdkBuild;
use crate::error::{Context, Error, Result};
use crate::offline::fill_clusters;
use crate::target::{log_line, poll, Target, TargetOpts};
use spdk_rpc::methods::*;
use spdk_rpc::{Client, Pending};
use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod data_path;
pub mod disk_edit;
mod image;
mod restart;

pub use data_path::DdJob;
pub use restart::{Reattach, Restart};

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
    /// Its size in bytes, as the target under test sees it.
    pub size: u64,
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
    exports: HashMap<String, Export>,
    transport: bool,
    exporter_transport: bool,
    pub faults: Faults,
    /// Delay bdevs made over a base disk's bdev, as (delay, base): the
    /// restart check holds an lvstore on one against that disk's file.
    pub(crate) delays: Vec<(String, String)>,
    /// Lvols an operation allocates clusters for across the next restart's
    /// stop (see [`crate::offline::Listing::may_grow`]); cleared by it.
    pub growing: Vec<String>,
    /// Lvols being deleted across the next restart's stop (see
    /// [`crate::offline::Listing::may_vanish`]); cleared by it.
    pub deleting: Vec<String>,
    /// Lvols an operation takes off their parent across the next restart's
    /// stop (see [`crate::offline::Reparent`]); cleared by it.
    pub reparenting: Vec<crate::offline::Reparent>,
    /// Findings (text they contain) of a known upstream defect the next
    /// restart's check expects (see [`crate::offline::Listing::known_finding`]);
    /// cleared by it.
    pub known_findings: Vec<&'static str>,
    /// How long a SIGTERM (or a requested exit) may take before the stop
    /// calls it a hang: [`crate::target::STOP_TIMEOUT`] unless a scenario
    /// holds the target to a tighter bound.
    pub stop_bound: Duration,
    /// The build the next restart starts ([`Lab::restart_on`]).
    next_build: Option<SpdkBuild>,
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
            delays: vec![],
            growing: vec![],
            reparenting: vec![],
            deleting: vec![],
            known_findings: vec![],
            stop_bound: crate::target::STOP_TIMEOUT,
            next_build: None,
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
    /// A PCIe disk is a whole namespace, whatever `size_mib` says.
    pub fn add_disk(&mut self, name: &str, size_mib: u64) -> Result<String> {
        self.add_disk_as(self.base.clone(), name, size_mib)
    }

    /// For a scenario that reads or edits its disks' files itself (offline
    /// edits of the metadata, a lost disk's file removed, a shallow copy's
    /// destination read back): on a PCIe host its disks are AIO files, as
    /// elsewhere. Called before any disk is added.
    pub fn need_files(&mut self) -> Result<()> {
        if !self.disks.is_empty() {
            return Err(Error::Tool(
                "need_files is for a lab with no disk yet".into(),
            ));
        }
        if let BaseKind::Pcie(_) = self.base {
            log_line("this scenario reads its disks' files: they are AIO files here");
            self.base = BaseKind::Aio;
        }
        Ok(())
    }

    /// [`Lab::add_disk`] for a disk whose file the scenario reads itself: an
    /// AIO file on a PCIe host (see [`Lab::need_files`]).
    pub fn add_file_disk(&mut self, name: &str, size_mib: u64) -> Result<String> {
        let base = match self.base {
            BaseKind::Pcie(_) => BaseKind::Aio,
            ref other => other.clone(),
        };
        self.add_disk_as(base, name, size_mib)
    }

    fn add_disk_as(&mut self, base: BaseKind, name: &str, size_mib: u64) -> Result<String> {
        let mut disk = match &base {
            BaseKind::Aio => {
                let file = self.sparse_file(name, size_mib)?;
                Disk {
                    name: name.into(),
                    bdev: name.into(),
                    file: Some(file.clone()),
                    size: 0,
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
                    size: 0,
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
                let used = self.disks.iter().filter(|d| d.file.is_none()).count();
                let Some(addr) = addrs.get(used).cloned() else {
                    // More disks than controllers: the rest are AIO files.
                    log_line(&format!(
                        "SPDK_HARNESS_PCIE names {} controller(s), all in use: disk {name} is an AIO file",
                        addrs.len()
                    ));
                    return self.add_disk_as(BaseKind::Aio, name, size_mib);
                };
                Disk {
                    name: name.into(),
                    bdev: format!("{name}n1"),
                    file: None,
                    size: 0,
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
        let info = self.tgt.ok(&BdevGetBdevs {
            name: Some(disk.bdev.clone()),
            ..Default::default()
        })?;
        let b = info
            .first()
            .ok_or_else(|| Error::Tool(format!("bdev {} is not listed", disk.bdev)))?;
        disk.size = b.num_blocks * u64::from(b.block_size);
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

    fn attach(&mut self, disk: &Disk) -> Result<()> {
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

    /// A delay bdev `name` over bdev `base`, adding `read_us`/`write_us` to
    /// each read/write. An lvstore on it is held against `base`'s disk at the
    /// next restart (which attaches the disk alone: the lvstore then loads
    /// from the disk directly).
    pub fn add_delay(
        &mut self,
        name: &str,
        base: &str,
        read_us: u64,
        write_us: u64,
    ) -> Result<String> {
        let made = self.tgt.ok(&BdevDelayCreate {
            name: name.into(),
            base_bdev_name: base.into(),
            avg_read_latency: read_us,
            p99_read_latency: read_us,
            avg_write_latency: write_us,
            p99_write_latency: write_us,
        })?;
        self.delays.push((name.into(), base.into()));
        // The lvol module examines the new bdev and holds it meanwhile: an
        // operation that opens it for writing right away (a shallow copy onto
        // it) got -EPERM over NVMe-oF, where the examine's reads take longer.
        self.tgt.ok(&BdevWaitForExamine {})?;
        Ok(made)
    }

    /// Send the delete of delay bdev `name` on a connection of its own and
    /// return it with the pending answer (the removal may wait for the users
    /// of the delay bdev, as a disk's removal does).
    pub fn start_remove_delay(&mut self, name: &str) -> Result<(Client, Pending)> {
        let mut conn = self.tgt.connect()?;
        let pending = conn
            .send(&BdevDelayDelete { name: name.into() })
            .ctx(|| format!("send the removal of delay bdev {name}"))?;
        self.delays.retain(|(d, _)| d != name);
        Ok((conn, pending))
    }

    /// Delay bdev `name` was deleted (by the caller, with `bdev_delay_delete`).
    pub fn forget_delay(&mut self, name: &str) {
        self.delays.retain(|(d, _)| d != name);
    }

    /// The base disk's bdev under each delay bdev, as (delay, base).
    pub(crate) fn delays(&self) -> &[(String, String)] {
        &self.delays
    }

    /// Attach a removed base disk again.
    pub fn readd_disk(&mut self, name: &str) -> Result<()> {
        let disk = self.disk(name)?.clone();
        self.attach(&disk)
    }

    /// The backing file of base disk `name` (AIO, or the exporter's AIO).
    pub fn disk_file(&self, name: &str) -> Result<PathBuf> {
        self.disk(name)?
            .file
            .clone()
            .ok_or_else(|| Error::Tool(format!("{name} has no file")))
    }

    /// The bdev of base disk `name` (the AIO bdev, or the NVMe namespace's).
    pub fn disk_bdev(&self, name: &str) -> Result<String> {
        Ok(self.disk(name)?.bdev.clone())
    }

    fn disk(&self, name: &str) -> Result<&Disk> {
        self.disks
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| Error::Tool(format!("no disk named {name}")))
    }

    /// Create lvstore `lvs` with 4 MiB clusters on a new base disk of `mib`.
    pub fn create_lvstore(&mut self, disk: &str, lvs: &str, mib: u64) -> Result<String> {
        let bdev = self.add_disk(disk, mib)?;
        self.create_lvstore_on(bdev, lvs)
    }

    /// Create lvstore `lvs` with 4 MiB clusters on `bdev` (a delay bdev, a
    /// malloc bdev, ...). Returns its UUID.
    pub fn create_lvstore_on(&mut self, bdev: String, lvs: &str) -> Result<String> {
        self.tgt.ok(&BdevLvolCreateLvstore {
            bdev_name: bdev,
            lvs_name: lvs.into(),
            cluster_sz: Some(CLUSTER as u32),
            clear_method: None,
        })
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
