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
    "spdk/crc64.h" spdk_crc64_iso: unsafe extern "C" fn(*const c_void, usize, u64) -> u64;
    "spdk/crc64.h" spdk_crc64_iso_combine: unsafe extern "C" fn(u64, u64, u64) -> u64;
    "spdk/blob.h" spdk_bs_checksum_opts_init: unsafe extern "C" fn(*mut spdk_bs_checksum_opts, usize);
    "spdk/blob.h" spdk_bs_blob_store_checksum: unsafe extern "C" fn(*mut spdk_blob_store, *mut spdk_io_channel, spdk_blob_id, *const spdk_bs_checksum_opts, spdk_blob_op_with_checksum_complete, *mut c_void);
    "spdk/blob.h" spdk_bs_blob_stop_checksum: unsafe extern "C" fn(*mut spdk_blob_store, spdk_blob_id, spdk_blob_op_complete, *mut c_void);
    "spdk/blob.h" spdk_blob_get_checksum: unsafe extern "C" fn(*mut spdk_blob, *mut u64) -> i32;
    "spdk/blob.h" spdk_blob_get_cluster_checksums: unsafe extern "C" fn(*mut spdk_blob, u64, u64, *mut spdk_blob_cluster_checksum, *mut u64) -> i32;
    "spdk/lvol.h" spdk_lvol_register_snapshot_checksum: unsafe extern "C" fn(*mut spdk_lvol, bool, spdk_lvol_op_complete, *mut c_void);
    "spdk/lvol.h" spdk_lvol_register_snapshot_checksum_ext: unsafe extern "C" fn(*mut spdk_lvol, *const spdk_bs_checksum_opts, spdk_lvol_op_complete, *mut c_void);
    "spdk/lvol.h" spdk_lvol_stop_snapshot_checksum: unsafe extern "C" fn(*mut spdk_lvol, spdk_lvol_op_complete, *mut c_void);
    "spdk/lvol.h" spdk_lvol_get_snapshot_checksum: unsafe extern "C" fn(*mut spdk_lvol, *mut u64) -> i32;
    "spdk/lvol.h" spdk_lvol_get_snapshot_cluster_checksums: unsafe extern "C" fn(*mut spdk_lvol, u64, u64, *mut spdk_blob_cluster_checksum, *mut u64) -> i32;
    "vbdev_lvol.h" vbdev_lvol_register_snapshot_checksum: unsafe extern "C" fn(*mut spdk_lvol, *const spdk_bs_checksum_opts, spdk_lvol_op_complete, *mut c_void);
    "vbdev_lvol.h" vbdev_lvol_stop_snapshot_checksum: unsafe extern "C" fn(*mut spdk_lvol, u64, spdk_lvol_op_complete, *mut c_void);
}
