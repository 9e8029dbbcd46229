//! A minimal HTTP backend for `bench/backends.sh`: answers every request with
//! `hello from the backend` (HTTP/1.1, hyper through axum). The benchmark calls it
//! directly and through a Waygate HTTP proxy route, in the same run.
//!
//!     cargo run --release --example hello_backend -- 127.0.0.1:18190

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18190".into());
    let app = axum::Router::new().fallback(|| async { "hello from the backend\n" });
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("hello backend on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
