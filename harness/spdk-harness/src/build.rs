//! Where the built SPDK tree is. `make build` puts it in
//! `build/<base>/spdk` of the checkout; `SPDK_TREE` points elsewhere.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct SpdkBuild {
    /// The patch base: `master` or `longhorn-v24.09`.
    pub base: String,
    pub tree: PathBuf,
}

impl SpdkBuild {
    /// `SPDK_TREE` if set, else `build/$SPDK_BASE/spdk` (default base: master).
    pub fn from_env() -> Result<Self> {
        let base = std::env::var("SPDK_BASE").unwrap_or_else(|_| "master".into());
        let tree = match std::env::var_os("SPDK_TREE") {
            Some(t) => PathBuf::from(t),
            None => workspace_root().join("build").join(&base).join("spdk"),
        };
        Self::at(tree, &base)
    }

    /// The build in `tree`, of patch base `base`.
    pub fn at(tree: impl Into<PathBuf>, base: &str) -> Result<Self> {
        let b = SpdkBuild {
            base: base.into(),
            tree: tree.into(),
        };
        for bin in [b.spdk_tgt(), b.spdk_dd()] {
            if !bin.is_file() {
                return Err(Error::Build(format!(
                    "{} is missing: build it with `make build` (or `ci/build.sh --base {}`), or set SPDK_TREE",
                    bin.display(),
                    b.base
                )));
            }
        }
        Ok(b)
    }

    pub fn spdk_tgt(&self) -> PathBuf {
        self.tree.join("build/bin/spdk_tgt")
    }

    pub fn spdk_dd(&self) -> PathBuf {
        self.tree.join("build/bin/spdk_dd")
    }

    pub fn bdevperf(&self) -> PathBuf {
        self.tree.join("build/examples/bdevperf")
    }
}

/// The checkout this crate lives in (two levels above the crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crate sits at harness/<crate>")
        .to_path_buf()
}
