//! Drives patched `spdk_tgt` builds and checks what they do: bytes read back
//! over NVMe-oF/TCP, cluster counts, parent links and JSON-RPC error codes,
//! before and after restarts.

pub mod bench;
pub mod build;
pub mod crash;
pub mod cross;
pub mod cross_disks;
pub mod data;
pub mod error;
pub mod faults;
pub mod lab;
pub mod offline;
pub mod outcome;
pub mod races;
pub mod report;
pub mod scenarios;
pub mod steps;
pub mod target;

pub use error::{Error, Result};
pub use lab::{Lab, Restart};
