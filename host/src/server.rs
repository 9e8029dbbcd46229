//! Binds the listeners and runs the platform until shutdown. Used by `waygate up` and by
//! the end-to-end tests (which bind port 0).

use crate::platform::{Platform, PlatformConfig};
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct Server {
    pub admin_addr: SocketAddr,
    pub platform: Arc<Platform>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    /// Opens the platform (blocking work: integrity checks, compiles) and starts serving.
    pub async fn start(config: PlatformConfig, admin_addr: SocketAddr) -> anyhow::Result<Server> {
        let platform = tokio::task::spawn_blocking(move || Platform::open(config)).await??;
        let admin = TcpListener::bind(admin_addr)
            .await
            .with_context(|| format!("binding the admin listener on {admin_addr}"))?;
        let admin_addr = admin.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let app = crate::control::app(platform.clone());
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(e) = axum::serve(admin, app).with_graceful_shutdown(shutdown).await {
                tracing::error!(error = %e, "admin listener failed");
            }
        });
        Ok(Server { admin_addr, platform, shutdown: Some(tx), task })
    }

    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin_addr)
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the listeners.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Runs until the listener task ends (e.g. after `shutdown` from a signal handler).
    pub async fn wait(&mut self) {
        let _ = (&mut self.task).await;
    }

    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
