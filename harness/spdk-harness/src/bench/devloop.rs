//! Figure 9: the developer loop. A cold build of the patched tree (no
//! ccache), a warm rebuild after touching `lib/lvol/lvol.c`, the unit tests
//! of the patched libraries, and the verify suite.

use super::{secs, Figure, Plan, Row, Samples};
use crate::build::workspace_root;
use crate::error::{Context, Error, Result};
use crate::target::log_line;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Run `cmd` in the checkout (output to `log`) and time it; a failure is an
/// error that names the log.
fn run(what: &str, cmd: &mut Command, log: &Path) -> Result<Duration> {
    let out = std::fs::File::create(log).ctx(|| format!("create {}", log.display()))?;
    log_line(&format!("bench: {what}"));
    let t0 = Instant::now();
    let st = cmd
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .stdout(out.try_clone().ctx(|| "dup".into())?)
        .stderr(out)
        .status()
        .ctx(|| format!("run {what}"))?;
    let t = t0.elapsed();
    if !st.success() {
        return Err(Error::Tool(format!(
            "{what} failed ({st}); log: {}",
            log.display()
        )));
    }
    Ok(t)
}

/// `make` in `dir` of the tree, under the lock that keeps two SPDK builds
/// from running at once, with ccache as `make build` uses it.
fn make(tree: &Path, dir: &str) -> Command {
    let mut c = Command::new("flock");
    c.arg("/tmp/spdk-build.lock")
        .arg("make")
        .arg("-C")
        .arg(tree.join(dir))
        .arg(format!(
            "-j{}",
            std::thread::available_parallelism().map_or(2, |n| n.get())
        ))
        .env(
            "PATH",
            format!(
                "/usr/lib/ccache:{}",
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("CCACHE_BASEDIR", workspace_root());
    c
}

pub fn developer_loop(plan: &Plan) -> Result<Figure> {
    let mut f = Figure::new(
        plan,
        9,
        "Developer loop",
        "Cold build: `ci/build.sh --base master build` of a fresh tree in `build/bench/cold` with \
         ccache disabled (the clone and `git am` are not timed), once. Warm rebuild: `touch \
         lib/lvol/lvol.c`, then `make` of the libraries and `spdk_tgt` in `build/master/spdk`. \
         Unit tests: `ci/build.sh --base master unit` (build what changed, run blob_ut, lvol_ut, \
         vbdev_lvol_ut and the util tests) right after the warm rebuild. Verify suite: \
         `spdk-verify` on AIO files, once.",
    );
    let root = workspace_root();
    let dir = super::work_dir()?;
    let tree = plan.patched.tree.clone();

    // Unit tests once before timing, so the first timed run only rebuilds
    // what the touch changed, as in a developer's loop.
    run(
        "unit tests (untimed, to build them)",
        Command::new("ci/build.sh").args(["--base", &plan.patched.base, "unit"]),
        &dir.join("devloop-unit-first.log"),
    )?;
    let (mut warm, mut unit, mut both) =
        (Samples::default(), Samples::default(), Samples::default());
    for rep in 0..plan.reps {
        let lvol = tree.join("lib/lvol/lvol.c");
        let now = std::fs::File::options()
            .append(true)
            .open(&lvol)
            .ctx(|| format!("open {}", lvol.display()))?;
        now.set_modified(std::time::SystemTime::now())
            .ctx(|| "touch lvol.c".into())?;
        let w = run(
            "warm rebuild (libraries)",
            &mut make(&tree, "."),
            &dir.join(format!("devloop-warm-{rep}.log")),
        )? + run(
            "warm rebuild (spdk_tgt)",
            &mut make(&tree, "app/spdk_tgt"),
            &dir.join(format!("devloop-warm-tgt-{rep}.log")),
        )?;
        let u = run(
            "unit tests",
            Command::new("ci/build.sh").args(["--base", &plan.patched.base, "unit"]),
            &dir.join(format!("devloop-unit-{rep}.log")),
        )?;
        warm.push(secs(w));
        unit.push(secs(u));
        both.push(secs(w + u));
    }

    let cold_dir = dir.join("cold");
    let _ = std::fs::remove_dir_all(&cold_dir);
    run(
        "cold tree (untimed clone and git am)",
        Command::new("ci/build.sh")
            .args(["--base", &plan.patched.base, "tree"])
            .env("BUILD_DIR", &cold_dir),
        &dir.join("devloop-cold-tree.log"),
    )?;
    let cold = run(
        "cold build",
        Command::new("flock")
            .arg("/tmp/spdk-build.lock")
            .arg("ci/build.sh")
            .args(["--base", &plan.patched.base, "build"])
            .env("BUILD_DIR", &cold_dir)
            .env("CCACHE_DISABLE", "1"),
        &dir.join("devloop-cold-build.log"),
    )?;
    let _ = std::fs::remove_dir_all(&cold_dir);

    let verify = run(
        "verify suite",
        Command::new(root.join("target/release/spdk-verify"))
            .env("SPDK_BASE", &plan.patched.base)
            .env("SPDK_TREE", &tree)
            .env_remove("SPDK_HARNESS_BASE_BDEV"),
        &dir.join("devloop-verify.log"),
    )?;

    f.rows.push(Row::goal(
        "warm rebuild + unit tests (s)",
        both.show(1),
        "under 60 s",
        both.median() < 60.0,
    ));
    f.rows.push(Row::context("warm rebuild (s)", warm.show(1)));
    f.rows.push(Row::context("unit tests (s)", unit.show(1)));
    f.rows.push(Row::context(
        "cold build, no ccache (s; once)",
        format!("{:.0}", secs(cold)),
    ));
    f.rows.push(Row::context(
        "verify suite on AIO files (s; once)",
        format!("{:.0}", secs(verify)),
    ));
    Ok(f)
}
