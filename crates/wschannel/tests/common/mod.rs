//! A scripted raw-frame peer (h2's mock-peer style): the test writes frame bytes and reads
//! frame bytes, so each test reads as a dialogue.
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// A client builder for tests: no proxy, whatever the environment of the developer or CI
/// says (the proxy tests set their proxies explicitly).
pub fn client() -> wschannel::ClientBuilder {
    wschannel::ClientBuilder::new().no_proxy()
}

/// `wschannel::connect` without the environment's proxy.
pub async fn connect(url: &str) -> Result<wschannel::Channel, wschannel::Error> {
    client().connect(url).await
}

/// Wraps every future a test awaits: a hang fails the test instead of the CI run.
pub async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f).await.expect("the test timed out")
}

/// One frame as the peer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The close code of a close frame.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == 0x8 && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// The peer end of the duplex.
pub struct Peer {
    pub io: DuplexStream,
    /// Mask frames (the peer plays a client).
    pub mask: bool,
}

impl Peer {
    /// Encodes one frame (RFC 6455 §5.2), masking with a fixed key when the peer is a client.
    pub fn encode(&self, fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(u8::from(fin) << 7) | opcode];
        let mask_bit = if self.mask { 0x80 } else { 0x00 };
        match payload.len() {
            n if n < 126 => out.push(mask_bit | n as u8),
            n if n <= 0xFFFF => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        if self.mask {
            let key = [0x37, 0xfa, 0x21, 0x3d];
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        } else {
            out.extend_from_slice(payload);
        }
        out
    }

    /// Writes raw bytes.
    pub async fn write_raw(&mut self, bytes: &[u8]) {
        within(self.io.write_all(bytes)).await.expect("peer write");
    }

    /// Writes one frame.
    pub async fn send(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
        let bytes = self.encode(fin, opcode, payload);
        self.write_raw(&bytes).await;
    }

    /// Reads one frame, unmasking it; `None` at EOF.
    pub async fn recv(&mut self) -> Option<Frame> {
        within(self.recv_inner()).await
    }

    async fn recv_inner(&mut self) -> Option<Frame> {
        let mut head = [0u8; 2];
        self.io.read_exact(&mut head).await.ok()?;
        let fin = head[0] & 0x80 != 0;
        let opcode = head[0] & 0x0F;
        let masked = head[1] & 0x80 != 0;
        let len = match head[1] & 0x7F {
            126 => {
                let mut b = [0u8; 2];
                self.io.read_exact(&mut b).await.ok()?;
                u64::from(u16::from_be_bytes(b))
            }
            127 => {
                let mut b = [0u8; 8];
                self.io.read_exact(&mut b).await.ok()?;
                u64::from_be_bytes(b)
            }
            n => u64::from(n),
        };
        let mut key = [0u8; 4];
        if masked {
            self.io.read_exact(&mut key).await.ok()?;
        }
        let mut payload = vec![0u8; len as usize];
        self.io.read_exact(&mut payload).await.ok()?;
        if masked {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        Some(Frame { fin, opcode, masked, payload })
    }

    /// Reads until EOF, returning the frames seen.
    pub async fn recv_until_eof(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(f) = self.recv().await {
            frames.push(f);
        }
        frames
    }
}

/// A close frame payload: code then reason.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

// ---- real peers (installed by scripts/test) -------------------------------------------------

/// `tests/peers/`: the peer scripts and their pinned requirements.
pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers")
}

/// Python with `websockets`, as installed by `scripts/test`.
pub fn peer_python() -> PathBuf {
    match std::env::var_os("WSCHANNEL_PEER_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => panic!(
            "WSCHANNEL_PEER_PYTHON is not set: run the interop tests with scripts/test, which \
             installs Python websockets and sets it"
        ),
    }
}

/// Node modules with `ws` and `playwright-core`, as installed by `scripts/test`.
pub fn peer_node_modules() -> PathBuf {
    match std::env::var_os("WSCHANNEL_PEER_NODE_MODULES") {
        Some(p) => PathBuf::from(p),
        None => panic!(
            "WSCHANNEL_PEER_NODE_MODULES is not set: run the tests with scripts/test, which \
             installs Node ws and playwright-core and sets it"
        ),
    }
}
