//! Errors of the JSON-RPC client. A target's error answer keeps its JSON-RPC
//! code and message; negative codes in the errno range map to an [`Errno`].

use nix::errno::Errno;
use std::path::PathBuf;
use std::time::Duration;

/// Standard JSON-RPC 2.0 error codes that SPDK uses.
pub mod code {
    pub const PARSE_ERROR: i32 = -32700;
    pub const INVALID_REQUEST: i32 = -32600;
    pub const METHOD_NOT_FOUND: i32 = -32601;
    pub const INVALID_PARAMS: i32 = -32602;
    pub const INTERNAL_ERROR: i32 = -32603;
    /// SPDK: the method exists but is not allowed in the current state.
    pub const INVALID_STATE: i32 = -1;
}

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("cannot connect to {path}: {source}")]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("i/o on the RPC socket during {method}: {source}")]
    Io {
        method: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{method}: no answer within {after:?}")]
    Timeout { method: String, after: Duration },
    #[error("{method}: the target closed the connection")]
    Closed { method: String },
    #[error("{method}: malformed answer: {detail}")]
    Protocol { method: String, detail: String },
    #[error("{method}: cannot decode the result: {source}; result was {raw}")]
    Decode {
        method: String,
        raw: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{method}: JSON-RPC error {code} ({}): {message}", describe(*.code))]
    Rpc {
        method: String,
        code: i32,
        message: String,
    },
}

fn describe(code: i32) -> String {
    match code {
        code::PARSE_ERROR => "parse error".into(),
        code::INVALID_REQUEST => "invalid request".into(),
        code::METHOD_NOT_FOUND => "method not found".into(),
        code::INVALID_PARAMS => "invalid params".into(),
        code::INTERNAL_ERROR => "internal error".into(),
        c => match errno_of(c) {
            Some(e) => format!("{e:?}"),
            None => "application error".into(),
        },
    }
}

/// SPDK answers most failures with `-errno` as the JSON-RPC code.
pub fn errno_of(code: i32) -> Option<Errno> {
    if (-4095..0).contains(&code) {
        let e = Errno::from_raw(-code);
        (e != Errno::UnknownErrno).then_some(e)
    } else {
        None
    }
}

/// The errno whose `strerror()` text is `message`, as SPDK's `spdk_strerror()`
/// prints it.
pub fn errno_named(message: &str) -> Option<Errno> {
    (1..134).map(Errno::from_raw).find(|e| {
        // SAFETY: strerror returns a pointer to a NUL-terminated static string
        // (or a thread-local buffer for unknown values); it is read at once.
        let text = unsafe { std::ffi::CStr::from_ptr(nix::libc::strerror(*e as i32)) };
        text.to_str().is_ok_and(|t| t == message)
    })
}

impl RpcError {
    /// The JSON-RPC error code, if the target answered with an error.
    pub fn code(&self) -> Option<i32> {
        match self {
            RpcError::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The errno behind the error: a negative JSON-RPC code (`-19` is
    /// `ENODEV`), or, where the target answers "invalid params" or "internal
    /// error" with the errno's text as the message (SPDK v24.09 does so for its
    /// lvol operations: -32602 "Device or resource busy"), the errno that text
    /// names.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            RpcError::Rpc { code, message, .. } => errno_of(*code).or_else(|| {
                matches!(*code, code::INVALID_PARAMS | code::INTERNAL_ERROR)
                    .then(|| errno_named(message))
                    .flatten()
            }),
            _ => None,
        }
    }

    pub fn message(&self) -> Option<&str> {
        match self {
            RpcError::Rpc { message, .. } => Some(message),
            _ => None,
        }
    }

    pub fn is_method_not_found(&self) -> bool {
        self.code() == Some(code::METHOD_NOT_FOUND)
    }

    /// True when the target itself is gone (as opposed to answering an error).
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            RpcError::Connect { .. }
                | RpcError::Io { .. }
                | RpcError::Closed { .. }
                | RpcError::Timeout { .. }
        )
    }
}

pub type Result<T, E = RpcError> = std::result::Result<T, E>;
