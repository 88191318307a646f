//! One persistent JSON-RPC 2.0 connection to an SPDK target.
//!
//! SPDK drops answers to a connection that was half-closed after the request,
//! so the socket stays open for the life of the client. Answers are framed by
//! a streaming JSON parser over a byte buffer: a partial value waits for more
//! bytes, several values in one read are all kept. Ids only increase, and
//! answers that arrive for another outstanding id are parked until asked for,
//! so requests may be pipelined.

use crate::error::{Result, RpcError};
use crate::Rpc;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A request that was sent and whose answer has not been taken yet.
#[derive(Debug)]
#[must_use = "an answer must be waited for with Client::wait"]
pub struct Pending {
    id: u64,
    method: String,
}

impl Pending {
    pub fn method(&self) -> &str {
        &self.method
    }
}

pub struct Client {
    path: PathBuf,
    stream: UnixStream,
    next_id: u64,
    buf: Vec<u8>,
    parked: HashMap<u64, Value>,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("path", &self.path)
            .field("next_id", &self.next_id)
            .finish()
    }
}

impl Client {
    pub fn connect(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let stream = UnixStream::connect(&path).map_err(|source| RpcError::Connect {
            path: path.clone(),
            source,
        })?;
        Ok(Client {
            path,
            stream,
            next_id: 1,
            buf: Vec::with_capacity(64 * 1024),
            parked: HashMap::new(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The default per-call timeout; [`Client::call_timeout`] overrides it once.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Call a typed RPC and decode its result.
    pub fn call<R: Rpc>(&mut self, req: &R) -> Result<R::Result> {
        let t = self.timeout;
        self.call_timeout(req, t)
    }

    pub fn call_timeout<R: Rpc>(&mut self, req: &R, timeout: Duration) -> Result<R::Result> {
        let p = self.send(req)?;
        self.wait_typed::<R>(p, timeout)
    }

    /// Send a typed request without waiting for its answer.
    pub fn send<R: Rpc>(&mut self, req: &R) -> Result<Pending> {
        let params = serde_json::to_value(req).map_err(|e| RpcError::Protocol {
            method: R::METHOD.into(),
            detail: format!("cannot encode params: {e}"),
        })?;
        let params = match params {
            Value::Null => None,
            Value::Object(m) if m.is_empty() && R::OMIT_EMPTY_PARAMS => None,
            v => Some(v),
        };
        self.send_raw(R::METHOD, params)
    }

    /// Wait for the answer to `p` and decode it as `R::Result`.
    pub fn wait_typed<R: Rpc>(&mut self, p: Pending, timeout: Duration) -> Result<R::Result> {
        let method = p.method.clone();
        let v = self.wait(p, timeout)?;
        serde_json::from_value(v.clone()).map_err(|source| RpcError::Decode {
            method,
            raw: v.to_string(),
            source,
        })
    }

    /// Send any method with any params (for bad-input tests and ad-hoc calls).
    pub fn send_raw(&mut self, method: &str, params: Option<Value>) -> Result<Pending> {
        let id = self.next_id;
        self.next_id += 1;
        let mut req = serde_json::json!({"jsonrpc": "2.0", "method": method, "id": id});
        if let Some(p) = params {
            req["params"] = p;
        }
        let bytes = serde_json::to_vec(&req).expect("a JSON value always encodes");
        self.write_all(method, &bytes)?;
        Ok(Pending {
            id,
            method: method.into(),
        })
    }

    /// Send raw bytes, as-is, on the connection (for malformed-input tests).
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.write_all("<raw bytes>", bytes)
    }

    pub fn call_raw(&mut self, method: &str, params: Option<Value>) -> Result<Value> {
        let p = self.send_raw(method, params)?;
        let t = self.timeout;
        self.wait(p, t)
    }

    fn write_all(&mut self, method: &str, bytes: &[u8]) -> Result<()> {
        self.stream
            .set_write_timeout(Some(self.timeout))
            .and_then(|_| self.stream.write_all(bytes))
            .and_then(|_| self.stream.flush())
            .map_err(|source| RpcError::Io {
                method: method.into(),
                source,
            })
    }

    /// Wait for the answer of a sent request: its result, or its error.
    pub fn wait(&mut self, p: Pending, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(resp) = self.parked.remove(&p.id) {
                return answer(&p.method, resp);
            }
            let resp = self.read_value(&p.method, deadline, timeout)?;
            let Some(id) = resp.get("id").and_then(Value::as_u64) else {
                // SPDK answers a request it could not parse with id null.
                if resp.get("error").is_some() {
                    return answer(&p.method, resp);
                }
                return Err(RpcError::Protocol {
                    method: p.method,
                    detail: format!("answer without an id: {resp}"),
                });
            };
            if id == p.id {
                return answer(&p.method, resp);
            }
            self.parked.insert(id, resp);
        }
    }

    /// The answer to `p` if it has arrived, without waiting for it: `None`
    /// while it has not (answers to other requests that arrive meanwhile are
    /// parked), else the answer or its error. `p` stays pending until
    /// [`Client::wait`] takes it; an answer seen here is parked for that.
    pub fn try_answer(&mut self, p: &Pending) -> Option<Result<Value>> {
        loop {
            if let Some(resp) = self.parked.get(&p.id) {
                return Some(answer(&p.method, resp.clone()));
            }
            let tick = Duration::from_millis(1);
            let resp = match self.read_value(&p.method, Instant::now() + tick, tick) {
                Ok(v) => v,
                Err(RpcError::Timeout { .. }) => return None,
                Err(e) => return Some(Err(e)),
            };
            match resp.get("id").and_then(Value::as_u64) {
                Some(id) => {
                    self.parked.insert(id, resp);
                }
                None => return Some(answer(&p.method, resp)),
            }
        }
    }

    /// Read one complete JSON value from the connection.
    pub fn read_value(
        &mut self,
        method: &str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Value> {
        loop {
            if let Some(v) = self.take_buffered(method)? {
                return Ok(v);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RpcError::Timeout {
                    method: method.into(),
                    after: timeout,
                });
            }
            self.stream
                .set_read_timeout(Some(left))
                .map_err(|source| RpcError::Io {
                    method: method.into(),
                    source,
                })?;
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(RpcError::Closed {
                        method: method.into(),
                    })
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(RpcError::Timeout {
                        method: method.into(),
                        after: timeout,
                    })
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    return Err(RpcError::Closed {
                        method: method.into(),
                    })
                }
                Err(source) => {
                    return Err(RpcError::Io {
                        method: method.into(),
                        source,
                    })
                }
            }
        }
    }

    /// Take the first complete JSON value out of the buffer, if there is one.
    fn take_buffered(&mut self, method: &str) -> Result<Option<Value>> {
        let start = self.buf.iter().position(|b| !b.is_ascii_whitespace());
        let Some(start) = start else {
            self.buf.clear();
            return Ok(None);
        };
        let mut it = serde_json::Deserializer::from_slice(&self.buf[start..]).into_iter::<Value>();
        match it.next() {
            Some(Ok(v)) => {
                let end = start + it.byte_offset();
                self.buf.drain(..end);
                Ok(Some(v))
            }
            Some(Err(e)) if e.is_eof() => Ok(None),
            Some(Err(e)) => Err(RpcError::Protocol {
                method: method.into(),
                detail: format!("undecodable bytes from the target: {e}"),
            }),
            None => Ok(None),
        }
    }
}

fn answer(method: &str, resp: Value) -> Result<Value> {
    if let Some(err) = resp.get("error") {
        let code = err.get("code").and_then(Value::as_i64);
        let message = err.get("message").and_then(Value::as_str).unwrap_or("");
        return match code {
            Some(code) => Err(RpcError::Rpc {
                method: method.into(),
                code: code as i32,
                message: message.into(),
            }),
            None => Err(RpcError::Protocol {
                method: method.into(),
                detail: format!("error without a code: {resp}"),
            }),
        };
    }
    match resp.get("result") {
        Some(v) => Ok(v.clone()),
        None => Err(RpcError::Protocol {
            method: method.into(),
            detail: format!("answer with neither result nor error: {resp}"),
        }),
    }
}

/// Serialize helper for requests without params.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct NoParams {}
