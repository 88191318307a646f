//! Typed JSON-RPC client for SPDK targets.
//!
//! ```no_run
//! use spdk_rpc::{Client, methods::RpcGetMethods};
//! let mut c = Client::connect("/var/tmp/spdk.sock")?;
//! let methods = c.call(&RpcGetMethods::default())?;
//! assert!(methods.iter().any(|m| m == "bdev_lvol_get_lvols"));
//! # Ok::<(), spdk_rpc::RpcError>(())
//! ```

pub mod client;
pub mod error;
pub mod methods;

pub use client::{Client, Pending, DEFAULT_TIMEOUT};
pub use error::{code, errno_of, Result, RpcError};
pub use nix::errno::Errno;

/// A JSON-RPC method: its request is `Self`, its answer `Self::Result`.
pub trait Rpc: serde::Serialize {
    const METHOD: &'static str;
    type Result: serde::de::DeserializeOwned;
    /// Send no `params` at all when the request has no fields set. Some SPDK
    /// methods reject an empty object where they take no params.
    const OMIT_EMPTY_PARAMS: bool = false;
}
