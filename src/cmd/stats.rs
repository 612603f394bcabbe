//! `ibstore stats`.

use crate::cli::Common;
use anyhow::Result;
use clap::ValueEnum;
use ibstore::index::{self, Catalog, Mode};
use ibstore::scan::ScanOptions;
use ibstore::stats::{self, By};
use std::path::PathBuf;

/// Groupings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ByArg {
    /// UTC day.
    Day,
    /// UTC hour.
    Hour,
    /// Contract id.
    Contract,
    /// Tick type.
    TickType,
    /// Format and compression.
    Format,
    /// Layout era.
    Era,
}

/// What a store holds, from its catalog (built first if absent).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store root.
    #[arg(long, short = 'p')]
    path: PathBuf,
    /// Group by.
    #[arg(long, value_enum, default_value = "day")]
    by: ByArg,
    /// Indices and catalog are in this folder instead of STORE/.ibstore/index.
    #[arg(long, value_name = "DIR")]
    index_dir: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

fn ts(v: Option<i64>) -> String {
    v.map_or("-".into(), ibstore::time::display_us)
}

/// Runs `stats`.
pub fn run(a: Args) -> Result<u8> {
    let (root, dir) = super::index::locate(&a.path, a.index_dir.as_ref())?;
    // A catalog is used only while it still describes the store: no folder
    // changed (no file added or removed) and every file's size, mtime,
    // ctime and inode are as indexed; else it is refreshed first.
    let loaded = match Catalog::load(&dir) {
        Ok(Some(c)) => match c.current(&root) {
            Ok(()) => Ok(c),
            Err(why) => Err(format!("the catalog is stale ({why}); refreshing it")),
        },
        Ok(None) => Err("no catalog; building it".into()),
        Err(c) => Err(format!("the catalog is unusable ({c}); building it")),
    };
    let cat = match loaded {
        Ok(c) => c,
        Err(why) => {
            eprintln!(
                "ibstore: note: {} in {}",
                ibstore::report::escape(&why),
                ibstore::report::escape(&dir.display().to_string())
            );
            let r = a.common.pool()?.install(|| {
                index::prepare(&dir, a.index_dir.is_some())?;
                let d = ibstore::store::discover::discover(&root)?;
                let links = ibstore::query::links_of(&d);
                if let Some(first) = links.first() {
                    eprintln!(
                        "ibstore: note: {}",
                        ibstore::report::escape(&super::query::links_note(links.len(), first))
                    );
                }
                index::run(
                    d,
                    &dir,
                    a.index_dir.is_some(),
                    Mode::Refresh,
                    &ScanOptions::default(),
                    &(),
                )
            })?;
            r.catalog()
        }
    };
    let by = match a.by {
        ByArg::Day => By::Day,
        ByArg::Hour => By::Hour,
        ByArg::Contract => By::Contract,
        ByArg::TickType => By::TickType,
        ByArg::Format => By::Format,
        ByArg::Era => By::Era,
    };
    let groups = stats::groups(&cat, by);
    let mut w = a.common.writer();
    w.begin("stats", &root.display().to_string())?;
    if w.is_json() {
        for g in &groups {
            w.json(
                if g.group == "total" {
                    "summary"
                } else {
                    "group"
                },
                g,
            )?;
        }
        return Ok(0);
    }
    w.text_line(&format!(
        "{:<16} {:>6} {:>14} {:>12} {:>5} {:<28} {:<28} {:>10} {:>8} {:>6}",
        "group", "files", "bytes", "records", "empty", "first", "last", "rec/s", "B/rec", "ratio"
    ))?;
    for g in &groups {
        w.text_line(&format!(
            "{:<16} {:>6} {:>14} {:>12} {:>5} {:<28} {:<28} {:>10.1} {:>8.1} {:>6.2}",
            w.escape(&g.group),
            g.files,
            g.bytes,
            g.records,
            g.empty_files,
            ts(g.first_ts),
            ts(g.last_ts),
            g.records_per_second,
            g.bytes_per_record,
            g.compression_ratio
        ))?;
    }
    Ok(0)
}
