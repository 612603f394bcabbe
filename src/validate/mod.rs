//! `validate`: schema, placement and time-continuity checks of every file of
//! a store, in parallel across files. Each file is scanned once
//! ([`crate::scan`]); this module gathers the scans' findings, sums streams
//! and finds missing hours across files. Output is sorted, so it is the same
//! whatever the thread count.

pub mod streams;

pub use streams::StreamSummary;

use crate::error::Result;
use crate::progress::Progress;
use crate::report::{Finding, Summary, Tally, Units, Writer};
use crate::scan::{self, FileScan, ScanOptions};
use crate::store::discover::Discovery;
use rayon::prelude::*;
use std::io::{self, Write};
use std::path::PathBuf;

/// Everything a validation run found.
#[derive(Debug)]
pub struct StoreReport {
    /// Canonical root that was scanned.
    pub root: PathBuf,
    /// Per-file scans, sorted by path.
    pub files: Vec<FileScan>,
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

/// Validates every discovered data file, reporting progress by bytes.
pub fn run(d: Discovery, opts: &ScanOptions, progress: &dyn Progress) -> Result<StoreReport> {
    run_with(d, opts, progress, Vec::new())
}

/// [`run`], with the scans of files already known (`validate --incremental`:
/// unchanged files whose index says their last scan was clean).
pub fn run_with(
    d: Discovery,
    opts: &ScanOptions,
    progress: &dyn Progress,
    known: Vec<FileScan>,
) -> Result<StoreReport> {
    progress.start(d.total_bytes);
    let mut files: Vec<FileScan> = d
        .files
        .into_par_iter()
        .map(|f| {
            let r = scan::scan(&f, opts);
            progress.advance(f.file.size);
            r
        })
        .collect();
    if !known.is_empty() {
        files.extend(known);
        files.sort_by(|a, b| a.file.rel.cmp(&b.file.rel));
    }
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

impl StoreReport {
    /// Totals and the exit code (`strict`: warnings count too).
    pub fn summary(&self, strict: bool) -> Summary {
        let tally = self.tally();
        Summary {
            files: self.files.len() as u64,
            records: self.records(),
            bytes: self.bytes(),
            streams: self.streams.len() as u64,
            tally,
            exit_code: tally.exit_code(strict),
            units: Units::Data,
            run: None,
        }
    }

    /// Prints the report: `begin`, `finding` lines, `stream` lines,
    /// `summary` (JSON); or the totals first, then streams, then findings.
    pub fn render<W: Write>(&self, w: &mut Writer<W>, strict: bool) -> io::Result<()> {
        let s = self.summary(strict);
        w.begin("validate", &self.root.display().to_string())?;
        if w.is_json() {
            w.findings(&self.findings)?;
            for st in &self.streams {
                w.json("stream", st)?;
            }
            return w.summary(&s);
        }
        let t = s.tally;
        w.text_line(&format!(
            "{}, {}, {}, {}",
            plural(s.files, "data file", "data files"),
            plural(s.records, "record", "records"),
            plural(s.bytes, "byte", "bytes"),
            plural(s.streams, "stream", "streams")
        ))?;
        w.text_line(&format!(
            "{}, {}, {} info",
            plural(t.errors, "error", "errors"),
            plural(t.warnings, "warning", "warnings"),
            t.infos
        ))?;
        if !self.streams.is_empty() {
            w.text_line("\nstreams:")?;
            for st in &self.streams {
                let line = streams::describe(st);
                w.text_line(&format!("  {}", w.escape(&line)))?;
            }
        }
        w.findings(&self.findings)
    }
}

/// `1 record`, `2 records`.
fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
