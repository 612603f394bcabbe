//! The command line: the subcommand enum and what every command shares
//! (output style, worker pool, progress bar). Each command's arguments and
//! its call into the library live in `cmd/<name>.rs`.

use crate::cmd;
use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand};
use ibstore::report::{Style, Writer};
use std::io::{self, IsTerminal as _};

/// Check and repair the tick stores of the IB-Stream recorder.
///
/// Exit codes: 0 no errors found, 1 errors found (or warnings with --strict),
/// 2 the command could not run.
#[derive(Debug, Parser)]
#[command(name = "ibstore", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check every file of a store: damage, schema, placement, time continuity.
    Validate(cmd::validate::Args),
    /// Repair crash damage: dry run by default, --apply to carry it out, --undo RUN to revert.
    Repair(cmd::repair::Args),
    /// Convert a store into another format: verified, resumable, nothing lost silently.
    Convert(cmd::convert::Args),
    /// Build or refresh the store's time indices and catalog (--check to verify only).
    Index(cmd::index::Args),
    /// Print the records of one contract and tick type in a time window, in (ts, st) order.
    Query(cmd::query::Args),
    /// What a store holds (bytes, files, records, time range, ratios) by day, hour, contract, tick type, format or era.
    Stats(cmd::stats::Args),
    /// Measure a store: read+decode speed per format, size per target format and zstd level, query latency.
    Bench(cmd::bench::Args),
    /// Check or show the recorder's environment files.
    #[command(subcommand)]
    Config(cmd::config::Command),
    /// Compare an old store with a new one: lost, extra, changed records per stream-hour.
    #[command(alias = "validate-migration")]
    Compare(cmd::compare::Args),
    /// Write a deterministic synthetic store, optionally with injected damage.
    Gen(cmd::gen::Args),
    /// Migrate blue-green in one resumable command: backup, convert, compare, index, switch.
    Migrate(cmd::migrate::Args),
    /// Copy a store, with a manifest written last.
    Backup(cmd::backup::BackupArgs),
    /// Check a backup against its manifest (exit 1 on any mismatch or no manifest).
    Verify(cmd::backup::VerifyArgs),
    /// Put a verified backup in place of a store (the store is moved aside, never deleted).
    Restore(cmd::backup::RestoreArgs),
    /// Point a link at a validated store, atomically, and record it in its history.
    Switch(cmd::switch::SwitchArgs),
    /// Point a link back at its previous target (from its history).
    Rollback(cmd::switch::RollbackArgs),
    /// List the switches of a link.
    History(cmd::switch::HistoryArgs),
    /// Print a shell completion script.
    Completions {
        /// Shell to generate for.
        shell: clap_complete::Shell,
    },
    /// Print the man page of ibstore or of one command, or write them all.
    Man(cmd::man::Args),
}

/// Runs the command; returns the exit code.
pub fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Validate(a) => cmd::validate::run(a),
        Command::Repair(a) => cmd::repair::run(a),
        Command::Convert(a) => cmd::convert::run(a),
        Command::Index(a) => cmd::index::run(a),
        Command::Query(a) => cmd::query::run(a),
        Command::Stats(a) => cmd::stats::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        Command::Config(c) => cmd::config::run(c),
        Command::Gen(a) => cmd::gen::run(a),
        Command::Migrate(a) => cmd::migrate::run(a),
        Command::Backup(a) => cmd::backup::run_backup(a),
        Command::Verify(a) => cmd::backup::run_verify(a),
        Command::Restore(a) => cmd::backup::run_restore(a),
        Command::Switch(a) => cmd::switch::run_switch(a),
        Command::Rollback(a) => cmd::switch::run_rollback(a),
        Command::History(a) => cmd::switch::run_history(a),
        Command::Compare(a) => cmd::compare::run(a),
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            clap_complete::generate(shell, &mut Cli::command(), "ibstore", &mut io::stdout());
            Ok(0)
        }
        Command::Man(a) => cmd::man::run(a),
    }
}

/// Options every data command takes.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// Print JSON Lines (schema in the README) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (default: all cores; at most 4 per core).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
}

impl Common {
    /// A report writer on stdout in the chosen style.
    pub fn writer(&self) -> Writer<io::StdoutLock<'static>> {
        writer(self.json)
    }

    /// The worker pool.
    pub fn pool(&self) -> Result<rayon::ThreadPool> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let n = match self.jobs {
            Some(0) => bail!("--jobs must be at least 1"),
            Some(n) if n > 4 * cores => {
                eprintln!(
                    "ibstore: note: --jobs {n} is more than 4 per core on this machine; using {}",
                    4 * cores
                );
                4 * cores
            }
            Some(n) => n,
            None => cores,
        };
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .context("cannot start worker threads")
    }
}

/// A report writer on stdout: JSON Lines, or text (colour only on a
/// terminal and never with `NO_COLOR` set).
pub fn writer(json: bool) -> Writer<io::StdoutLock<'static>> {
    let style = if json {
        Style::Json
    } else {
        Style::Text {
            color: io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    };
    Writer::new(io::stdout().lock(), style)
}

/// A byte progress bar on stderr, only when stderr is a terminal.
#[derive(Debug)]
pub struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    /// A bar (hidden unless stderr is a terminal).
    pub fn new() -> Self {
        Self(io::stderr().is_terminal().then(|| {
            let pb = indicatif::ProgressBar::new(0);
            pb.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            pb
        }))
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(pb) = &self.0 {
            pb.finish_and_clear();
        }
    }
}

impl ibstore::Progress for Bar {
    fn start(&self, total: u64) {
        if let Some(pb) = &self.0 {
            pb.set_length(total);
        }
    }
    fn advance(&self, bytes: u64) {
        if let Some(pb) = &self.0 {
            pb.inc(bytes);
        }
    }
}
