//! Runs the example web app: `BATON_ISSUER` (default `http://127.0.0.1:4000`), `CLIENT_ID`
//! (default `web-app`), `CLIENT_SECRET` (required), `PUBLIC_URL` (default
//! `http://127.0.0.1:5100`, where the browser reaches this app), `LISTEN` (default
//! `127.0.0.1:5100`). Register it with
//! `baton client add web-app --confidential --first-party --redirect-uri
//! http://127.0.0.1:5100/callback --post-logout-redirect-uri http://127.0.0.1:5100/ --scope
//! "openid profile"` (without `--first-party`, users are asked for consent once).

use web_app::Config;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let Ok(client_secret) = std::env::var("CLIENT_SECRET") else {
        eprintln!("CLIENT_SECRET is required (baton client add … --confidential prints it)");
        std::process::exit(2);
    };
    let config = Config {
        issuer: var("BATON_ISSUER", "http://127.0.0.1:4000"),
        client_id: var("CLIENT_ID", "web-app"),
        client_secret,
        public_url: var("PUBLIC_URL", "http://127.0.0.1:5100"),
    };
    let listener = tokio::net::TcpListener::bind(var("LISTEN", "127.0.0.1:5100")).await?;
    eprintln!("web-app listening on http://{}", listener.local_addr()?);
    axum::serve(listener, web_app::app(config)).await
}
