//! The `baton` command: `serve` (the default), `migrate`, `user …`, `client …` and `keys …`.

use anyhow::{bail, Context as _};
use baton_core::audit::{AuditEvent, EventKind, EventQuery};
use baton_core::keys::SigningAlg;
use baton_core::store::UserRecord;
use baton_core::SystemClock;
use baton_core::{Baton, Username};
use baton_server::{
    default_issuer, open_service, shutdown_signal, Access, Application, Config, Settings,
};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::sync::Arc;

mod clients;

/// jemalloc, built with a background thread that hands freed pages back to the operating system
/// within half a second (`.cargo/config.toml`), so the Argon2 areas of a login burst leave no lasting
/// footprint; the system allocator keeps them in per-thread arenas for good.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// baton: a self-hosted authentication token service with rotating refresh tokens.
#[derive(Debug, Parser)]
#[command(name = "baton", version, about)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Option<Command>,
}

// Parsed once per run: the size of the largest command's flags costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Show the audit log, newest first.
    Audit {
        /// Only this user's events.
        #[arg(long)]
        user: Option<String>,
        /// Only events this recent (e.g. 1h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// Only events of this type (login_failed, refresh_reuse, …).
        #[arg(long = "type")]
        kind: Option<String>,
        /// Most events shown.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the settings (flags, environment, --config file) and print those in effect,
    /// secrets redacted; touches no database.
    Check,
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Add a client; a confidential one gets a secret, printed only this once.
    Add {
        /// The client_id (letters, digits, '.', '_', '-').
        name: String,
        /// Authenticates (with a secret, by HTTP Basic or client_secret_post; or with --jwks,
        /// by private_key_jwt); needed for the client_credentials grant. /oauth/introspect
        /// takes a secret by HTTP Basic only.
        #[arg(long)]
        confidential: bool,
        #[command(flatten)]
        flags: clients::ClientFlags,
    },
    /// Show a client's settings.
    Show {
        /// The client_id.
        name: String,
        /// As one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Change a client's settings: a flag not given leaves its setting alone; a list given
    /// replaces the old one.
    Update {
        /// The client_id.
        name: String,
        /// Give a confidential client a new secret, printed only this once (the old one stops
        /// working).
        #[arg(long)]
        new_secret: bool,
        #[command(flatten)]
        flags: clients::ClientFlags,
    },
    /// List clients.
    List,
    /// Delete a client.
    Delete {
        /// The client_id.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from a prompt, or from standard input when piped.
    Add {
        /// Username.
        name: String,
        /// E-mail address; a mail confirming it goes out when SMTP is configured.
        #[arg(long)]
        email: Option<String>,
    },
    /// List users (a third column says "disabled" for disabled ones).
    List,
    /// Delete a user and revoke all their sessions.
    Delete {
        /// Username.
        name: String,
    },
    /// Set a user's password (prompt, or one line of standard input when piped) and revoke
    /// every session of theirs. The password must meet BATON_PASSWORD_MIN_SCORE.
    Passwd {
        /// Username.
        name: String,
    },
    /// Disable a user: their sessions are revoked and their logins refused until enabled.
    Disable {
        /// Username.
        name: String,
    },
    /// Enable a disabled user again.
    Enable {
        /// Username.
        name: String,
    },
    /// Print a single-use password-reset link for a user (BATON_PUBLIC_URL/#reset=…, valid
    /// BATON_RESET_TTL), for operators without mail; nothing is sent.
    ResetLink {
        /// Username.
        name: String,
    },
    /// Give a user a role, take it away, or list theirs; access tokens carry them as `roles`
    /// from the next sign-in or refresh on.
    #[command(subcommand)]
    Role(RoleCommand),
    /// Show a user's second factors (`user mfa NAME`), or remove them all (`user mfa reset
    /// NAME`), for someone who lost their authenticator and their recovery codes; the removal
    /// is audited.
    Mfa {
        /// `reset`, or the username to show.
        action_or_name: String,
        /// With `reset`: the username.
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum RoleCommand {
    /// Give a user a role (1-64 characters of A-Z, a-z, 0-9, '.', '_', ':', '-'; at most 32).
    Add {
        /// Username.
        name: String,
        /// The role.
        role: String,
    },
    /// Take a role from a user.
    Remove {
        /// Username.
        name: String,
        /// The role.
        role: String,
    },
    /// List a user's roles, one per line.
    List {
        /// Username.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Generate a new signing key; the old one stays published until its tokens expire.
    Rotate {
        /// Algorithm of the new key (EdDSA, ES256 or RS256) [default: the current key's]
        #[arg(long)]
        alg: Option<String>,
    },
    /// List the published keys.
    List,
    /// Encrypt every private key under the current BATON_SECRET (after changing it, with the
    /// old one as BATON_SECRET_PREVIOUS).
    Rewrap,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // On `client add|update`, the global `--access-ttl` and `--refresh-idle-ttl` given on the
    // command line are the client's lifetimes.
    let access = given_on_command_line(&matches, "access_ttl").then_some(cli.settings.access_ttl);
    let idle = given_on_command_line(&matches, "refresh_idle_ttl")
        .then_some(cli.settings.refresh_idle_ttl);
    if let Some(Command::Client(
        ClientCommand::Add { flags, .. } | ClientCommand::Update { flags, .. },
    )) = &mut cli.command
    {
        *flags = std::mem::take(flags).with_ttls(access.flatten(), idle.flatten());
    }
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Whether the argument `id` was given on the command line, at the top or in a subcommand.
fn given_on_command_line(matches: &ArgMatches, id: &str) -> bool {
    let mut level = Some(matches);
    while let Some(m) = level {
        if m.value_source(id) == Some(ValueSource::CommandLine) {
            return true;
        }
        level = m.subcommand().map(|(_, sub)| sub);
    }
    false
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::resolve(&cli.settings)?;
    baton_server::telemetry::init(config.log_format);
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Config(ConfigCommand::Check) = command {
        let mut out = std::io::stdout().lock();
        for (key, value) in config.describe() {
            writeln!(out, "{key} = {value}")?;
        }
        return Ok(());
    }
    if let Command::Serve = command {
        let app = Application::build(config).await?;
        eprintln!("baton listening on http://{}", app.local_addr()?);
        return app.run_until(shutdown_signal()).await;
    }
    let access = match &command {
        Command::User(UserCommand::List)
        | Command::User(UserCommand::Mfa { name: None, .. })
        | Command::Client(ClientCommand::List)
        | Command::Client(ClientCommand::Show { .. })
        | Command::User(UserCommand::Role(RoleCommand::List { .. }))
        | Command::Keys(KeysCommand::List)
        | Command::Audit { .. } => Access::Read,
        _ => Access::Change,
    };
    let baton = open_service(
        &config,
        &default_issuer(&config),
        Arc::new(SystemClock),
        access,
    )
    .await?;
    let mut out = std::io::stdout().lock();
    match command {
        Command::Serve | Command::Migrate | Command::Config(_) => {
            writeln!(out, "database is up to date")?;
        }
        Command::User(UserCommand::Add { name, email }) => {
            let password = read_password()?;
            let user = baton.add_user(&name, password, email.as_deref()).await?;
            record(&baton, EventKind::UserAdded, Some(&user), None).await;
            writeln!(out, "added user {} ({})", user.username, user.id)?;
        }
        Command::User(UserCommand::List) => {
            for user in baton.users().await? {
                if user.disabled_at.is_some() {
                    writeln!(out, "{}\t{}\tdisabled", user.id, user.username)?;
                } else {
                    writeln!(out, "{}\t{}", user.id, user.username)?;
                }
            }
        }
        Command::User(UserCommand::Delete { name }) => {
            let user = find_user(&baton, &name).await?;
            baton.delete_user(&name).await?;
            record(&baton, EventKind::UserDeleted, user.as_ref(), None).await;
            writeln!(out, "deleted user {name}; their sessions are revoked")?;
        }
        Command::User(UserCommand::Passwd { name }) => {
            let user = baton.user_by_name(&name).await?;
            let password = read_password()?;
            baton.set_password(&user, password).await?;
            record(
                &baton,
                EventKind::PasswordChanged,
                Some(&user),
                Some("set by an operator"),
            )
            .await;
            writeln!(
                out,
                "set the password of {}; their sessions are revoked",
                user.username
            )?;
        }
        Command::User(UserCommand::Disable { name }) => {
            let user = baton.user_by_name(&name).await?;
            baton.set_disabled(&user.id, true).await?;
            record(&baton, EventKind::UserDisabled, Some(&user), None).await;
            writeln!(
                out,
                "disabled user {}; their sessions are revoked",
                user.username
            )?;
        }
        Command::User(UserCommand::Enable { name }) => {
            let user = baton.user_by_name(&name).await?;
            baton.set_disabled(&user.id, false).await?;
            record(&baton, EventKind::UserEnabled, Some(&user), None).await;
            writeln!(out, "enabled user {}", user.username)?;
        }
        Command::User(UserCommand::ResetLink { name }) => {
            let user = baton.user_by_name(&name).await?;
            let link = baton.reset_link(&user).await?;
            record(
                &baton,
                EventKind::PasswordResetRequested,
                Some(&user),
                Some("reset link printed"),
            )
            .await;
            writeln!(out, "{link}")?;
        }
        Command::User(UserCommand::Mfa {
            action_or_name,
            name: None,
        }) => {
            let user = baton.user_by_name(&action_or_name).await?;
            let mfa = baton.mfa_state(&user.id).await?;
            writeln!(out, "user {} ({})", user.username, user.id)?;
            writeln!(
                out,
                "totp: {}",
                if mfa.totp { "enabled" } else { "not enabled" }
            )?;
            writeln!(out, "passkeys: {}", mfa.passkeys)?;
            writeln!(out, "recovery codes left: {}", mfa.recovery_codes_left)?;
            let methods: Vec<&str> = mfa.methods().iter().map(|m| m.as_str()).collect();
            if methods.is_empty() {
                writeln!(out, "login asks for: the password only")?;
            } else {
                writeln!(
                    out,
                    "login asks for: the password, then {}",
                    methods.join(" or ")
                )?;
            }
        }
        Command::User(UserCommand::Mfa {
            action_or_name,
            name: Some(name),
        }) => {
            if action_or_name != "reset" {
                anyhow::bail!("unknown action {action_or_name:?}: use `user mfa NAME` or `user mfa reset NAME`");
            }
            let user = baton.user_by_name(&name).await?;
            if baton.reset_mfa(&user.id).await? {
                record(
                    &baton,
                    EventKind::MfaReset,
                    Some(&user),
                    Some("reset by an operator"),
                )
                .await;
                writeln!(
                    out,
                    "removed every second factor of {}; they sign in with the password alone",
                    user.username
                )?;
            } else {
                writeln!(out, "{} has no second factor", user.username)?;
            }
        }
        Command::Client(ClientCommand::Add {
            name,
            confidential,
            flags,
        }) => {
            let settings = flags.new_settings()?;
            let (client, secret) = baton.add_client(&name, confidential, settings).await?;
            record(&baton, EventKind::ClientAdded, None, Some(&client.id)).await;
            writeln!(out, "client_id: {}", client.id)?;
            if let Some(secret) = secret {
                writeln!(out, "client_secret: {secret}")?;
            }
        }
        Command::Client(ClientCommand::Show { name, json }) => {
            let client = clients::find(&baton, &name).await?;
            if json {
                clients::show_json(&mut out, &client)?;
            } else {
                clients::show(&mut out, &client)?;
            }
        }
        Command::Client(ClientCommand::Update {
            name,
            new_secret,
            flags,
        }) => {
            clients::check_changes(&flags, new_secret)?;
            if name == baton_core::service::FIRST_PARTY_CLIENT {
                bail!("the first-party client baton is configured by the server's settings");
            }
            let client = clients::find(&baton, &name).await?;
            let settings = flags.changed(&client)?;
            let (client, secret) = baton.update_client(&name, settings, new_secret).await?;
            let detail = if secret.is_some() {
                format!("{} (new secret)", client.id)
            } else {
                client.id.clone()
            };
            record(&baton, EventKind::ClientUpdated, None, Some(&detail)).await;
            clients::show(&mut out, &client)?;
            if let Some(secret) = secret {
                writeln!(out, "client_secret: {secret}")?;
            }
        }
        Command::User(UserCommand::Role(RoleCommand::Add { name, role })) => {
            let user = baton.user_by_name(&name).await?;
            if baton.add_role(&user.id, &role).await? {
                record(&baton, EventKind::RoleAdded, Some(&user), Some(&role)).await;
                writeln!(out, "gave {} the role {role}", user.username)?;
            } else {
                writeln!(out, "{} has the role {role} already", user.username)?;
            }
        }
        Command::User(UserCommand::Role(RoleCommand::Remove { name, role })) => {
            let user = baton.user_by_name(&name).await?;
            if baton.remove_role(&user.id, &role).await? {
                record(&baton, EventKind::RoleRemoved, Some(&user), Some(&role)).await;
                writeln!(out, "took the role {role} from {}", user.username)?;
            } else {
                writeln!(out, "{} does not have the role {role}", user.username)?;
            }
        }
        Command::User(UserCommand::Role(RoleCommand::List { name })) => {
            let user = baton.user_by_name(&name).await?;
            for role in &user.roles {
                writeln!(out, "{role}")?;
            }
        }
        Command::Client(ClientCommand::List) => {
            for c in baton.clients().await? {
                let kind = if c.confidential {
                    "confidential"
                } else {
                    "public"
                };
                writeln!(out, "{}\t{kind}", c.id)?;
            }
        }
        Command::Client(ClientCommand::Delete { name }) => {
            baton.delete_client(&name).await?;
            record(&baton, EventKind::ClientDeleted, None, Some(&name)).await;
            writeln!(out, "deleted client {name}")?;
        }
        Command::Keys(KeysCommand::Rotate { alg }) => {
            let alg = alg
                .map(|a| a.parse::<SigningAlg>().map_err(|e| anyhow::anyhow!(e)))
                .transpose()?;
            let kid = baton.rotate_signing_key(alg).await?;
            record(&baton, EventKind::KeyRotated, None, Some(&kid)).await;
            writeln!(out, "new signing key {kid} is active")?;
        }
        Command::Audit {
            user,
            since,
            kind,
            limit,
            json,
        } => {
            let user_id = match user {
                Some(name) => Some(
                    find_user(&baton, &name)
                        .await?
                        .with_context(|| format!("no user {name}"))?
                        .id,
                ),
                None => None,
            };
            let since = since
                .map(|s| baton_server::config::parse_duration(&s))
                .transpose()?
                .map(|d| time::Duration::try_from(d).context("--since is too long"))
                .transpose()?
                .map(|d| baton.now() - d);
            let kind = kind
                .map(|k| {
                    EventKind::parse(&k).with_context(|| {
                        let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                        format!("unknown --type {k} (one of {})", known.join(", "))
                    })
                })
                .transpose()?;
            let query = EventQuery {
                user_id,
                since,
                kind,
                before: None,
                limit: limit.clamp(1, 100_000),
            };
            for e in baton.events(&query).await? {
                let at =
                    e.at.format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default();
                if json {
                    let line = serde_json::json!({
                        "id": e.id, "at": at, "type": e.kind.as_str(),
                        "user_id": e.user_id.map(|u| u.to_string()), "username": e.username,
                        "session_id": e.session_id.map(|s| s.to_string()), "ip": e.ip,
                        "user_agent": e.user_agent, "reason": e.reason,
                    });
                    writeln!(out, "{line}")?;
                } else {
                    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
                    writeln!(
                        out,
                        "{at}\t{}\t{}\t{}\t{}\t{}",
                        e.kind.as_str(),
                        dash(e.username),
                        dash(e.ip),
                        dash(e.session_id.map(|s| s.to_string())),
                        dash(e.reason)
                    )?;
                }
            }
        }
        Command::Keys(KeysCommand::Rewrap) => {
            let n = baton.rewrap_keys().await?;
            record(
                &baton,
                EventKind::KeyRotated,
                None,
                Some("rewrapped under a new secret"),
            )
            .await;
            writeln!(out, "{n} signing key(s) encrypted under the current secret")?;
            let totp = baton.rewrap_totp_secrets().await?;
            writeln!(
                out,
                "{totp} TOTP secret(s) encrypted under the current secret"
            )?;
        }
        Command::Keys(KeysCommand::List) => {
            let jwks = baton.jwks();
            for key in jwks["keys"].as_array().into_iter().flatten() {
                writeln!(
                    out,
                    "{}\t{}",
                    key["kid"].as_str().unwrap_or("?"),
                    key["alg"].as_str().unwrap_or("?")
                )?;
            }
        }
    }
    Ok(())
}

/// A live user by name, if there is one.
async fn find_user(baton: &Baton, name: &str) -> anyhow::Result<Option<UserRecord>> {
    let key = Username::parse(name)?.key().to_owned();
    Ok(baton
        .users()
        .await?
        .into_iter()
        .find(|u| u.username_key == key))
}

/// Records what an operator did from the command line.
async fn record(baton: &Baton, kind: EventKind, user: Option<&UserRecord>, detail: Option<&str>) {
    let mut event = AuditEvent::new(kind, baton.now());
    event.user_id = user.map(|u| u.id.clone());
    event.username = user.map(|u| u.username.clone());
    event.reason = Some(match detail {
        Some(d) => format!("command line: {d}"),
        None => "command line".into(),
    });
    baton.record(event).await;
}

/// Reads a password from the terminal (twice, to confirm) or one line of piped standard input.
fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Repeat password: ")?;
        if first != second {
            bail!("the passwords do not match");
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    Ok(password.strip_suffix('\r').unwrap_or(password).to_owned())
}
