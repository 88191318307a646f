//! Finds the built, patched SPDK tree; binds our series' APIs and the
//! blobstore's on-disk layout with bindgen (into OUT_DIR only); compiles the C
//! shim that asserts and exports the layout as the C compiler sees it.
//!
//! Where the tree is (see the crate docs): `SPDK_TREE`, else
//! `<workspace>/build/${SPDK_BASE:-master}/spdk`, else the tree behind
//! whatever `spdk_blob.pc` pkg-config finds on `PKG_CONFIG_PATH`. The public
//! headers come from the tree's own pkg-config files
//! (`<tree>/build/lib/pkgconfig`), i.e. the headers its libraries and
//! `spdk_tgt` were built with; internal ones (`lib/blob/blobstore.h`,
//! `module/bdev/lvol/vbdev_lvol.h`) from the tree itself.

use std::path::{Path, PathBuf};
use std::process::Command;

// `apis.rs` is shared with src/lib.rs; here only the headers and names count.
macro_rules! series_apis {
    ($($header:literal $name:ident : $sig:ty;)*) => {
        const SERIES_APIS: &[(&str, &str)] = &[$(($header, stringify!($name))),*];
    };
}
include!("apis.rs");

/// pkg-config modules whose headers we bind.
const PC_MODULES: &[&str] = &["spdk_blob", "spdk_lvol", "spdk_bdev_lvol"];

fn main() {
    for var in ["SPDK_TREE", "SPDK_BASE", "PKG_CONFIG_PATH"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=apis.rs");
    println!("cargo:rerun-if-changed=shim/layout.c");

    let tree = find_tree();
    let pc_dir = tree.join("build/lib/pkgconfig");
    let mut includes = pkg_config_includes(&pc_dir).unwrap_or_else(|e| {
        panic!(
            "spdk-sys: pkg-config can't give the include flags of {PC_MODULES:?} from {}: {e}\n\
             Build the tree (`make build`) or point SPDK_TREE at a built SPDK tree.",
            pc_dir.display()
        )
    });
    // Internal headers: the blobstore's layout, the lvol bdev module, spdk_internal/.
    includes.extend([
        tree.join("lib/blob"),
        tree.join("module/bdev/lvol"),
        tree.join("include"),
    ]);
    let blobstore_h = tree.join("lib/blob/blobstore.h");
    if !blobstore_h.is_file() {
        panic!(
            "spdk-sys: {} is missing: {} is not an SPDK source tree",
            blobstore_h.display(),
            tree.display()
        );
    }

    // The headers to bind: the layout, then each API's own header.
    let mut headers: Vec<&str> = vec!["spdk/stdinc.h", "blobstore.h"];
    for (h, _) in SERIES_APIS {
        if !headers.contains(h) {
            headers.push(h);
        }
    }
    for h in &headers {
        if let Some(p) = includes.iter().map(|i| i.join(h)).find(|p| p.is_file()) {
            println!("cargo:rerun-if-changed={}", p.display());
        } else {
            panic!("spdk-sys: header {h} is in none of {includes:?}");
        }
    }

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let wrapper = out.join("wrapper.h");
    let text: String = headers
        .iter()
        .map(|h| format!("#include \"{h}\"\n"))
        .collect();
    std::fs::write(&wrapper, text).expect("write wrapper.h");

    let mut b = bindgen::Builder::default()
        .header(wrapper.display().to_string())
        .clang_arg("-D_GNU_SOURCE")
        .clang_args(includes.iter().map(|i| format!("-I{}", i.display())))
        // The blobstore's on-disk layout (lib/blob/blobstore.h).
        .allowlist_type("spdk_bs_super_block")
        .allowlist_type("spdk_bs_md_mask")
        .allowlist_type("spdk_blob_md_page")
        .allowlist_type("spdk_blob_md_descriptor.*")
        .allowlist_var("SPDK_BS_PAGE_SIZE")
        .allowlist_var("SPDK_BS_(INITIAL_)?VERSION")
        .allowlist_var("SPDK_BS_SUPER_BLOCK_SIG")
        .allowlist_var("SPDK_MD_MASK_TYPE_.*")
        .allowlist_var("SPDK_MD_DESCRIPTOR_TYPE_.*")
        .allowlist_var(
            "SPDK_BLOB_(THIN_PROV|INTERNAL_XATTR|EXTENT_TABLE|EXTERNAL_SNAPSHOT|READ_ONLY)",
        )
        .allowlist_var("SPDK_BLOB_(INVALID|DATA_RO|MD_RO)_FLAGS_MASK")
        .allowlist_var("SPDK_BLOB_CLEAR_METHOD(_SHIFT)?")
        .allowlist_var("BLOB_SNAPSHOT")
        .allowlist_var("SNAPSHOT_IN_PROGRESS")
        .allowlist_var("SNAPSHOT_PENDING_REMOVAL")
        .allowlist_var("BLOB_EXTERNAL_SNAPSHOT_ID")
        .allowlist_var("BLOB_CLUSTER_CHECKSUMS(_PER_WINDOW)?")
        .allowlist_var("SPDK_LVOL_NAME_MAX")
        .allowlist_var("SPDK_LVS_NAME_MAX")
        .allowlist_var("SPDK_UUID_STRING_LEN")
        // What the APIs' signatures name, and nothing else.
        .allowlist_recursively(false)
        .allowlist_type("spdk_bs_type")
        .allowlist_type("spdk_blob_id")
        .allowlist_type("spdk_blob_op_complete")
        .allowlist_type("spdk_lvol_op_complete")
        .allowlist_type("spdk_blob_op_with_checksum_complete")
        .allowlist_type("spdk_blob_cluster_checksum")
        .allowlist_type("spdk_bs_checksum_opts")
        // Handles the public headers only forward-declare: src/lib.rs defines
        // them as opaque, so internal changes to them are not drift.
        .blocklist_type("spdk_blob_store")
        .blocklist_type("spdk_blob")
        .blocklist_type("spdk_lvol")
        .blocklist_type("spdk_io_channel")
        .derive_default(true)
        .layout_tests(true)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for (_, name) in SERIES_APIS {
        b = b.allowlist_function(name);
    }
    let bindings = b
        .generate()
        .unwrap_or_else(|e| panic!("spdk-sys: bindgen failed on {}: {e}", wrapper.display()));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings.rs");

    cc::Build::new()
        .file("shim/layout.c")
        .define("_GNU_SOURCE", None)
        .includes(&includes)
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .compile("spdk_sys_shim");

    println!("cargo:rustc-env=SPDK_SYS_TREE={}", tree.display());
}

/// The SPDK tree: `SPDK_TREE`, the workspace's own build, or what pkg-config knows.
fn find_tree() -> PathBuf {
    if let Some(t) = std::env::var_os("SPDK_TREE") {
        return PathBuf::from(t);
    }
    let base = std::env::var("SPDK_BASE").unwrap_or_else(|_| "master".into());
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest
        .ancestors()
        .nth(2)
        .expect("spdk-sys sits at harness/spdk-sys")
        .to_path_buf();
    let default = workspace.join("build").join(&base).join("spdk");
    if default.join("build/lib/pkgconfig/spdk_blob.pc").is_file() {
        return default;
    }
    // An SPDK tree somewhere else on PKG_CONFIG_PATH: its .pc files say
    // `-I<tree>/build/include`.
    if let Ok(incs) = pkg_config_includes(Path::new("")) {
        for inc in incs {
            if let Some(tree) = inc.parent().and_then(Path::parent) {
                if tree.join("lib/blob/blobstore.h").is_file() {
                    return tree.to_path_buf();
                }
            }
        }
    }
    panic!(
        "spdk-sys: no built SPDK tree at {} and none on PKG_CONFIG_PATH: build it with \
         `make build`, or set SPDK_TREE=/path/to/built/spdk",
        default.display()
    );
}

/// `-I` directories of [`PC_MODULES`], with `pc_dir` first on PKG_CONFIG_PATH.
fn pkg_config_includes(pc_dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut path = std::env::var("PKG_CONFIG_PATH").unwrap_or_default();
    if !pc_dir.as_os_str().is_empty() {
        path = format!("{}:{path}", pc_dir.display());
    }
    let out = Command::new("pkg-config")
        .arg("--cflags-only-I")
        .args(PC_MODULES)
        .env("PKG_CONFIG_PATH", path)
        .output()
        .map_err(|e| format!("run pkg-config: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let mut dirs = vec![];
    for flag in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        if let Some(d) = flag.strip_prefix("-I") {
            let d = PathBuf::from(d);
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    if dirs.is_empty() {
        return Err("no -I flags".into());
    }
    Ok(dirs)
}
