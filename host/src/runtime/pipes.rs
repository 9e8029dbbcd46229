//! The guest's stderr: a bounded, truncating log buffer.
//!
//! Why not `MemoryOutputPipe` (used for stdout): it fails writes once full, and a Rust
//! guest panics when `eprintln!` fails, so a chatty function would crash because of its
//! logs. Logs are best-effort: past the cap they are dropped and the REPORT says so.

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

#[derive(Clone)]
pub struct LogPipe {
    inner: Arc<Mutex<LogBuf>>,
}

struct LogBuf {
    buf: BytesMut,
    cap: usize,
    truncated: bool,
}

impl LogPipe {
    pub fn new(cap: usize) -> Self {
        LogPipe { inner: Arc::new(Mutex::new(LogBuf { buf: BytesMut::new(), cap, truncated: false })) }
    }

    fn push(&self, bytes: &[u8]) {
        let mut b = self.inner.lock();
        let room = b.cap.saturating_sub(b.buf.len());
        if bytes.len() > room {
            b.truncated = true;
        }
        let take = bytes.len().min(room);
        b.buf.extend_from_slice(&bytes[..take]);
    }

    /// The captured bytes and whether anything was dropped.
    pub fn contents(&self) -> (Bytes, bool) {
        let b = self.inner.lock();
        (b.buf.clone().freeze(), b.truncated)
    }
}

impl IsTerminal for LogPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for LogPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        // Always accept: overflow is dropped, never an error for the guest.
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogPipe {
    async fn ready(&mut self) {}
}

impl AsyncWrite for LogPipe {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
