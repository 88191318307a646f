//! Bindings to the patched SPDK tree, kept to what the harness uses: the
//! public APIs our patch series adds (listed in `apis.rs`, one line each) and
//! the blobstore's on-disk layout from `lib/blob/blobstore.h` (super block,
//! used-mask header, metadata page, descriptor types, the xattr, flags and
//! extent descriptors, their flag bits and the internal xattr names).
//!
//! # Where the SPDK tree comes from
//!
//! `build.rs` uses, in this order:
//!
//! 1. `SPDK_TREE=/path/to/spdk`, a built SPDK tree (as for the rest of the
//!    harness, e.g. a negative control against an unpatched build);
//! 2. `<workspace>/build/${SPDK_BASE:-master}/spdk`, what `make build` makes;
//! 3. the tree behind whatever `spdk_blob.pc` `pkg-config` finds on
//!    `PKG_CONFIG_PATH` (its `-I<tree>/build/include`).
//!
//! The public headers are found through the tree's own pkg-config files
//! (`<tree>/build/lib/pkgconfig/spdk_{blob,lvol,bdev_lvol}.pc`), so they are
//! the copies the tree's libraries and `spdk_tgt` were built with; internal
//! headers come from the tree (`lib/blob`, `module/bdev/lvol`, `include`).
//! bindgen needs libclang (`ci/setup.sh` installs `libclang-dev`). Generated
//! code goes to `OUT_DIR` only.
//!
//! # Drift checks
//!
//! - Every function in `apis.rs` is bound and, at compile time, coerced to the
//!   exact signature written there: a renamed or removed function or a changed
//!   parameter type fails the build of this crate. The check is a `const`
//!   item, which is type-checked but never turned into code, so nothing here
//!   links against SPDK.
//! - `shim/layout.c`, compiled with `cc` against the same headers,
//!   `_Static_assert`s the layout assumptions of an independent reader and
//!   exports sizes, offsets and constants ([`layout`]) that `lvs-inspect`'s
//!   tests compare with its own parser constants.
//! - bindgen's layout tests check the Rust structs against clang's layout.

#![allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    clippy::all
)]

/// What bindgen generated from the tree's headers.
pub mod bindings {
    /// A blobstore handle (`struct spdk_blob_store`, only forward-declared by
    /// `spdk/blob.h`).
    #[repr(C)]
    pub struct spdk_blob_store {
        _private: [u8; 0],
    }

    /// A blob handle (`struct spdk_blob`, only forward-declared by `spdk/blob.h`).
    #[repr(C)]
    pub struct spdk_blob {
        _private: [u8; 0],
    }

    /// An lvol handle (`struct spdk_lvol`, only forward-declared by `spdk/lvol.h`).
    #[repr(C)]
    pub struct spdk_lvol {
        _private: [u8; 0],
    }

    /// An I/O channel (`struct spdk_io_channel`, opaque to its users).
    #[repr(C)]
    pub struct spdk_io_channel {
        _private: [u8; 0],
    }

    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}

pub use bindings::*;

/// The SPDK tree these bindings were generated from.
pub const TREE: &str = env!("SPDK_SYS_TREE");

mod series {
    use super::bindings::*;
    #[allow(unused_imports)]
    use std::ffi::c_void;

    macro_rules! series_apis {
        ($($header:literal $name:ident : $sig:ty;)*) => {
            /// The series' public APIs bound here: (header, function name).
            pub const SERIES_APIS: &[(&str, &str)] = &[$(($header, stringify!($name))),*];
            // Type-checked, never called or linked: the binding must have
            // exactly the signature `apis.rs` states.
            $(const _: $sig = $name;)*
        };
    }
    include!("../apis.rs");
}

pub use series::SERIES_APIS;

#[repr(C)]
struct LayoutEntry {
    name: *const std::ffi::c_char,
    value: u64,
}

extern "C" {
    static spdk_sys_layout: [LayoutEntry; 0];
    static spdk_sys_layout_len: usize;
    fn spdk_sys_extents_per_ep() -> u64;
    fn spdk_sys_page_to_blobid(page_idx: u64) -> u64;
    fn spdk_sys_blobid_to_page(id: u64) -> u64;
}

/// Sizes, offsets and constants of the on-disk layout as the C compiler sees
/// them, by name (`"super.md_start"`, `"page.next"`, `"desc.type_xattr"`,
/// `"extents_per_extent_page"`, ...).
pub fn layout() -> Vec<(&'static str, u64)> {
    // SAFETY: the shim defines a static array of `spdk_sys_layout_len`
    // entries whose names are static NUL-terminated string literals.
    let mut v: Vec<(&'static str, u64)> = unsafe {
        let base = std::ptr::addr_of!(spdk_sys_layout) as *const LayoutEntry;
        (0..spdk_sys_layout_len)
            .map(|i| {
                let e = &*base.add(i);
                let name = std::ffi::CStr::from_ptr(e.name)
                    .to_str()
                    .expect("layout names are ASCII");
                (name, e.value)
            })
            .collect()
    };
    // SAFETY: pure functions of the shim.
    v.push(("extents_per_extent_page", unsafe {
        spdk_sys_extents_per_ep()
    }));
    v
}

/// `bs_page_to_blobid()` (a static inline of blobstore.h), through the shim.
pub fn page_to_blobid(page_idx: u64) -> u64 {
    // SAFETY: a pure function of the shim.
    unsafe { spdk_sys_page_to_blobid(page_idx) }
}

/// `bs_blobid_to_page()`, through the shim.
pub fn blobid_to_page(id: u64) -> u64 {
    // SAFETY: a pure function of the shim.
    unsafe { spdk_sys_blobid_to_page(id) }
}
