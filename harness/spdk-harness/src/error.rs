use spdk_rpc::RpcError;
use std::path::PathBuf;

/// Why a harness step or a scenario check failed. Every variant's message
/// says what was expected and what was seen, so a failing scenario names the
/// bug rather than an exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("SPDK build not usable: {0}")]
    Build(String),
    #[error("spdk_tgt ({name}) did not become ready: {why}\n--- log tail ({log}) ---\n{tail}")]
    Start {
        name: String,
        why: String,
        log: PathBuf,
        tail: String,
    },
    #[error("spdk_tgt ({name}) is not running: {why}\n--- log tail ({log}) ---\n{tail}")]
    TargetDied {
        name: String,
        why: String,
        log: PathBuf,
        tail: String,
    },
    #[error("{context}: {source}")]
    Rpc {
        context: String,
        #[source]
        source: RpcError,
    },
    #[error("{0}")]
    Check(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Tool(String),
    #[error("timed out after {secs:.1}s waiting for {what}")]
    Timeout { what: String, secs: f64 },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The RPC error behind this failure, if any.
    pub fn rpc(&self) -> Option<&RpcError> {
        match self {
            Error::Rpc { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub trait Context<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, RpcError> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Rpc {
            context: context(),
            source,
        })
    }
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            what: context(),
            source,
        })
    }
}

/// Run `f`; a panic in it is its failure ("`who` panicked: ..."), not the
/// end of the run.
pub fn catch_panic<T>(who: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let what = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".into());
        Err(Error::Check(format!("{who} panicked: {what}")))
    })
}

/// Fail the current check with a formatted message.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => { return Err($crate::Error::Check(format!($($arg)*))) };
}

/// Check a condition; the message says what was expected.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond { $crate::fail!($($arg)*); }
    };
}

/// Check equality; the message carries both values.
#[macro_export]
macro_rules! ensure_eq {
    ($got:expr, $want:expr, $($arg:tt)*) => {
        // A match keeps temporaries in $got alive for the comparison.
        match (&$got, &$want) {
            (g, w) => {
                if g != w {
                    $crate::fail!("{}: expected {:?}, got {:?}", format!($($arg)*), w, g);
                }
            }
        }
    };
}
