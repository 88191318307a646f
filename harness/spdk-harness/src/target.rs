//! One `spdk_tgt` process: started in a directory of its own (socket, logs),
//! ready when `rpc_get_methods` answers, stopped with SIGTERM then SIGKILL
//! after a bound, or crashed with SIGKILL. Dropping it always kills it.

use crate::build::SpdkBuild;
use crate::error::{Context, Error, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use spdk_rpc::methods::RpcGetMethods;
use spdk_rpc::{Client, Rpc, RpcError};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Poll `f` until it returns `Some`, an error, or `timeout` passes.
/// The pause between polls only spaces them out; the condition decides.
pub fn poll<T>(
    what: &str,
    timeout: Duration,
    mut f: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        if let Some(v) = f()? {
            return Ok(v);
        }
        if start.elapsed() >= timeout {
            return Err(Error::Timeout {
                what: what.into(),
                secs: timeout.as_secs_f64(),
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// How the SPDK environment gets its memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Memory {
    /// Hugepages, allocated on demand by DPDK.
    Huge,
    /// `--no-huge -s MiB`, where hugepages can't be had.
    NoHuge { mib: u32 },
}

impl Memory {
    /// Hugepages if enough are free and hugetlbfs is mounted, unless
    /// `SPDK_HARNESS_NO_HUGE=1` asks for the fallback.
    pub fn detect(mib: u32) -> Memory {
        if std::env::var("SPDK_HARNESS_NO_HUGE").is_ok_and(|v| v == "1") {
            return Memory::NoHuge { mib };
        }
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |name: &str| -> u64 {
            meminfo
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        let free_mib = field("HugePages_Free:") * field("Hugepagesize:") / 1024;
        let mounted = std::fs::read_to_string("/proc/mounts")
            .unwrap_or_default()
            .lines()
            .any(|l| l.split_whitespace().nth(2) == Some("hugetlbfs"));
        if mounted && free_mib >= u64::from(mib) {
            Memory::Huge
        } else {
            Memory::NoHuge { mib }
        }
    }

    pub fn args(self) -> Vec<String> {
        match self {
            Memory::Huge => vec![],
            Memory::NoHuge { mib } => vec!["--no-huge".into(), "-s".into(), mib.to_string()],
        }
    }
}

#[derive(Debug, Clone)]
pub struct TargetOpts {
    /// A short name for logs and messages.
    pub name: String,
    pub core_mask: String,
    pub memory: Memory,
}

impl TargetOpts {
    pub fn new(name: &str, core_mask: &str) -> Self {
        TargetOpts {
            name: name.into(),
            core_mask: core_mask.into(),
            memory: Memory::detect(1024),
        }
    }
}

pub struct Target {
    bin: PathBuf,
    dir: PathBuf,
    opts: TargetOpts,
    child: Option<Child>,
    client: Option<Client>,
    starts: u32,
    log_path: PathBuf,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.opts.name)
            .field("pid", &self.pid())
            .finish()
    }
}

impl Target {
    /// Start `spdk_tgt` with its socket and logs in `dir`.
    pub fn start(build: &SpdkBuild, dir: &Path, opts: TargetOpts) -> Result<Self> {
        std::fs::create_dir_all(dir).ctx(|| format!("create {}", dir.display()))?;
        let mut t = Target {
            bin: build.spdk_tgt(),
            dir: dir.to_path_buf(),
            log_path: dir.join(format!("{}.log", opts.name)),
            opts,
            child: None,
            client: None,
            starts: 0,
        };
        t.spawn()?;
        Ok(t)
    }

    pub fn name(&self) -> &str {
        &self.opts.name
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join(format!("{}.sock", self.opts.name))
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    pub fn memory(&self) -> Memory {
        self.opts.memory
    }

    fn spawn(&mut self) -> Result<()> {
        let sock = self.socket();
        let _ = std::fs::remove_file(&sock);
        self.starts += 1;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .ctx(|| format!("open {}", self.log_path.display()))?;
        let start_offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        let mut cmd = Command::new(&self.bin);
        // A crashing target dumps core in its working directory: keep that
        // in the lab's directory, next to its log, and out of the caller's.
        if let Some(dir) = self.log_path.parent() {
            cmd.current_dir(dir);
        }
        cmd.arg("-m")
            .arg(&self.opts.core_mask)
            .arg("--disable-cpumask-locks")
            .arg("-r")
            .arg(&sock)
            .args(self.opts.memory.args())
            .stdin(Stdio::null())
            .stdout(log.try_clone().ctx(|| "dup log".into())?)
            .stderr(log);
        let child = cmd
            .spawn()
            .ctx(|| format!("spawn {}", self.bin.display()))?;
        self.child = Some(child);
        self.client = None;
        let started = Instant::now();
        let res = poll(
            &format!("{} to answer rpc_get_methods", self.opts.name),
            READY_TIMEOUT,
            || {
                if let Some(st) = self
                    .child
                    .as_mut()
                    .unwrap()
                    .try_wait()
                    .ctx(|| "wait".into())?
                {
                    return Err(self.start_error(
                        format!("exited with {st} before it was ready"),
                        start_offset,
                    ));
                }
                if !sock.exists() {
                    return Ok(None);
                }
                let Ok(mut c) = Client::connect(&sock) else {
                    return Ok(None);
                };
                match c.call_timeout(&RpcGetMethods::default(), Duration::from_secs(5)) {
                    Ok(_) => Ok(Some(c)),
                    Err(e) if e.is_transport() => Ok(None),
                    Err(e) => {
                        Err(self.start_error(format!("rpc_get_methods failed: {e}"), start_offset))
                    }
                }
            },
        );
        match res {
            Ok(c) => {
                self.client = Some(c);
                log_line(&format!(
                    "{} ready in {:.2}s (pid {}, start #{})",
                    self.opts.name,
                    started.elapsed().as_secs_f64(),
                    self.pid().unwrap_or(0),
                    self.starts
                ));
                Ok(())
            }
            Err(Error::Timeout { what, secs }) => {
                self.kill_now();
                Err(self.start_error(
                    format!("no answer to {what} within {secs:.0}s"),
                    start_offset,
                ))
            }
            Err(e) => {
                self.kill_now();
                Err(e)
            }
        }
    }

    fn start_error(&self, why: String, offset: u64) -> Error {
        Error::Start {
            name: self.opts.name.clone(),
            why,
            log: self.log_path.clone(),
            tail: tail_from(&self.log_path, offset, 40),
        }
    }

    /// The last lines of this target's log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail_from(&self.log_path, 0, lines)
    }

    /// The persistent RPC connection; an error if the process is gone.
    pub fn rpc(&mut self) -> Result<&mut Client> {
        self.check_alive()?;
        Ok(self.client.as_mut().expect("a running target has a client"))
    }

    /// Call one typed RPC on the persistent connection. A transport failure
    /// is reported with the target's state and log tail.
    pub fn call<R: Rpc>(&mut self, req: &R) -> std::result::Result<R::Result, RpcError> {
        let Some(c) = self.client.as_mut() else {
            return Err(RpcError::Closed {
                method: R::METHOD.into(),
            });
        };
        c.call(req)
    }

    /// Like [`Target::call`], with a context naming the step for the report.
    pub fn ok<R: Rpc>(&mut self, req: &R) -> Result<R::Result> {
        match self.call(req) {
            Ok(v) => Ok(v),
            Err(e) if e.is_transport() => {
                self.check_alive()?;
                Err(Error::Rpc {
                    context: format!("{} on {}", R::METHOD, self.opts.name),
                    source: e,
                })
            }
            Err(e) => Err(Error::Rpc {
                context: format!("{} on {}", R::METHOD, self.opts.name),
                source: e,
            }),
        }
    }

    /// A second, independent connection (for a stop sent while a call runs).
    pub fn connect(&self) -> Result<Client> {
        Client::connect(self.socket()).ctx(|| format!("connect to {}", self.opts.name))
    }

    /// Error (with the log tail) unless the process runs.
    pub fn check_alive(&mut self) -> Result<()> {
        let why = match self.child.as_mut() {
            None => "it was stopped by the harness".to_string(),
            Some(c) => match c.try_wait() {
                Ok(None) => return Ok(()),
                Ok(Some(st)) => format!("it exited with {st}"),
                Err(e) => format!("cannot wait for it: {e}"),
            },
        };
        Err(Error::TargetDied {
            name: self.opts.name.clone(),
            why,
            log: self.log_path.clone(),
            tail: self.log_tail(30),
        })
    }

    /// Stop the process with SIGSTOP: it keeps its state and its sockets but
    /// takes no CPU (two targets on one core take turns this way; see the
    /// benchmarks). [`Target::resume`] lets it run again.
    pub fn pause(&self) -> Result<()> {
        self.signal(Signal::SIGSTOP)
    }

    /// SIGCONT after [`Target::pause`].
    pub fn resume(&self) -> Result<()> {
        self.signal(Signal::SIGCONT)
    }

    fn signal(&self, sig: Signal) -> Result<()> {
        let pid = self
            .pid()
            .ok_or_else(|| Error::Tool(format!("{} is not running", self.opts.name)))?;
        kill(Pid::from_raw(pid), sig).map_err(|e| Error::Tool(format!("{sig} {pid}: {e}")))
    }

    pub fn is_alive(&mut self) -> bool {
        self.check_alive().is_ok()
    }

    /// SIGTERM, wait up to [`STOP_TIMEOUT`], then SIGKILL. Returns how it ended
    /// and whether SIGKILL was needed.
    pub fn stop(&mut self) -> Result<(ExitStatus, bool)> {
        self.stop_within(STOP_TIMEOUT)
    }

    /// SIGTERM, wait up to `bound`, then SIGKILL. Returns how it ended and
    /// whether SIGKILL was needed.
    pub fn stop_within(&mut self, bound: Duration) -> Result<(ExitStatus, bool)> {
        self.end(Some(Signal::SIGTERM), bound)
    }

    /// The target was asked to exit (`spdk_kill_instance`): wait up to
    /// `bound` for it, then SIGKILL. Returns how it ended and whether SIGKILL
    /// was needed.
    pub fn wait_exit(&mut self, bound: Duration) -> Result<(ExitStatus, bool)> {
        self.end(None, bound)
    }

    fn end(&mut self, signal: Option<Signal>, bound: Duration) -> Result<(ExitStatus, bool)> {
        self.client = None;
        let Some(mut child) = self.child.take() else {
            return Err(Error::Tool(format!("{} is not running", self.opts.name)));
        };
        let pid = Pid::from_raw(child.id() as i32);
        let what = match signal {
            Some(sig) => format!("{sig:?}"),
            None => "the requested exit".to_string(),
        };
        if let Some(st) = child.try_wait().ctx(|| "wait".into())? {
            // Asked to exit, it may well be gone already.
            if signal.is_none() {
                return Ok((st, false));
            }
            return Err(Error::TargetDied {
                name: self.opts.name.clone(),
                why: format!("it had already exited with {st} before the stop"),
                log: self.log_path.clone(),
                tail: self.log_tail(30),
            });
        }
        if let Some(sig) = signal {
            let _ = kill(pid, sig);
        }
        let exited = poll(&format!("spdk_tgt to exit after {what}"), bound, || {
            child.try_wait().ctx(|| "wait".into())
        });
        match exited {
            Ok(st) => Ok((st, false)),
            Err(_) => {
                let _ = kill(pid, Signal::SIGKILL);
                let st = child.wait().ctx(|| "wait after SIGKILL".into())?;
                log_line(&format!(
                    "{} did not exit within {bound:?} after {what}; killed",
                    self.opts.name
                ));
                Ok((st, true))
            }
        }
    }

    /// SIGKILL, as a crash: nothing is flushed or unloaded.
    pub fn crash(&mut self) -> Result<()> {
        self.client = None;
        let Some(mut child) = self.child.take() else {
            return Err(Error::Tool(format!("{} is not running", self.opts.name)));
        };
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
        child.wait().ctx(|| "wait after SIGKILL".into())?;
        Ok(())
    }

    /// Run `build`'s spdk_tgt from the next start on (a disk moving between
    /// builds); the target must be stopped.
    pub fn use_build(&mut self, build: &SpdkBuild) -> Result<()> {
        if self.child.is_some() {
            return Err(Error::Tool(format!("{} is still running", self.opts.name)));
        }
        self.bin = build.spdk_tgt();
        Ok(())
    }

    /// Start the same binary again on the same socket and log.
    pub fn start_again(&mut self) -> Result<()> {
        if self.child.is_some() {
            return Err(Error::Tool(format!("{} is still running", self.opts.name)));
        }
        self.spawn()
    }

    fn kill_now(&mut self) {
        self.client = None;
        if let Some(mut c) = self.child.take() {
            let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGKILL);
            let _ = c.wait();
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.kill_now();
    }
}

fn tail_from(path: &Path, offset: u64, lines: usize) -> String {
    let mut s = String::new();
    if let Ok(mut f) = File::open(path) {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let from = offset.max(len.saturating_sub(64 * 1024));
        let _ = f.seek(SeekFrom::Start(from));
        let _ = f.read_to_string(&mut s);
    }
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Progress lines go to stderr, which the test runner captures per test.
pub fn log_line(msg: &str) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let t = START.get_or_init(Instant::now).elapsed().as_secs_f64();
    eprintln!("[harness {t:8.3}] {msg}");
}
