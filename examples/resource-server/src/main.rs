//! Runs the example API: `BATON_ISSUER` (default `http://127.0.0.1:4000`), `BATON_AUDIENCE`
//! (default `baton`), `LISTEN` (default `127.0.0.1:5000`), `EXTERNAL_URL` (the URL clients
//! call it by, which DPoP proofs name; default `http://` and `LISTEN`).

use baton_verify::{Verifier, VerifierOptions};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let listen = var("LISTEN", "127.0.0.1:5000");
    let verifier = Verifier::with_options(
        var("BATON_ISSUER", "http://127.0.0.1:4000"),
        var("BATON_AUDIENCE", "baton"),
        VerifierOptions {
            external_url: Some(var("EXTERNAL_URL", &format!("http://{listen}"))),
            ..VerifierOptions::default()
        },
    );
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!(
        "resource-server listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, resource_server::app(verifier)).await
}
