//! Runs the example API: `BATON_ISSUER` (default `http://127.0.0.1:4000`), `BATON_AUDIENCE`
//! (default `baton`), `LISTEN` (default `127.0.0.1:5000`).

use baton_verify::Verifier;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let verifier = Verifier::new(
        var("BATON_ISSUER", "http://127.0.0.1:4000"),
        var("BATON_AUDIENCE", "baton"),
    );
    let listener = tokio::net::TcpListener::bind(var("LISTEN", "127.0.0.1:5000")).await?;
    eprintln!(
        "resource-server listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, resource_server::app(verifier)).await
}
