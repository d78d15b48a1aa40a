//! The test harness: [`TestApp`] runs baton in-process on a random port.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use baton_core::ManualClock;
use baton_server::{Application, Config, Settings};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const PASSWORD: &str = "correct horse battery";
/// The key-encryption secret of the PostgreSQL runs.
pub const TEST_SECRET: &str = "a test secret that is long enough";

/// A running baton with its own database directory and clock.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub dir: Arc<TempDir>,
    pub state: baton_server::state::AppState,
    /// The database the server runs on.
    pub store: Arc<dyn baton_core::store::Store>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// The backend the suite runs against: SQLite, or PostgreSQL when `BATON_TEST_BACKEND=postgres`
/// (the test command runs the suite once for each).
pub fn postgres_backend() -> bool {
    std::env::var("BATON_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// The database of a test directory: a SQLite file in it, or a fresh PostgreSQL database whose
/// URL is remembered in it (so a restart on the same directory finds the same data).
pub async fn database_url_in(dir: &TempDir) -> String {
    let marker = dir.path().join("database-url");
    if let Ok(url) = std::fs::read_to_string(&marker) {
        return url;
    }
    let url = if postgres_backend() {
        let admin = baton_store::testing::postgres_admin_url()
            .expect("BATON_TEST_BACKEND=postgres needs BATON_TEST_POSTGRES_URL");
        baton_store::testing::fresh_postgres_database(&admin)
            .await
            .expect("a fresh PostgreSQL database")
    } else {
        format!("sqlite://{}", dir.path().join("baton.db").display())
    };
    std::fs::write(&marker, &url).expect("remember the database");
    url
}

/// Settings every test starts from: port 0, the test directory's database.
pub async fn settings_in(dir: &TempDir) -> Settings {
    Settings {
        listen: Some("127.0.0.1:0".into()),
        database_url: Some(database_url_in(dir).await.into()),
        // PostgreSQL needs one; SQLite generates baton.secret beside the database.
        secret: postgres_backend().then(|| TEST_SECRET.into()),
        ..Settings::default()
    }
}

/// The test servers log into the test's captured output, which the test runner shows when the
/// test fails: warnings and errors, and with `TEST_LOG=1` informational lines too (`RUST_LOG`,
/// when set, decides instead).
fn init_test_log() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = if std::env::var_os("TEST_LOG").is_some() {
            "info"
        } else {
            "warn"
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

impl TestApp {
    /// A server with default settings.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A server with settings adjusted by `tweak`.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        Self::spawn_in(dir, tweak).await
    }

    /// A server on an existing database directory (to test restarts).
    pub async fn spawn_in(dir: Arc<TempDir>, tweak: impl FnOnce(&mut Settings)) -> Self {
        init_test_log();
        let mut settings = settings_in(&dir).await;
        tweak(&mut settings);
        let config = Config::resolve(&settings).expect("valid test config");
        let clock = ManualClock::new(real_now());
        let app = Application::build_with_clock(config, Arc::new(clock.clone()))
            .await
            .expect("server builds");
        let addr = app.local_addr().expect("bound");
        let state = app.state().clone();
        let store = Arc::clone(app.store());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            base: format!("http://{addr}"),
            client,
            clock,
            dir,
            state,
            store,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Stops the server, waiting for it to finish; returns its database directory.
    pub async fn stop(mut self) -> Arc<TempDir> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server ran");
        }
        self.dir.clone()
    }

    /// Stops the server and returns every byte the database holds: the SQLite files, or each
    /// value of each PostgreSQL table (byte columns raw, others as text).
    pub async fn stop_and_dump(self) -> Vec<u8> {
        let dir = self.stop().await;
        if !postgres_backend() {
            let mut all = Vec::new();
            for name in [
                "baton.db",
                "baton.db-wal",
                "baton.db-shm",
                "baton.db-journal",
            ] {
                if let Ok(bytes) = std::fs::read(dir.path().join(name)) {
                    all.extend(bytes);
                }
            }
            return all;
        }
        use sqlx::{Column as _, Connection as _, Row as _, TypeInfo as _};
        let url = database_url_in(&dir).await;
        let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_all(&mut conn)
        .await
        .expect("tables");
        let mut all = Vec::new();
        for table in tables {
            let rows = sqlx::query(&format!("SELECT * FROM \"{table}\""))
                .fetch_all(&mut conn)
                .await
                .expect("rows");
            for row in rows {
                for (i, col) in row.columns().iter().enumerate() {
                    let value: Option<Vec<u8>> = match col.type_info().name() {
                        "BYTEA" => row.try_get(i).expect("bytea"),
                        "TEXT" | "VARCHAR" => row
                            .try_get::<Option<String>, _>(i)
                            .expect("text")
                            .map(String::into_bytes),
                        "INT8" => row
                            .try_get::<Option<i64>, _>(i)
                            .expect("int8")
                            .map(|v| v.to_string().into_bytes()),
                        _ => None,
                    };
                    all.extend(value.unwrap_or_default());
                    all.push(b'|');
                }
            }
        }
        all
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Moves the server's clock forward.
    pub fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get_bearer(&self, path: &str, access: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(access)
            .send()
            .await
            .expect("request")
    }

    pub async fn register(&self, username: &str, password: &str) -> Response {
        self.post_json(
            "/auth/register",
            &json!({"username": username, "password": password}),
        )
        .await
    }

    /// Registers `username` with [`PASSWORD`] and returns its id.
    pub async fn create_user(&self, username: &str) -> String {
        let r = self.register(username, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        body(r).await["id"].as_str().expect("id").to_owned()
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post_json(
            "/auth/login",
            &json!({"username": username, "password": password}),
        )
        .await
    }

    /// Logs in with [`PASSWORD`] (body delivery) and returns the token answer.
    pub async fn login_ok(&self, username: &str) -> Tokens {
        let r = self.login(username, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::OK);
        Tokens::from(body(r).await)
    }

    /// Creates a user and logs them in.
    pub async fn user_session(&self, username: &str) -> Tokens {
        self.create_user(username).await;
        self.login_ok(username).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json("/auth/refresh", &json!({"refresh_token": refresh_token}))
            .await
    }

    pub async fn refresh_ok(&self, refresh_token: &str) -> Tokens {
        let r = self.refresh(refresh_token).await;
        assert_eq!(r.status(), StatusCode::OK);
        Tokens::from(body(r).await)
    }

    pub async fn sessions(&self, access: &str) -> Vec<Value> {
        let r = self.get_bearer("/auth/sessions", access).await;
        assert_eq!(r.status(), StatusCode::OK);
        body(r).await["sessions"].as_array().expect("array").clone()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Tokens from a login or refresh answer.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub json: Value,
}

impl From<Value> for Tokens {
    fn from(json: Value) -> Self {
        Self {
            access: json["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned(),
            refresh: json["refresh_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            json,
        }
    }
}

pub async fn body(r: Response) -> Value {
    let text = r.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"))
}

/// Asserts status and the JSON `error` (and optionally `error_description`).
pub async fn assert_error(r: Response, status: StatusCode, error: &str, description: Option<&str>) {
    assert_eq!(r.status(), status, "status");
    let b = body(r).await;
    assert_eq!(b["error"], error, "error in {b}");
    if let Some(d) = description {
        assert_eq!(b["error_description"], d, "description in {b}");
    }
}

/// Decodes a JWT's payload without checking it.
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

pub fn jwt_header(token: &str) -> Value {
    use base64::Engine as _;
    let head = token.split('.').next().expect("header");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

#[allow(clippy::disallowed_methods)]
fn real_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
