//! The `run` subcommand: setup logins, the measured load of one scenario, and the resource
//! figures of the server process tree and of this client.

use crate::dpop::{unix_now, ClientKey};
use crate::http::{Conn, Target};
use crate::procfs::{self, Phase, Sampler};
use crate::stats::{OpError, OpStats};
use crate::system::{System, Tokens};
use anyhow::Context as _;
use bytes::Bytes;
use clap::ValueEnum;
use hyper::header::HeaderValue;
use hyper::Method;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the clients do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// N logins at once, then N clients loop on the protected resource.
    Protected,
    /// N logins at once, then N clients each loop refreshes on its own chain.
    Refresh,
    /// N clients loop logins.
    Login,
    /// N logins at once, then 90% protected, 9% refresh, 1% login.
    Mixed,
    /// Like `protected`, while `--flood` more clients loop logins.
    ProtectedFlood,
    /// Like `refresh`, while `--flood` more clients loop logins.
    RefreshFlood,
    /// One client: 2000 refreshes on a fresh chain, 10,000 more, then 2000 on the aged chain.
    ChainAge,
    /// Like `protected`, each client holding a DPoP key (ES256): tokens bound to it, a proof
    /// with each call (baton only).
    DpopProtected,
    /// Like `refresh`, with DPoP: a proof with each refresh (baton only).
    DpopRefresh,
}

impl Scenario {
    /// Whether extra clients flood logins meanwhile.
    fn floods(self) -> bool {
        matches!(self, Self::ProtectedFlood | Self::RefreshFlood)
    }

    /// Whether the clients hold DPoP keys.
    fn dpop(self) -> bool {
        matches!(self, Self::DpopProtected | Self::DpopRefresh)
    }

    fn name(self) -> &'static str {
        match self {
            Self::Protected => "protected",
            Self::Refresh => "refresh",
            Self::Login => "login",
            Self::Mixed => "mixed",
            Self::ProtectedFlood => "protected-flood",
            Self::RefreshFlood => "refresh-flood",
            Self::ChainAge => "chain-age",
            Self::DpopProtected => "dpop-protected",
            Self::DpopRefresh => "dpop-refresh",
        }
    }
}

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Which kind of server it is.
    #[arg(long, value_enum)]
    system: System,
    /// Its base URL, `http://127.0.0.1:PORT`.
    #[arg(long)]
    base: String,
    /// What to do.
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// Virtual clients, each with its own keep-alive connection.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds of measured load (new requests start until then).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// A registered user.
    #[arg(long, default_value = "bench")]
    user: String,
    /// The user the login flood logs in (a second one, so that its sessions do not push the
    /// measured clients' past the cap on live sessions per user); `--user` when absent.
    #[arg(long)]
    flood_user: Option<String>,
    /// Its password.
    #[arg(long, default_value = "correct horse battery staple")]
    password: String,
    /// The server's process id, for its memory and CPU (with all its descendants).
    #[arg(long)]
    pid: Option<u32>,
    /// A database server's process id (PostgreSQL's postmaster): its tree's CPU during the
    /// measured load is reported apart, and not counted as other load on the machine.
    #[arg(long)]
    db_pid: Option<u32>,
    /// Where to write the JSON results.
    #[arg(long)]
    out: PathBuf,
    /// Extra clients looping logins during `protected-flood`.
    #[arg(long, default_value_t = 64)]
    flood: usize,
    /// Pause between the setup logins and the measured load, milliseconds (counted in setup),
    /// so that the measure phase shows steady memory rather than the login burst's leftovers.
    #[arg(long, default_value_t = 1000)]
    settle_ms: u64,
    /// Name of the system in the results (e.g. `baton-sqlite`); defaults to `--system`.
    #[arg(long)]
    label: Option<String>,
}

/// Refreshes measured on the fresh and on the aged chain.
const CHAIN_SAMPLE: usize = 2000;
/// Rotations between the two samples.
const CHAIN_AGING: usize = 10_000;
/// Attempts of each setup login.
const SETUP_ATTEMPTS: usize = 5;

struct Ctx {
    system: System,
    target: Target,
    /// The server's issuer, which DPoP proofs name (with the path) as `htu`; set for the DPoP
    /// scenarios.
    issuer: Option<String>,
    login_body: Bytes,
    flood_login_body: Bytes,
    setup: OpStats,
    protected: OpStats,
    refresh: OpStats,
    login: OpStats,
    relogin: OpStats,
    flood: OpStats,
}

struct Client {
    conn: Conn,
    tokens: Option<Tokens>,
    rng: u64,
    /// Its DPoP key, in the DPoP scenarios.
    dpop: Option<ClientKey>,
}

impl Client {
    fn new(ctx: &Ctx, seed: u64) -> Self {
        Self {
            conn: Conn::new(ctx.target.clone()),
            tokens: None,
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03,
            dpop: ctx
                .issuer
                .as_ref()
                .and_then(|_| ClientKey::es256(seed).ok()),
        }
    }

    /// A `DPoP` header for `htm` `path` at the server, naming `access_token` when given:
    /// `None` outside the DPoP scenarios.
    fn proof(
        &mut self,
        ctx: &Ctx,
        htm: &str,
        path: &str,
        access_token: Option<&str>,
    ) -> Result<Option<HeaderValue>, OpError> {
        let Some(issuer) = &ctx.issuer else {
            return Ok(None);
        };
        let key = self
            .dpop
            .as_mut()
            .ok_or_else(|| OpError::Body("no DPoP key".into()))?;
        let proof = key
            .proof(htm, &format!("{issuer}{path}"), unix_now(), access_token)
            .map_err(|e| OpError::Body(e.to_string()))?;
        HeaderValue::from_str(&proof)
            .map(Some)
            .map_err(|e| OpError::Body(e.to_string()))
    }

    /// splitmix64: cheap, good enough to pick operations.
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn status_error(status: u16, body: &[u8]) -> OpError {
    let mut text = String::from_utf8_lossy(body).into_owned();
    text.truncate(200);
    OpError::Status(status, text)
}

async fn login(ctx: &Ctx, c: &mut Client) -> Result<(), OpError> {
    login_as(ctx, c, ctx.login_body.clone()).await
}

async fn login_as(ctx: &Ctx, c: &mut Client, body: Bytes) -> Result<(), OpError> {
    let proof = c.proof(ctx, "POST", ctx.system.login_path(), None)?;
    let r = c
        .conn
        .request_with(
            Method::POST,
            ctx.system.login_path(),
            None,
            proof.as_ref(),
            Some(body),
        )
        .await
        .map_err(OpError::Transport)?;
    if r.status != 200 {
        return Err(status_error(r.status, &r.body));
    }
    c.tokens = Some(ctx.system.parse_login(&r.body).map_err(OpError::Body)?);
    Ok(())
}

async fn protected(ctx: &Ctx, c: &mut Client) -> Result<(), OpError> {
    let Some(tokens) = &c.tokens else {
        return Err(OpError::Body("no access token (its login failed)".into()));
    };
    let (auth, access) = (tokens.bearer.clone(), tokens.access.clone());
    let proof = c.proof(ctx, "GET", ctx.system.protected_path(), Some(&access))?;
    let auth = match proof {
        Some(_) => HeaderValue::from_str(&format!("DPoP {access}"))
            .map_err(|e| OpError::Body(e.to_string()))?,
        None => auth,
    };
    let r = c
        .conn
        .request_with(
            Method::GET,
            ctx.system.protected_path(),
            Some(&auth),
            proof.as_ref(),
            None,
        )
        .await
        .map_err(OpError::Transport)?;
    if r.status != 200 {
        return Err(status_error(r.status, &r.body));
    }
    Ok(())
}

async fn refresh(ctx: &Ctx, c: &mut Client) -> Result<(), OpError> {
    let Some(tokens) = c.tokens.as_ref() else {
        return Err(OpError::Body("no refresh token (its login failed)".into()));
    };
    let body = ctx.system.refresh_body(&tokens.refresh);
    let proof = c.proof(ctx, "POST", ctx.system.refresh_path(), None)?;
    let r = c
        .conn
        .request_with(
            Method::POST,
            ctx.system.refresh_path(),
            None,
            proof.as_ref(),
            Some(body),
        )
        .await
        .map_err(OpError::Transport)?;
    if r.status != 200 {
        return Err(status_error(r.status, &r.body));
    }
    let Some(tokens) = c.tokens.as_mut() else {
        return Err(OpError::Body("no tokens".into()));
    };
    ctx.system
        .apply_refresh(&r.body, tokens)
        .map_err(OpError::Body)
}

/// Runs one operation, recording its latency (successes) or its error in `stats`.
async fn timed(
    stats: &OpStats,
    op: impl std::future::Future<Output = Result<(), OpError>>,
) -> Result<(), OpError> {
    let start = Instant::now();
    let r = op.await;
    match &r {
        Ok(()) => stats.ok(u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)),
        Err(e) => stats.err(e),
    }
    r
}

/// A refresh whose chain broke (a 4xx) counts as an error; the client logs in again.
async fn refresh_or_relogin(ctx: &Ctx, c: &mut Client) {
    if c.tokens.is_none() {
        let _ = timed(&ctx.relogin, login(ctx, c)).await;
        return;
    }
    if let Err(e) = timed(&ctx.refresh, refresh(ctx, c)).await {
        if e.is_client_error() {
            c.tokens = None;
            let _ = timed(&ctx.relogin, login(ctx, c)).await;
        }
    }
}

async fn protected_or_relogin(ctx: &Ctx, c: &mut Client) {
    if c.tokens.is_none() {
        let _ = timed(&ctx.relogin, login(ctx, c)).await;
        return;
    }
    let _ = timed(&ctx.protected, protected(ctx, c)).await;
}

async fn client_loop(
    ctx: Arc<Ctx>,
    mut c: Client,
    scenario: Scenario,
    deadline: Instant,
) -> Client {
    while Instant::now() < deadline {
        match scenario {
            Scenario::Protected | Scenario::ProtectedFlood | Scenario::DpopProtected => {
                protected_or_relogin(&ctx, &mut c).await;
            }
            Scenario::Refresh | Scenario::RefreshFlood | Scenario::DpopRefresh => {
                refresh_or_relogin(&ctx, &mut c).await;
            }
            Scenario::Login => {
                let _ = timed(&ctx.login, login(&ctx, &mut c)).await;
            }
            Scenario::Mixed => {
                let pick = c.next() % 100;
                if pick < 90 {
                    protected_or_relogin(&ctx, &mut c).await;
                } else if pick < 99 {
                    refresh_or_relogin(&ctx, &mut c).await;
                } else {
                    let _ = timed(&ctx.login, login(&ctx, &mut c)).await;
                }
            }
            Scenario::ChainAge => break,
        }
    }
    c
}

async fn flood_loop(ctx: Arc<Ctx>, mut c: Client, deadline: Instant) -> Client {
    while Instant::now() < deadline {
        let _ = timed(
            &ctx.flood,
            login_as(&ctx, &mut c, ctx.flood_login_body.clone()),
        )
        .await;
    }
    c
}

/// N clients log in at once; each retries a failed login a few times.
async fn setup(ctx: &Arc<Ctx>, n: usize) -> anyhow::Result<Vec<Client>> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                let mut c = Client::new(&ctx, i as u64 + 1);
                for attempt in 0..SETUP_ATTEMPTS {
                    if timed(&ctx.setup, login(&ctx, &mut c)).await.is_ok() {
                        break;
                    }
                    if attempt + 1 < SETUP_ATTEMPTS {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                c
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(n);
    for t in tasks {
        clients.push(t.await.context("a setup task panicked")?);
    }
    Ok(clients)
}

/// The chain-age scenario's measured part.
async fn chain_age(ctx: &Ctx, c: &mut Client) -> Value {
    let fresh = OpStats::new();
    let aging = OpStats::new();
    let aged = OpStats::new();
    for (stats, n) in [
        (&fresh, CHAIN_SAMPLE),
        (&aging, CHAIN_AGING),
        (&aged, CHAIN_SAMPLE),
    ] {
        if std::ptr::eq(stats, &aged) {
            // The fresh sample was taken on a settled machine (after the setup pause); give the
            // aged one the same, once the kernel has written back the aging rotations' pages, so
            // the two differ by the chain's age and not by the disk's backlog.
            settle().await;
        }
        for _ in 0..n {
            if c.tokens.is_none() {
                let _ = timed(&ctx.relogin, login(ctx, c)).await;
                continue;
            }
            if let Err(e) = timed(stats, refresh(ctx, c)).await {
                if e.is_client_error() {
                    c.tokens = None;
                }
            }
        }
    }
    for s in [&fresh, &aging, &aged] {
        ctx.refresh.absorb(s);
    }
    let ratio = |q: &str| {
        let f = fresh.latency_json()[q].as_f64();
        let a = aged.latency_json()[q].as_f64();
        match (f, a) {
            (Some(f), Some(a)) if f > 0.0 => json!((a / f * 1000.0).round() / 1000.0),
            _ => Value::Null,
        }
    };
    json!({
        "sample": CHAIN_SAMPLE,
        "aging_rotations": CHAIN_AGING,
        "fresh": fresh.to_json(0.0),
        "aged": aged.to_json(0.0),
        "ratio_p50": ratio("p50"),
        "ratio_p99": ratio("p99"),
    })
}

/// Flushes dirty pages to disk and pauses a second.
async fn settle() {
    let _ = tokio::process::Command::new("sync").status().await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
}

fn secs_of(ticks: u64, tck: u64) -> f64 {
    ticks as f64 / tck as f64
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The server's issuer, from its RFC 8414 metadata.
async fn issuer_of(target: &Target) -> anyhow::Result<String> {
    let mut conn = Conn::new(target.clone());
    let r = conn
        .request(
            Method::GET,
            "/.well-known/oauth-authorization-server",
            None,
            None,
        )
        .await
        .map_err(|e| anyhow::anyhow!("metadata: {e}"))?;
    anyhow::ensure!(r.status == 200, "metadata answered {}", r.status);
    let v: Value = serde_json::from_slice(&r.body).context("metadata")?;
    v["issuer"]
        .as_str()
        .map(|s| s.trim_end_matches('/').to_owned())
        .context("metadata without issuer")
}

/// Runs one scenario and writes its JSON.
pub async fn run(args: RunArgs, threads: usize) -> anyhow::Result<()> {
    let target = Target::parse(&args.base)?;
    let issuer = if args.scenario.dpop() {
        anyhow::ensure!(
            args.system == System::Baton,
            "the DPoP scenarios are baton's"
        );
        Some(issuer_of(&target).await?)
    } else {
        None
    };
    let ctx = Arc::new(Ctx {
        system: args.system,
        issuer,
        target,
        login_body: args.system.login_body(&args.user, &args.password),
        flood_login_body: args.system.login_body(
            args.flood_user.as_deref().unwrap_or(&args.user),
            &args.password,
        ),
        setup: OpStats::new(),
        protected: OpStats::new(),
        refresh: OpStats::new(),
        login: OpStats::new(),
        relogin: OpStats::new(),
        flood: OpStats::new(),
    });
    let label = args
        .label
        .clone()
        .unwrap_or_else(|| args.system.name().into());
    let n = if args.scenario == Scenario::ChainAge {
        1
    } else {
        args.concurrency.max(1)
    };
    let tck = procfs::clk_tck();
    let sampler = args.pid.map(Sampler::start);

    // --- setup ---------------------------------------------------------------------------
    let setup_start = Instant::now();
    let clients = match args.scenario {
        Scenario::Login => (0..n).map(|i| Client::new(&ctx, i as u64 + 1)).collect(),
        _ => setup(&ctx, n).await?,
    };
    let setup_logins_secs = setup_start.elapsed().as_secs_f64();
    if args.scenario != Scenario::Login && args.settle_ms > 0 {
        tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;
    }
    let setup_secs = setup_start.elapsed().as_secs_f64();

    // --- measure -------------------------------------------------------------------------
    if let (Some(s), Some(pid)) = (&sampler, args.pid) {
        s.set_phase(Phase::Measure, pid);
    }
    eprintln!(
        "baton-loadgen: setup done in {setup_secs:.1} s; measuring {}",
        args.scenario.name()
    );
    let server_ticks_0 = args.pid.map(procfs::tree_cpu_ticks);
    let db_ticks_0 = args.db_pid.map(procfs::tree_cpu_ticks);
    let client_ticks_0 = procfs::self_cpu_ticks();
    let machine_ticks_0 = procfs::machine_busy_ticks();
    let start = Instant::now();
    let mut chain = Value::Null;
    let mut done: Vec<Client> = Vec::new();
    if args.scenario == Scenario::ChainAge {
        done = clients;
        if let Some(c) = done.first_mut() {
            chain = chain_age(&ctx, c).await;
        }
    } else {
        let deadline = start + Duration::from_secs_f64(args.duration.max(0.1));
        let mut tasks = Vec::new();
        for c in clients {
            tasks.push(tokio::spawn(client_loop(
                ctx.clone(),
                c,
                args.scenario,
                deadline,
            )));
        }
        if args.scenario.floods() {
            for i in 0..args.flood {
                let c = Client::new(&ctx, 1_000_000 + i as u64);
                tasks.push(tokio::spawn(flood_loop(ctx.clone(), c, deadline)));
            }
        }
        for t in tasks {
            done.push(t.await.context("a client task panicked")?);
        }
    }
    let measure_secs = start.elapsed().as_secs_f64();
    let server_ticks_1 = args.pid.map(procfs::tree_cpu_ticks);
    let db_ticks_1 = args.db_pid.map(procfs::tree_cpu_ticks);
    let client_ticks_1 = procfs::self_cpu_ticks();
    let machine_ticks_1 = procfs::machine_busy_ticks();
    if let (Some(s), Some(pid)) = (&sampler, args.pid) {
        s.set_phase(Phase::End, pid);
    }
    let rss_end = args.pid.map(|p| procfs::rss_sum(&procfs::tree(p)));
    let memory = sampler.map(Sampler::finish);

    // --- results -------------------------------------------------------------------------
    let measured: Vec<(&str, &OpStats)> = match args.scenario {
        Scenario::Protected | Scenario::ProtectedFlood | Scenario::DpopProtected => {
            vec![("protected", &ctx.protected)]
        }
        Scenario::Refresh | Scenario::RefreshFlood | Scenario::ChainAge | Scenario::DpopRefresh => {
            vec![("refresh", &ctx.refresh)]
        }
        Scenario::Login => vec![("login", &ctx.login)],
        Scenario::Mixed => vec![
            ("protected", &ctx.protected),
            ("refresh", &ctx.refresh),
            ("login", &ctx.login),
        ],
    };
    let total = OpStats::new();
    for (_, s) in &measured {
        total.absorb(s);
    }
    // A failed re-login is an error of the measured load too (its latency is not).
    total.absorb_errors(&ctx.relogin);
    let mut measure = total.to_json(measure_secs);
    measure["secs"] = json!(round3(measure_secs));
    let mut ops = serde_json::Map::new();
    for (name, s) in measured
        .iter()
        .copied()
        .chain(std::iter::once(("relogin", &ctx.relogin)))
    {
        if s.count() + s.error_count() > 0 {
            ops.insert(name.into(), s.to_json(measure_secs));
        }
    }
    measure["ops"] = Value::Object(ops);

    let server_cpu = match (server_ticks_0, server_ticks_1) {
        (Some(a), Some(b)) => Some(secs_of(b.saturating_sub(a), tck)),
        _ => None,
    };
    let client_cpu = secs_of(client_ticks_1.saturating_sub(client_ticks_0), tck);
    let db_cpu = match (db_ticks_0, db_ticks_1) {
        (Some(a), Some(b)) => Some(secs_of(b.saturating_sub(a), tck)),
        _ => None,
    };
    let per_sec = |x: f64| round3(x / measure_secs.max(1e-9));
    let machine_cpu = secs_of(machine_ticks_1.saturating_sub(machine_ticks_0), tck);
    // Busy time of the machine that was neither the server's, its database's nor this
    // client's: other processes (a build, say) competing for the cores and skewing the numbers.
    let other_cpu =
        server_cpu.map(|s| (machine_cpu - s - client_cpu - db_cpu.unwrap_or(0.0)).max(0.0));
    let timeline: Vec<Value> = memory
        .as_ref()
        .map(|m| {
            m.timeline
                .iter()
                .map(|(ms, phase, kib)| json!([ms, phase, kib]))
                .collect()
        })
        .unwrap_or_default();
    let resources = json!({
        "pid": args.pid,
        "processes": memory.as_ref().map(|m| m.processes),
        "rss_samples": memory.as_ref().map(|m| m.samples),
        "peak_rss_kib_setup": memory.as_ref().map(|m| m.peak_setup_kib),
        "peak_rss_kib_measure": memory.as_ref().map(|m| m.peak_measure_kib),
        "rss_kib_end": rss_end,
        "server_cpu_secs": server_cpu.map(round3),
        "server_cpu_cores": server_cpu.map(per_sec),
        "db_pid": args.db_pid,
        "db_cpu_secs": db_cpu.map(round3),
        "db_cpu_cores": db_cpu.map(per_sec),
        "client_cpu_secs": round3(client_cpu),
        "client_cpu_cores": per_sec(client_cpu),
        "machine_busy_cores": per_sec(machine_cpu),
        "other_cpu_cores": other_cpu.map(per_sec),
        "clk_tck": tck,
        "rss_timeline": {"every_ms": 100, "columns": ["ms", "phase (0 setup, 1 measure, 2 end)", "rss_kib"], "points": timeline},
    });
    let connects: u64 = done.iter().map(|c| c.conn.connects).sum();
    let stale_retries: u64 = done.iter().map(|c| c.conn.stale_retries).sum();
    let result = json!({
        "system": label,
        "kind": args.system.name(),
        "scenario": args.scenario.name(),
        "concurrency": if args.scenario == Scenario::ChainAge { 1 } else { n },
        "flood": if args.scenario.floods() { Some(args.flood) } else { None },
        "duration_secs": args.duration,
        "client_threads": threads,
        "setup": {
            "logins": if args.scenario == Scenario::Login { 0 } else { n },
            "secs": round3(setup_secs),
            "logins_secs": round3(setup_logins_secs),
            "settle_ms": if args.scenario == Scenario::Login { 0 } else { args.settle_ms },
            "ok": ctx.setup.count(),
            "latency_us": ctx.setup.latency_json(),
            "errors": ctx.setup.errors_json(),
        },
        "measure": measure,
        "flood": if args.scenario.floods() {
            ctx.flood.to_json(measure_secs)
        } else {
            Value::Null
        },
        "chain_age": chain,
        "resources": resources,
        "connections": {"opened": connects, "stale_retries": stale_retries},
    });
    crate::write_json(&args.out, &result)?;
    println!("{}", summary(&result));
    Ok(())
}

fn ms(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "-".into(), |us| format!("{:.2}", us / 1000.0))
}

fn summary(r: &Value) -> String {
    let m = &r["measure"];
    let res = &r["resources"];
    let mb = |v: &Value| {
        v.as_f64()
            .map_or_else(|| "-".into(), |k| format!("{:.1}", k / 1024.0))
    };
    let mut line = format!(
        "{} {} c{}: {} req/s, p50 {} ms, p99 {} ms, errors {} (setup {}), peak RSS {}/{} MB (setup/measure), CPU cores: server {}{}, client {}, other {}",
        r["system"].as_str().unwrap_or("?"),
        r["scenario"].as_str().unwrap_or("?"),
        r["concurrency"],
        m["rps"],
        ms(&m["latency_us"]["p50"]),
        ms(&m["latency_us"]["p99"]),
        m["errors"]["total"],
        r["setup"]["errors"]["total"],
        mb(&res["peak_rss_kib_setup"]),
        mb(&res["peak_rss_kib_measure"]),
        res["server_cpu_cores"],
        if res["db_cpu_cores"].is_null() {
            String::new()
        } else {
            format!(" + database {}", res["db_cpu_cores"])
        },
        res["client_cpu_cores"],
        res["other_cpu_cores"],
    );
    if !r["flood"].is_null() {
        line += &format!(
            "; flood logins {} req/s, errors {}",
            r["flood"]["rps"], r["flood"]["errors"]["total"]
        );
    }
    if !r["chain_age"].is_null() {
        line += &format!(
            "; chain age p50 x{} p99 x{}",
            r["chain_age"]["ratio_p50"], r["chain_age"]["ratio_p99"]
        );
    }
    line
}
