//! Binds the listeners and runs the platform until shutdown. Used by `waygate up` and by
//! the end-to-end tests (which bind port 0). Connections are served by
//! [`crate::connections`] (caps, timeouts, accept back-off).

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
        let limits = platform.config.connections.clone();
        let nofile = crate::connections::raise_nofile_limit();
        // Each loaded module keeps its artifact file open (wasmtime maps it).
        let modules = platform.config.runtime.loaded_modules as u64;
        let (admin_cap, gateway_cap) = (limits.max_admin_connections, limits.gateway_cap(nofile, modules));
        if (gateway_cap + admin_cap) as u64 + modules + crate::connections::FD_RESERVE > nofile {
            tracing::warn!(
                nofile,
                gateway_cap,
                admin_cap,
                loaded_modules = modules,
                "the connection caps and the loaded-modules bound leave fewer than {} file descriptors for the process: raise the hard RLIMIT_NOFILE or lower the caps or --loaded-modules",
                crate::connections::FD_RESERVE
            );
        }
        tracing::info!(gateway_cap, admin_cap, nofile, "connection caps");
        let admin_app = crate::control::app(platform.clone());
        let gateway_app = crate::gateway::app(platform.data_plane().clone());
        let rollouts = crate::rollout::run(platform.clone(), rx.clone());
        let task = tokio::spawn(async move {
            use crate::connections::serve;
            tokio::join!(
                serve("admin", admin, admin_app, admin_cap, limits.clone(), rx.clone()),
                serve("gateway", gateway, gateway_app, gateway_cap, limits, rx),
                rollouts,
            );
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
