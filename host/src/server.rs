//! Binds the listeners and runs the platform until shutdown. Used by `waygate up` and by
//! the end-to-end tests (which bind port 0).

use crate::platform::{Platform, PlatformConfig};
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub struct Server {
    pub admin_addr: SocketAddr,
    pub gateway_addr: SocketAddr,
    pub platform: Arc<Platform>,
    shutdown: Option<tokio::sync::watch::Sender<bool>>,
    task: JoinHandle<()>,
}

impl Server {
    /// Opens the platform (blocking work: integrity checks, compiles) and starts serving:
    /// `admin_addr` the management API, `gateway_addr` the stages' invoke URLs.
    pub async fn start(
        config: PlatformConfig,
        admin_addr: SocketAddr,
        gateway_addr: SocketAddr,
    ) -> anyhow::Result<Server> {
        let admin = TcpListener::bind(admin_addr)
            .await
            .with_context(|| format!("binding the admin listener on {admin_addr}"))?;
        let gateway = TcpListener::bind(gateway_addr)
            .await
            .with_context(|| format!("binding the gateway listener on {gateway_addr}"))?;
        let (admin_addr, gateway_addr) = (admin.local_addr()?, gateway.local_addr()?);
        let platform = tokio::task::spawn_blocking(move || Platform::open(config, gateway_addr)).await??;
        let (tx, rx) = tokio::sync::watch::channel(false);
        let admin_app = crate::control::app(platform.clone());
        let gateway_app = crate::gateway::app(platform.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|v| *v).await;
        };
        let (admin_stop, gateway_stop) = (stopped(rx.clone()), stopped(rx));
        let task = tokio::spawn(async move {
            let admin = axum::serve(admin, admin_app).with_graceful_shutdown(admin_stop);
            let gateway = axum::serve(gateway, gateway_app).with_graceful_shutdown(gateway_stop);
            let (a, g) = tokio::join!(admin, gateway);
            for (what, r) in [("admin", a), ("gateway", g)] {
                if let Err(e) = r {
                    tracing::error!(error = %e, "{what} listener failed");
                }
            }
        });
        Ok(Server { admin_addr, gateway_addr, platform, shutdown: Some(tx), task })
    }

    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.gateway_addr)
    }

    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin_addr)
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the listeners.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        let _ = (&mut self.task).await;
    }

    /// Runs until the listener task ends (e.g. after `shutdown` from a signal handler).
    pub async fn wait(&mut self) {
        let _ = (&mut self.task).await;
    }

    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
    }
}
