//! `ibstore config check` and `ibstore config show`.

use crate::cli::writer;
use anyhow::{bail, Context as _, Result};
use ibstore::config::report::{render_check, render_show};
use ibstore::report::{Summary, Tally, Units};
use std::path::PathBuf;

/// Check or show the recorder's environment files.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check env files: syntax, types and ranges, tracked contracts, and the
    /// port / client id / storage separation between environments.
    Check(CheckArgs),
    /// Show the effective configuration of one env file, each value with its source.
    Show(ShowArgs),
}

/// `config check` arguments.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Env files (default: every config/*.env below the current folder).
    files: Vec<PathBuf>,
    /// Exit 1 on warnings too.
    #[arg(long)]
    strict: bool,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    json: bool,
}

/// `config show` arguments.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The env file.
    #[arg(long)]
    env: PathBuf,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs a `config` command.
pub fn run(c: Command) -> Result<u8> {
    match c {
        Command::Check(a) => check(a),
        Command::Show(a) => show(a),
    }
}

fn check(a: CheckArgs) -> Result<u8> {
    let files = if a.files.is_empty() {
        let mut v: Vec<PathBuf> = std::fs::read_dir("config")
            .context("no files given and no config/ folder here")?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "env"))
            .collect();
        v.sort();
        if v.is_empty() {
            bail!("no files given and no config/*.env here");
        }
        v
    } else {
        a.files
    };
    let rep = ibstore::config::check::check_files(&files)?;
    let tally = Tally::of(&rep.findings);
    let summary = Summary {
        files: files.len() as u64,
        records: rep.settings,
        bytes: rep.bytes,
        streams: 0,
        tally,
        exit_code: tally.exit_code(a.strict),
        run: None,
        units: Units::Config,
    };
    let path = files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    render_check(&mut writer(a.json), &path, &rep.findings, &summary)?;
    Ok(summary.exit_code)
}

fn show(a: ShowArgs) -> Result<u8> {
    let env = |k: &str| std::env::var(k).ok();
    let (settings, rep) = ibstore::config::show::show_file(&a.env, &env)?;
    let tally = Tally::of(&rep.findings);
    let summary = Summary {
        files: 1,
        records: settings.len() as u64,
        bytes: rep.bytes,
        streams: 0,
        tally,
        exit_code: tally.exit_code(false),
        run: None,
        units: Units::Config,
    };
    render_show(
        &mut writer(a.json),
        &a.env.display().to_string(),
        &settings,
        &rep.findings,
        &summary,
    )?;
    Ok(summary.exit_code)
}
