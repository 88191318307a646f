// The public APIs our patch series adds, one line each:
//
//     "<header, as it is included>" <name>: <its exact Rust signature>;
//
// build.rs reads this list to bind the functions (bindgen allowlist) and
// src/lib.rs to check, at compile time, that each binding has exactly this
// signature. A function the series renames or removes, or a parameter whose
// type changes, breaks the build of spdk-sys. Adding an API of a later patch
// (the checksum pass and stop, say) is one more line here.
//
// The types are those bindgen generates (`spdk_blob_id` is `u64`, callbacks
// are `Option<unsafe extern "C" fn(...)>`), and `c_void` is `std::ffi::c_void`.
series_apis! {
    "spdk/blob.h" spdk_bs_blob_detach_parent: unsafe extern "C" fn(*mut spdk_blob_store, spdk_blob_id, spdk_blob_op_complete, *mut c_void);
    "spdk/lvol.h" spdk_lvol_detach_parent: unsafe extern "C" fn(*mut spdk_lvol, spdk_lvol_op_complete, *mut c_void);
    "vbdev_lvol.h" vbdev_lvol_detach_parent: unsafe extern "C" fn(*mut spdk_lvol, spdk_lvol_op_complete, *mut c_void);
    "spdk/blob.h" spdk_blob_is_busy: unsafe extern "C" fn(*const spdk_blob) -> bool;
    "spdk/lvol.h" spdk_lvol_is_busy: unsafe extern "C" fn(*mut spdk_lvol) -> bool;
}
