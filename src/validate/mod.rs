//! `validate`: schema, placement and time-continuity checks of every file of
//! a store, in parallel across files.
//!
//! [`validate_file`] is pure and single-threaded; [`validate_store`] maps it
//! over the discovered files with rayon and sorts the result, so output is
//! deterministic whatever the thread count.

pub mod continuity;
pub mod file;
pub mod record;
pub mod sink;
pub mod streams;

pub use file::{validate_file, FileReport};
pub use streams::StreamSummary;

use crate::error::Result;
use crate::report::{Finding, Tally};
use crate::store::discover::discover;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Default maximum silence inside a file before a `gap` is reported.
pub const DEFAULT_MAX_GAP_S: i64 = 300;

/// Default size above which a JSONL file is validated in parallel parts.
pub const DEFAULT_SPLIT_BYTES: u64 = 16 << 20;

/// Checked options for a validation run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Silence inside a file longer than this (µs) is a `gap`.
    pub max_gap_us: i64,
    /// Occurrences of one finding kind listed per file (repair lists all).
    pub max_per_kind: u64,
    /// JSONL files larger than this are split at line boundaries and their
    /// parts validated in parallel.
    pub split_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_gap_us: DEFAULT_MAX_GAP_S * crate::time::US,
            max_per_kind: sink::MAX_PER_KIND,
            split_bytes: DEFAULT_SPLIT_BYTES,
        }
    }
}

/// Everything a validation run found.
#[derive(Debug)]
pub struct StoreReport {
    /// Canonical root that was scanned.
    pub root: PathBuf,
    /// Per-file reports, sorted by path.
    pub files: Vec<FileReport>,
    /// Per-stream summaries, sorted.
    pub streams: Vec<StreamSummary>,
    /// All findings (discovery, files, streams), sorted by severity, file, offset.
    pub findings: Vec<Finding>,
}

impl StoreReport {
    /// Counts by severity.
    pub fn tally(&self) -> Tally {
        Tally::of(&self.findings)
    }

    /// Records that decoded.
    pub fn records(&self) -> u64 {
        self.files.iter().map(|f| f.records).sum()
    }

    /// Bytes of data files.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.file.size).sum()
    }
}

/// Validates every data file under `path`, calling `progress` with each
/// finished file's size (from worker threads).
pub fn validate_store(
    path: &Path,
    opts: &Options,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<StoreReport> {
    let d = discover(path)?;
    let files: Vec<FileReport> = d
        .files
        .into_par_iter()
        .map(|f| {
            let size = f.file.size;
            let r = validate_file(&f.abs, f.file, opts);
            progress(size);
            r
        })
        .collect();
    let (streams, stream_findings) = streams::summarise(&files);
    let mut findings = d.findings;
    findings.extend(files.iter().flat_map(|f| f.findings.iter().cloned()));
    findings.extend(stream_findings);
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    Ok(StoreReport {
        root: d.root,
        files,
        streams,
        findings,
    })
}
