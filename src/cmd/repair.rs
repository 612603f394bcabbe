//! `ibstore repair` (and `validate --repair`).

use crate::cli::{Bar, Common};
use anyhow::Result;
use ibstore::repair::{Mode, RepairOptions};
use std::path::PathBuf;

/// Repair crash damage: dry run by default, --apply to carry it out, --undo RUN to revert.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store root (a symbolic link to it, such as storage-active, is fine).
    #[arg(long, short = 'p')]
    path: PathBuf,
    /// Carry the plan out (without it, only show it).
    #[arg(long, conflicts_with = "undo")]
    apply: bool,
    /// Restore every file a run changed, byte for byte.
    #[arg(long, value_name = "RUN", conflicts_with_all = ["sort", "dedup", "normalize_eol", "relocate", "include_active"])]
    undo: Option<String>,
    /// Also repair the newest hour of each stream (the recorder may be writing it).
    #[arg(long)]
    include_active: bool,
    /// Rewrite good data too: stable sort of each file by (ts, st).
    #[arg(long)]
    sort: bool,
    /// Rewrite good data too: remove duplicates (exact copies, repeated
    /// blocks); same-second repeats that differ in st are kept.
    #[arg(long)]
    dedup: bool,
    /// Rewrite good data too: CRLF line ends to LF.
    #[arg(long)]
    normalize_eol: bool,
    /// Move records of another contract, tick type or hour (v2: envelope
    /// hour, spill-over included) into the file they belong in (created in
    /// the store's layout when missing).
    #[arg(long)]
    relocate: bool,
    #[command(flatten)]
    common: Common,
}

/// Runs `repair`.
pub fn run(a: Args) -> Result<u8> {
    let mode = match (a.undo, a.apply) {
        (Some(run), _) => Mode::Undo(run),
        (None, true) => Mode::Apply,
        (None, false) => Mode::DryRun,
    };
    let opts = RepairOptions {
        include_active: a.include_active,
        sort: a.sort,
        dedup: a.dedup,
        normalize_eol: a.normalize_eol,
        relocate: a.relocate,
    };
    execute(&a.path, &mode, &opts, &a.common)
}

/// `validate --repair`: the seed's command, the same as `repair --apply`.
pub fn apply_for_validate(path: PathBuf, common: Common) -> Result<u8> {
    execute(&path, &Mode::Apply, &RepairOptions::default(), &common)
}

fn execute(
    path: &std::path::Path,
    mode: &Mode,
    opts: &RepairOptions,
    common: &Common,
) -> Result<u8> {
    let bar = Bar::new();
    let report = common
        .pool()?
        .install(|| ibstore::repair::run(path, mode, opts, &bar))?;
    bar.finish();
    report.render(&mut common.writer())?;
    Ok(report.exit_code())
}
