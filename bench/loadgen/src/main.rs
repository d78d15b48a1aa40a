//! `baton-loadgen`: the load client and the machine-ceiling probes of baton's comparative
//! benchmark (`bench/run`, not part of CI).
//!
//! - `run` drives one server (baton, the Express tutorial peer or the DRF + SimpleJWT peer) with
//!   one scenario at one concurrency, samples the server's memory and CPU from `/proc`, and writes
//!   one JSON object.
//! - `limits` measures what this machine can do at most for the work baton does: token signing
//!   and verification, Argon2id hashing, and SQLite rotation transactions.

// A benchmark tool: its one-line summaries go to standard output on purpose.
#![allow(clippy::print_stdout)]

mod dpop;
mod http;
mod limits;
mod procfs;
mod scenario;
mod stats;
mod system;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Load client and ceiling probes for baton's benchmark.
#[derive(Debug, Parser)]
#[command(name = "baton-loadgen")]
struct Cli {
    /// Worker threads of the load client's runtime (it shares the cores with the server).
    #[arg(long, global = true, default_value_t = 2)]
    threads: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one scenario against one server and write its results as JSON.
    Run(scenario::RunArgs),
    /// Measure this machine's ceilings (signing, Argon2id, SQLite rotations) and write JSON.
    Limits {
        /// Where to write the JSON.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("baton-loadgen: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    match cli.command {
        Command::Run(args) => runtime.block_on(scenario::run(args, cli.threads)),
        Command::Limits { out } => {
            let report = runtime.block_on(limits::measure())?;
            write_json(&out, &report)?;
            Ok(())
        }
    }
}

/// Writes `value` pretty-printed to `path`.
fn write_json(path: &std::path::Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("cannot serialise the results")?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}
