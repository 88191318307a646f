//! The client against a scripted fake SPDK socket: framing, ids, pipelining,
//! errors, timeouts and the no-half-close rule.

use rstest::rstest;
use serde_json::{json, Value};
use spdk_rpc::methods::{BdevLvolDelete, BdevLvolGetLvstores, RpcGetMethods};
use spdk_rpc::{Client, Errno, RpcError};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

/// Reads requests one JSON value at a time, like SPDK's server does.
struct Peer {
    s: UnixStream,
    buf: Vec<u8>,
}

impl Peer {
    fn request(&mut self) -> Value {
        loop {
            let mut it = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
            match it.next() {
                Some(Ok(v)) => {
                    let n = it.byte_offset();
                    self.buf.drain(..n);
                    return v;
                }
                Some(Err(e)) if !e.is_eof() => panic!("client sent bad JSON: {e}"),
                _ => {}
            }
            let mut chunk = [0u8; 4096];
            let n = self.s.read(&mut chunk).unwrap();
            assert!(n > 0, "client closed or half-closed its side");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).unwrap();
    }

    /// The client must keep its write side open while it waits for an answer.
    fn assert_not_half_closed(&mut self) {
        self.s
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut b = [0u8; 1];
        match self.s.read(&mut b) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Ok(0) => panic!("client half-closed the connection before the answer"),
            other => panic!("unexpected read: {other:?}"),
        }
        self.s.set_read_timeout(None).unwrap();
    }
}

fn serve(
    script: impl FnOnce(Peer) + Send + 'static,
) -> (tempfile::TempDir, PathBuf, JoinHandle<()>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fake.sock");
    let l = UnixListener::bind(&path).unwrap();
    let h = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        script(Peer { s, buf: vec![] });
    });
    (dir, path, h)
}

fn ok(id: &Value, result: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": id, "result": result})).unwrap()
}

#[test]
fn answer_split_across_writes_is_reassembled() {
    let (_d, path, h) = serve(|mut p| {
        let req = p.request();
        assert_eq!(req["method"], "rpc_get_methods");
        assert!(req.get("params").is_none(), "empty params must be omitted");
        p.assert_not_half_closed();
        let bytes = ok(&req["id"], json!(["a", "b", "bdev_lvol_get_lvols"]));
        for part in bytes.chunks(7) {
            p.send(part);
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let mut c = Client::connect(&path).unwrap();
    let m = c.call(&RpcGetMethods::default()).unwrap();
    assert_eq!(m, vec!["a", "b", "bdev_lvol_get_lvols"]);
    h.join().unwrap();
}

#[test]
fn ids_increase_and_out_of_order_answers_are_matched() {
    let (_d, path, h) = serve(|mut p| {
        let a = p.request();
        let b = p.request();
        assert!(b["id"].as_u64().unwrap() > a["id"].as_u64().unwrap());
        // Both answers in one write, the second request's first.
        let mut bytes = ok(&b["id"], json!(true));
        bytes.extend(b"\n");
        bytes.extend(ok(&a["id"], json!([])));
        p.send(&bytes);
        let c = p.request();
        assert!(c["id"].as_u64().unwrap() > b["id"].as_u64().unwrap());
        p.send(&ok(&c["id"], json!(true)));
    });
    let mut c = Client::connect(&path).unwrap();
    let pa = c.send(&BdevLvolGetLvstores::default()).unwrap();
    let pb = c.send(&BdevLvolDelete { name: "x".into() }).unwrap();
    let a = c
        .wait_typed::<BdevLvolGetLvstores>(pa, Duration::from_secs(5))
        .unwrap();
    let b = c
        .wait_typed::<BdevLvolDelete>(pb, Duration::from_secs(5))
        .unwrap();
    assert!(a.is_empty());
    assert!(b);
    assert!(c.call(&BdevLvolDelete { name: "y".into() }).unwrap());
    h.join().unwrap();
}

#[rstest]
#[case(-19, Some(Errno::ENODEV), false)]
#[case(-16, Some(Errno::EBUSY), false)]
#[case(-3, Some(Errno::ESRCH), false)]
#[case(-32601, None, true)]
#[case(-32602, None, false)]
fn error_answers_keep_code_and_errno(
    #[case] code: i32,
    #[case] errno: Option<Errno>,
    #[case] not_found: bool,
) {
    let (_d, path, h) = serve(move |mut p| {
        let req = p.request();
        let resp =
            json!({"jsonrpc": "2.0", "id": req["id"], "error": {"code": code, "message": "boom"}});
        p.send(&serde_json::to_vec(&resp).unwrap());
    });
    let mut c = Client::connect(&path).unwrap();
    let e = c.call(&BdevLvolDelete { name: "x".into() }).unwrap_err();
    assert_eq!(e.code(), Some(code));
    assert_eq!(e.errno(), errno);
    assert_eq!(e.is_method_not_found(), not_found);
    assert_eq!(e.message(), Some("boom"));
    assert!(!e.is_transport());
    assert!(e.to_string().contains("bdev_lvol_delete"), "{e}");
    h.join().unwrap();
}

/// SPDK v24.09 answers lvol operations with "invalid params" or "internal
/// error" and the errno's text: the errno still comes out, and only from an
/// exact strerror() text.
#[rstest]
#[case(-32602, "Device or resource busy", Some(Errno::EBUSY))]
#[case(-32602, "Invalid argument", Some(Errno::EINVAL))]
#[case(-32603, "Interrupted system call", Some(Errno::EINTR))]
#[case(-32603, "spdk_json_decode_object failed", None)]
#[case(-32601, "Invalid argument", None)]
#[case(-22, "anything", Some(Errno::EINVAL))]
fn errno_from_the_message_of_older_bases(
    #[case] code: i32,
    #[case] message: &'static str,
    #[case] errno: Option<Errno>,
) {
    let (_d, path, h) = serve(move |mut p| {
        let req = p.request();
        let resp =
            json!({"jsonrpc": "2.0", "id": req["id"], "error": {"code": code, "message": message}});
        p.send(&serde_json::to_vec(&resp).unwrap());
    });
    let mut c = Client::connect(&path).unwrap();
    let e = c.call(&BdevLvolDelete { name: "x".into() }).unwrap_err();
    assert_eq!(e.code(), Some(code));
    assert_eq!(e.errno(), errno, "{e}");
    h.join().unwrap();
}

#[test]
fn no_answer_is_a_timeout_and_the_connection_stays_usable() {
    let (_d, path, h) = serve(|mut p| {
        let first = p.request();
        let second = p.request();
        // Answer the late first request only now, then the second.
        p.send(&ok(&first["id"], json!(false)));
        p.send(&ok(&second["id"], json!(true)));
    });
    let mut c = Client::connect(&path).unwrap();
    let e = c
        .call_timeout(
            &BdevLvolDelete { name: "x".into() },
            Duration::from_millis(100),
        )
        .unwrap_err();
    assert!(matches!(e, RpcError::Timeout { .. }), "{e:?}");
    assert!(c.call(&BdevLvolDelete { name: "y".into() }).unwrap());
    h.join().unwrap();
}

#[test]
fn closed_connection_is_reported() {
    let (_d, path, h) = serve(|mut p| {
        p.request();
        drop(p);
    });
    let mut c = Client::connect(&path).unwrap();
    let e = c.call(&BdevLvolDelete { name: "x".into() }).unwrap_err();
    assert!(matches!(e, RpcError::Closed { .. }), "{e:?}");
    assert!(e.is_transport());
    h.join().unwrap();
}

#[test]
fn wrong_result_type_is_a_decode_error_with_the_raw_value() {
    let (_d, path, h) = serve(|mut p| {
        let req = p.request();
        p.send(&ok(&req["id"], json!({"unexpected": 1})));
    });
    let mut c = Client::connect(&path).unwrap();
    let e = c.call(&BdevLvolDelete { name: "x".into() }).unwrap_err();
    match e {
        RpcError::Decode { raw, .. } => assert!(raw.contains("unexpected")),
        other => panic!("expected a decode error, got {other:?}"),
    }
    h.join().unwrap();
}

#[test]
fn garbage_from_the_target_is_a_protocol_error() {
    let (_d, path, h) = serve(|mut p| {
        p.request();
        p.send(b"}}not json");
    });
    let mut c = Client::connect(&path).unwrap();
    let e = c.call(&BdevLvolDelete { name: "x".into() }).unwrap_err();
    assert!(matches!(e, RpcError::Protocol { .. }), "{e:?}");
    h.join().unwrap();
}

#[test]
fn connect_to_a_missing_socket_fails_with_its_path() {
    let e = Client::connect("/nonexistent/spdk.sock").unwrap_err();
    assert!(matches!(e, RpcError::Connect { .. }));
    assert!(e.to_string().contains("/nonexistent/spdk.sock"));
}
