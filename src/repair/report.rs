//! What a repair run reports: one line per file (the plan, and what became
//! of it), the findings, and the exit code those lead to. Rendered as text
//! or as `repair` JSON lines by [`RepairReport::render`].

use super::apply::{Outcome, Planned};
use super::plan::{Action, Cut};
use super::undo::Undone;
use super::Mode;
use crate::report::{plural, Finding, Kind, Summary, Tally, Units, Writer};
use serde::Serialize;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// What is done to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineAction {
    /// Rewritten without the cut ranges.
    Rewrite,
    /// Removed (an empty file).
    Delete,
    /// Left alone.
    Skip,
    /// Restored by undo.
    Restore,
}

/// What became of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Dry run: would be done.
    Planned,
    /// Done.
    Done,
    /// Left alone (the reason says why).
    Skipped,
    /// A step failed; the file is unchanged.
    Failed,
    /// Restored by undo.
    Restored,
}

/// One file of a repair report.
#[derive(Debug, Clone, Serialize)]
pub struct FileLine {
    /// Path relative to the store root (U+FFFD for bytes that are not UTF-8).
    pub file: String,
    /// The exact bytes of `file`, only when it is not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_bytes: Option<Vec<u8>>,
    /// What is done to it.
    pub action: LineAction,
    /// What became of it.
    pub status: Status,
    /// Why, for skips and failures.
    pub reason: Option<String>,
    /// Bytes kept (decompressed); for undo, the restored file's size.
    pub bytes_kept: u64,
    /// Bytes moved to the quarantine (decompressed).
    pub bytes_quarantined: u64,
    /// Records kept.
    pub records_kept: u64,
    /// Records (or partial records) taken out.
    pub records_lost: u64,
    /// Same-second repeats `--dedup` left alone.
    pub repeats_kept: u64,
    /// The byte ranges cut.
    pub cuts: Vec<Cut>,
    /// Where relocated records go: `(offset, target)` (`--relocate`).
    pub moved: Vec<(u64, String)>,
}

/// Everything a repair run did or would do.
#[derive(Debug)]
pub struct RepairReport {
    /// Store root.
    pub root: PathBuf,
    /// What the run was.
    pub mode: Mode,
    /// The run id (when changes were applied, or the run undone).
    pub run: Option<String>,
    /// Data files examined.
    pub examined: u64,
    /// One line per file with something to do.
    pub lines: Vec<FileLine>,
    /// Findings (skips, failures, refusals, lock take-overs).
    pub findings: Vec<Finding>,
    /// For undo: what it found.
    pub undo: Option<Undone>,
}

impl RepairReport {
    pub(super) fn new(root: &Path, mode: Mode) -> Self {
        Self {
            root: root.to_owned(),
            mode,
            run: None,
            examined: 0,
            lines: Vec::new(),
            findings: Vec::new(),
            undo: None,
        }
    }

    /// Fills the lines from the plans and, after `--apply`, their outcomes.
    pub(super) fn planned(&mut self, files: &[Planned], outcomes: Option<&[Outcome]>) {
        for (i, f) in files.iter().enumerate() {
            let p = &f.plan;
            let (action, mut reason) = match &p.action {
                Action::Rewrite => (LineAction::Rewrite, None),
                Action::Delete => (LineAction::Delete, None),
                Action::Skip(r) => (LineAction::Skip, Some(r.to_string())),
            };
            let status = match (outcomes.and_then(|o| o.get(i)), action) {
                (None, LineAction::Skip) => Status::Skipped,
                (None, _) => Status::Planned,
                (Some(Outcome::Rewritten | Outcome::Deleted), _) => Status::Done,
                (Some(Outcome::Skipped(r)), _) => {
                    reason = Some(r.to_string());
                    Status::Skipped
                }
                (Some(Outcome::Failed(why)), _) => {
                    reason = Some(why.clone());
                    Status::Failed
                }
            };
            if outcomes.is_none() {
                if let Some(r) = &reason {
                    self.findings.push(
                        Finding::new(
                            Kind::RepairSkipped,
                            &p.display,
                            format!("would not be repaired: {r}"),
                        )
                        .bytes(p.raw.clone()),
                    );
                }
            }
            self.lines.push(FileLine {
                file: p.display.clone(),
                file_bytes: p.raw.clone(),
                action,
                status,
                reason,
                bytes_kept: p.bytes_kept,
                bytes_quarantined: p.bytes_quarantined,
                records_kept: p.records_kept,
                records_lost: p.records_lost,
                repeats_kept: p.repeats_kept,
                cuts: p.cuts.clone(),
                moved: p
                    .moves
                    .iter()
                    .map(|m| (m.offset, m.target.clone()))
                    .collect(),
            });
        }
    }

    /// Fills the lines of an undo (`records`: of each restored file).
    pub(super) fn undone(&mut self, done: Undone, records: Vec<u64>) {
        for ((file, size), records) in done.restored.iter().zip(records) {
            let path = crate::fsutil::key_path(file);
            self.lines.push(FileLine {
                file: path.to_string_lossy().into_owned(),
                file_bytes: path.to_str().is_none().then(|| {
                    use std::os::unix::ffi::OsStrExt as _;
                    path.as_os_str().as_bytes().to_vec()
                }),
                action: LineAction::Restore,
                status: Status::Restored,
                reason: None,
                bytes_kept: *size,
                bytes_quarantined: 0,
                records_kept: records,
                records_lost: 0,
                repeats_kept: 0,
                cuts: Vec::new(),
                moved: Vec::new(),
            });
        }
        self.undo = Some(done);
    }

    /// Exit status: 0 when nothing is left to repair (dry run: nothing to
    /// do); 1 when a dry run has work to do, a file was skipped or failed,
    /// an undo was refused for a file or its journal was incomplete.
    pub fn exit_code(&self) -> u8 {
        let tally = Tally::of(&self.findings);
        let pending = self.mode == Mode::DryRun
            && (self.lines.iter().any(|l| l.status == Status::Planned)
                || self.findings.iter().any(|f| f.kind == Kind::StaleTemp));
        let left = self
            .lines
            .iter()
            .any(|l| matches!(l.status, Status::Skipped | Status::Failed));
        let incomplete = self.undo.as_ref().is_some_and(|u| u.incomplete);
        u8::from(pending || left || incomplete || tally.errors > 0)
    }

    fn summary(&self) -> Summary {
        let undo = matches!(self.mode, Mode::Undo(_));
        Summary {
            files: if undo {
                self.lines.len() as u64
            } else {
                self.examined
            },
            records: self.lines.iter().map(|l| l.records_kept).sum(),
            bytes: self.lines.iter().map(|l| l.bytes_kept).sum(),
            streams: 0,
            tally: Tally::of(&self.findings),
            exit_code: self.exit_code(),
            run: self.run.clone(),
            units: Units::Data,
        }
    }

    fn command(&self) -> &'static str {
        match self.mode {
            Mode::DryRun => "repair (dry run; --apply carries it out)",
            Mode::Apply => "repair --apply",
            Mode::Undo(_) => "repair --undo",
        }
    }

    /// Prints the report: `begin`, one `repair` line per file, the findings,
    /// `summary` (JSON); or a readable summary, the files and the findings.
    pub fn render<W: Write>(&self, w: &mut Writer<W>) -> io::Result<()> {
        let path = self.root.display().to_string();
        w.begin(self.command(), &path)?;
        if w.is_json() {
            for l in &self.lines {
                w.json("repair", l)?;
            }
            w.findings(&self.findings)?;
            return w.summary(&self.summary());
        }
        let summary = self.summary();
        if let Some(u) = &self.undo {
            let run = self.run.as_deref().unwrap_or("");
            let head = if u.already {
                format!("run {run} was already undone: nothing to restore")
            } else {
                format!(
                    "{} restored from run {run}: {}, {}",
                    plural(self.lines.len() as u64, "file", "files"),
                    plural(summary.records, "record", "records"),
                    plural(summary.bytes, "byte", "bytes")
                )
            };
            w.text_line(&head)?;
            if u.temps_removed > 0 {
                w.text_line(&format!(
                    "{} of the interrupted run removed",
                    plural(u.temps_removed, "temp file", "temp files")
                ))?;
            }
            for l in &self.lines {
                w.text_line(&format!(
                    "restored {}: {} bytes",
                    w.escape(&l.file),
                    l.bytes_kept
                ))?;
            }
            return w.findings(&self.findings);
        }
        let active = |l: &&FileLine| l.status != Status::Skipped && l.status != Status::Failed;
        let q: u64 = self
            .lines
            .iter()
            .filter(active)
            .map(|l| l.bytes_quarantined)
            .sum();
        let lost: u64 = self
            .lines
            .iter()
            .filter(active)
            .map(|l| l.records_lost)
            .sum();
        let changing = self
            .lines
            .iter()
            .filter(|l| l.action != LineAction::Skip)
            .count() as u64;
        w.text_line(&format!(
            "{} examined, {} to change, {} to quarantine, {} taken out",
            plural(self.examined, "data file", "data files"),
            changing,
            plural(q, "byte", "bytes"),
            plural(lost, "record", "records"),
        ))?;
        if let Some(run) = &self.run {
            w.text_line(&format!(
                "run {run}: undo with `ibstore repair --undo {run} --path {path}`"
            ))?;
        }
        for l in &self.lines {
            let cuts: Vec<String> = l
                .cuts
                .iter()
                .map(|c| format!("@{}+{} {}", c.offset, c.len, c.kind))
                .collect();
            let mut why = l
                .reason
                .as_deref()
                .map_or(String::new(), |r| format!(" ({r})"));
            for (o, t) in &l.moved {
                why.push_str(&format!(" [record @{o} → {}]", w.escape(t)));
            }
            if l.repeats_kept > 0 {
                why.push_str(&format!(
                    " [{} kept]",
                    plural(l.repeats_kept, "same-second repeat", "same-second repeats")
                ));
            }
            w.text_line(&format!(
                "{:<7} {:<8} {}: keep {} ({}), quarantine {} ({}){why}{}{}",
                serde_name(&l.action),
                serde_name(&l.status),
                w.escape(&l.file),
                plural(l.bytes_kept, "byte", "bytes"),
                plural(l.records_kept, "record", "records"),
                plural(l.bytes_quarantined, "byte", "bytes"),
                plural(l.records_lost, "record", "records"),
                if cuts.is_empty() { "" } else { ": " },
                cuts.join(", ")
            ))?;
        }
        w.findings(&self.findings)
    }
}

fn serde_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
