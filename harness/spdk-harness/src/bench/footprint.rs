//! Figure 7: how long `spdk_tgt` takes from exec to its first RPC answer,
//! and the memory it holds then; patched against unpatched, and the
//! default app against one with only what a v2 data engine needs.

use super::{Figure, Plan, Row, Samples};
use crate::build::SpdkBuild;
use crate::error::{Context, Error, Result};
use crate::target::log_line;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use spdk_rpc::methods::RpcGetMethods;
use spdk_rpc::Client;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One start: time to ready (ms), resident memory (MiB) and hugepage
/// memory (MiB) at that moment.
struct Start {
    ready_ms: f64,
    rss_mib: f64,
    huge_mib: f64,
}

/// Start `bin` on core 0, poll its socket every millisecond until
/// `rpc_get_methods` answers, read its memory, SIGTERM it.
fn start(bin: &Path, dir: &Path) -> Result<Start> {
    let sock = dir.join("footprint.sock");
    let _ = std::fs::remove_file(&sock);
    let log = std::fs::File::create(dir.join("footprint.log")).ctx(|| "create log".into())?;
    let t0 = Instant::now();
    let mut child = Command::new(bin)
        .args(["-m", "0x1", "--disable-cpumask-locks", "-r"])
        .arg(&sock)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().ctx(|| "dup".into())?)
        .stderr(log)
        .spawn()
        .ctx(|| format!("spawn {}", bin.display()))?;
    let pid = child.id() as i32;
    let ready = loop {
        if t0.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Timeout {
                what: format!("{} to answer rpc_get_methods", bin.display()),
                secs: 60.0,
            });
        }
        if let Some(st) = child.try_wait().ctx(|| "wait".into())? {
            return Err(Error::Tool(format!(
                "{} exited with {st} before it was ready",
                bin.display()
            )));
        }
        if let Ok(mut c) = Client::connect(&sock) {
            if c.call_timeout(&RpcGetMethods::default(), Duration::from_secs(5))
                .is_ok()
            {
                break t0.elapsed();
            }
        }
        // Polling a socket that is not there yet: the only way to see it
        // appear, at millisecond resolution.
        std::thread::sleep(Duration::from_millis(1));
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    let s = Start {
        ready_ms: ready.as_secs_f64() * 1e3,
        rss_mib: field("VmRSS:"),
        huge_mib: field("HugetlbPages:"),
    };
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    let t1 = Instant::now();
    while child.try_wait().ctx(|| "wait".into())?.is_none() {
        if t1.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(s)
}

/// SPDK's `nvmf_tgt` app of `build`: NVMe-oF, bdev (every bdev module,
/// lvol included), accel, sock, keyring and the rest of what NVMe-oF
/// needs; no iSCSI, vhost, NBD or ublk. Built on demand, under the lock
/// that keeps two SPDK builds from running at once.
fn nvmf_tgt(build: &SpdkBuild) -> Result<PathBuf> {
    let bin = build.tree.join("build/bin/nvmf_tgt");
    if bin.is_file() {
        return Ok(bin);
    }
    log_line("bench: building nvmf_tgt");
    let st = Command::new("flock")
        .arg("/tmp/spdk-build.lock")
        .arg("make")
        .arg("-C")
        .arg(build.tree.join("app/nvmf_tgt"))
        .arg(format!(
            "-j{}",
            std::thread::available_parallelism().map_or(2, |n| n.get())
        ))
        .stdout(Stdio::null())
        .status()
        .ctx(|| "run make".into())?;
    if !st.success() || !bin.is_file() {
        return Err(Error::Build(format!("make -C app/nvmf_tgt failed ({st})")));
    }
    Ok(bin)
}

pub fn start_and_memory(plan: &Plan) -> Result<Figure> {
    let mut f = Figure::new(
        plan,
        7,
        "Footprint",
        "Each binary is started on core 0 (`-m 0x1`, as Longhorn runs it) with no config, and \
         polled every millisecond until `rpc_get_methods` answers; then its resident memory \
         (VmRSS) and hugepage memory (HugetlbPages) are read from /proc and it gets a SIGTERM. \
         The binaries start in turns, each once per repetition. Patched against unpatched: \
         Longhorn's fork (longhorn-v24.09) with and without our backport series, the same base. \
         The app with only what a v2 data engine needs is SPDK's `nvmf_tgt` (NVMe-oF, bdev with \
         every bdev module, accel, sock; no iSCSI, vhost or NBD), against `spdk_tgt`, both of the \
         patched master build.",
    );
    let dir = tempfile::Builder::new()
        .prefix("spdk-bench-")
        .tempdir()
        .ctx(|| "temp dir".into())?;
    let mut bins: Vec<(String, PathBuf)> = vec![];
    if let (Some(u), Some(b)) = (&plan.unpatched, &plan.backport) {
        bins.push(("longhorn-v24.09 unpatched spdk_tgt".into(), u.spdk_tgt()));
        bins.push(("longhorn-v24.09 patched spdk_tgt".into(), b.spdk_tgt()));
    }
    bins.push(("master patched spdk_tgt".into(), plan.patched.spdk_tgt()));
    bins.push(("master patched nvmf_tgt".into(), nvmf_tgt(&plan.patched)?));
    let mut ready = vec![Samples::default(); bins.len()];
    let mut rss = vec![Samples::default(); bins.len()];
    let mut huge = vec![Samples::default(); bins.len()];
    for _ in 0..plan.reps {
        for (i, (_, bin)) in bins.iter().enumerate() {
            let s = start(bin, dir.path())?;
            ready[i].push(s.ready_ms);
            rss[i].push(s.rss_mib);
            huge[i].push(s.huge_mib);
        }
    }
    for (i, (label, _)) in bins.iter().enumerate() {
        f.rows.push(Row::context(
            format!("{label}: start to ready (ms)"),
            ready[i].show(0),
        ));
        f.rows.push(Row::context(
            format!("{label}: VmRSS / HugetlbPages (MiB)"),
            format!("{:.0} / {:.0}", rss[i].median(), huge[i].median()),
        ));
    }
    let find = |label: &str| bins.iter().position(|(l, _)| l == label);
    if let (Some(u), Some(p)) = (
        find("longhorn-v24.09 unpatched spdk_tgt"),
        find("longhorn-v24.09 patched spdk_tgt"),
    ) {
        f.rows.push(Row::context(
            "patched / unpatched, start to ready",
            ready[p].ratio(&ready[u]).show(2),
        ));
        f.rows.push(Row::context(
            "patched / unpatched, VmRSS",
            rss[p].ratio(&rss[u]).show(2),
        ));
    }
    if let (Some(t), Some(n)) = (
        find("master patched spdk_tgt"),
        find("master patched nvmf_tgt"),
    ) {
        f.rows.push(Row::context(
            "nvmf_tgt / spdk_tgt, start to ready",
            ready[n].ratio(&ready[t]).show(2),
        ));
        f.rows.push(Row::context(
            "nvmf_tgt / spdk_tgt, VmRSS",
            rss[n].ratio(&rss[t]).show(2),
        ));
    }
    Ok(f)
}
