//! The one place that prints reports: readable text, or JSON Lines with a
//! stable, versioned schema (documented in the README).
//!
//! JSON Lines records, each with a `type`:
//! `begin` (schema version, tool version, command, path), `finding`
//! (kind, severity, file, offset, record, len, count, message), `stream`
//! (per-stream summary, validate only), `summary` (totals and exit code).

use super::{Finding, Severity, Tally};
use crate::config::show::{Setting, Source};
use crate::validate::StreamSummary;
use serde::Serialize;
use std::io::{self, Write};

/// Version of the JSON Lines schema. Bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Output style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Text, optionally with ANSI colour.
    Text {
        /// Colour severities.
        color: bool,
    },
    /// JSON Lines.
    Json,
}

/// Totals closing a report.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Data files examined.
    pub files: u64,
    /// Records that decoded.
    pub records: u64,
    /// Bytes of data files.
    pub bytes: u64,
    /// Streams.
    pub streams: u64,
    /// Findings by severity.
    #[serde(flatten)]
    pub tally: Tally,
    /// The process exit code this report leads to.
    pub exit_code: u8,
    /// What `files` and `records` count (text wording only; not in JSON).
    #[serde(skip)]
    pub units: Units,
    /// repair: the run id (when changes were applied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

/// What a summary's `files` and `records` count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Units {
    /// Data files and tick records.
    #[default]
    Data,
    /// Env files and settings.
    Config,
}

/// One file of a repair report.
#[derive(Debug, Clone, Serialize)]
pub struct RepairLine {
    /// Path relative to the store root.
    pub file: String,
    /// `rewrite`, `delete` or `skip`.
    pub action: &'static str,
    /// `planned` (dry run), `done`, `skipped`, `restored`.
    pub status: &'static str,
    /// Why, for skips.
    pub reason: Option<String>,
    /// Bytes kept (decompressed).
    pub bytes_kept: u64,
    /// Bytes moved to the quarantine (decompressed).
    pub bytes_quarantined: u64,
    /// Records kept.
    pub records_kept: u64,
    /// Records (or partial records) taken out.
    pub records_lost: u64,
    /// The byte ranges cut.
    pub cuts: Vec<crate::repair::plan::Cut>,
    /// Where relocated records go: `(offset, target)` (`--relocate`).
    pub moved: Vec<(u64, String)>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Line<'a> {
    Begin {
        schema: u32,
        tool: &'static str,
        version: &'static str,
        command: &'a str,
        path: &'a str,
    },
    Finding(&'a Finding),
    Stream(&'a StreamSummary),
    Setting(&'a Setting),
    Repair(&'a RepairLine),
    Summary(&'a Summary),
}

/// Prints a report in the chosen style.
#[derive(Debug)]
pub struct Renderer<W: Write> {
    w: W,
    style: Style,
}

impl<W: Write> Renderer<W> {
    /// A renderer writing to `w`.
    pub fn new(w: W, style: Style) -> Self {
        Self { w, style }
    }

    /// One JSON Lines document: `begin`, the body lines, `summary`.
    fn json_doc<'a>(
        &mut self,
        command: &str,
        path: &str,
        body: impl Iterator<Item = Line<'a>>,
        summary: &Summary,
    ) -> io::Result<()> {
        self.json(&Line::Begin {
            schema: SCHEMA_VERSION,
            tool: "ibstore",
            version: env!("CARGO_PKG_VERSION"),
            command,
            path,
        })?;
        for line in body {
            self.json(&line)?;
        }
        self.json(&Line::Summary(summary))
    }

    fn json(&mut self, line: &Line<'_>) -> io::Result<()> {
        serde_json::to_writer(&mut self.w, line)?;
        self.w.write_all(b"\n")
    }

    /// Renders a whole report: for text, the summary first, then streams,
    /// then findings by severity; for JSON, begin, findings, streams, summary.
    pub fn report(
        &mut self,
        command: &str,
        path: &str,
        findings: &[Finding],
        streams: &[StreamSummary],
        summary: &Summary,
    ) -> io::Result<()> {
        match self.style {
            Style::Json => {
                let body = findings
                    .iter()
                    .map(Line::Finding)
                    .chain(streams.iter().map(Line::Stream));
                self.json_doc(command, path, body, summary)?;
            }
            Style::Text { color } => {
                writeln!(self.w, "ibstore {command}: {path}")?;
                let t = summary.tally;
                if summary.units == Units::Config {
                    writeln!(
                        self.w,
                        "{} env files, {} settings, {} bytes",
                        summary.files, summary.records, summary.bytes
                    )?;
                } else {
                    writeln!(
                        self.w,
                        "{} data files, {} records, {} bytes, {} streams",
                        summary.files, summary.records, summary.bytes, summary.streams
                    )?;
                }
                writeln!(
                    self.w,
                    "{} errors, {} warnings, {} info",
                    t.errors, t.warnings, t.infos
                )?;
                if !streams.is_empty() {
                    writeln!(self.w, "\nstreams:")?;
                    for s in streams {
                        self.stream_text(s)?;
                    }
                }
                self.findings_text(findings, color)?;
            }
        }
        self.w.flush()
    }

    /// Renders a repair plan or run: per-file lines, then findings.
    pub fn repair(
        &mut self,
        command: &str,
        path: &str,
        lines: &[RepairLine],
        findings: &[Finding],
        summary: &Summary,
    ) -> io::Result<()> {
        match self.style {
            Style::Json => {
                let body = lines
                    .iter()
                    .map(Line::Repair)
                    .chain(findings.iter().map(Line::Finding));
                self.json_doc(command, path, body, summary)?;
            }
            Style::Text { color } => {
                writeln!(self.w, "ibstore {command}: {path}")?;
                let q: u64 = lines
                    .iter()
                    .filter(|l| l.status != "skipped")
                    .map(|l| l.bytes_quarantined)
                    .sum();
                let lost: u64 = lines
                    .iter()
                    .filter(|l| l.status != "skipped")
                    .map(|l| l.records_lost)
                    .sum();
                writeln!(self.w, "{} data files examined, {} to change, {q} bytes to quarantine, {lost} records taken out", summary.files, lines.iter().filter(|l| l.action != "skip").count())?;
                if let (Some(run), false) = (&summary.run, command.contains("undo")) {
                    writeln!(
                        self.w,
                        "run {run}: undo with `ibstore repair --undo {run} --path {path}`"
                    )?;
                }
                for l in lines {
                    if l.action == "restore" {
                        writeln!(self.w, "restored {}", l.file)?;
                        continue;
                    }
                    let cuts: Vec<String> = l
                        .cuts
                        .iter()
                        .map(|c| format!("@{}+{} {}", c.offset, c.len, c.kind))
                        .collect();
                    let why = l
                        .reason
                        .as_deref()
                        .map_or(String::new(), |r| format!(" ({r})"));
                    let why = l
                        .moved
                        .iter()
                        .fold(why, |w, (o, t)| format!("{w} [record @{o} → {t}]"));
                    writeln!(self.w, "{:<7} {:<8} {}: keep {} bytes ({} records), quarantine {} bytes ({} records){why}{}{}", l.action, l.status, l.file, l.bytes_kept, l.records_kept, l.bytes_quarantined, l.records_lost, if cuts.is_empty() { "" } else { ": " }, cuts.join(", "))?;
                }
                self.findings_text(findings, color)?;
            }
        }
        self.w.flush()
    }

    /// Renders `config show`: the effective settings, then any findings.
    pub fn settings(
        &mut self,
        path: &str,
        settings: &[Setting],
        findings: &[Finding],
        summary: &Summary,
    ) -> io::Result<()> {
        match self.style {
            Style::Json => {
                let body = findings
                    .iter()
                    .map(Line::Finding)
                    .chain(settings.iter().map(Line::Setting));
                self.json_doc("config show", path, body, summary)?;
            }
            Style::Text { color } => {
                writeln!(
                    self.w,
                    "# effective configuration of {path} (process environment > file > defaults)"
                )?;
                for s in settings {
                    let from = match (s.source, s.line) {
                        (Source::File, Some(l)) => format!("{path}:{l}"),
                        (Source::Process, _) => "process environment".into(),
                        (Source::Default, _) | (Source::File, None) => "default".into(),
                    };
                    let unknown = if s.known {
                        ""
                    } else {
                        ", not read by the recorder"
                    };
                    writeln!(self.w, "{}={}  # {from}{unknown}", s.name, s.value)?;
                }
                self.findings_text(findings, color)?;
            }
        }
        self.w.flush()
    }

    fn stream_text(&mut self, s: &StreamSummary) -> io::Result<()> {
        let span = match (s.first_ts, s.last_ts) {
            (Some(a), Some(b)) => format!(
                "{} .. {}",
                crate::time::display_us(a),
                crate::time::display_us(b)
            ),
            _ => "no records".into(),
        };
        let base = if s.base.is_empty() {
            String::new()
        } else {
            format!("{}/", s.base)
        };
        writeln!(
            self.w,
            "  {base}{} [{}]: {} files, {} records, {} bytes, {span}, {} gaps",
            s.name, s.format, s.files, s.records, s.bytes, s.gaps
        )
    }

    fn findings_text(&mut self, findings: &[Finding], color: bool) -> io::Result<()> {
        if !findings.is_empty() {
            writeln!(self.w, "\nfindings:")?;
            for f in findings {
                self.finding_text(f, color)?;
            }
        }
        Ok(())
    }

    fn finding_text(&mut self, f: &Finding, color: bool) -> io::Result<()> {
        let sev = f.severity.name();
        let sev = match (color, f.severity) {
            (false, _) => sev.to_owned(),
            (true, Severity::Error) => format!("\x1b[31m{sev}\x1b[0m"),
            (true, Severity::Warning) => format!("\x1b[33m{sev}\x1b[0m"),
            (true, Severity::Info) => format!("\x1b[36m{sev}\x1b[0m"),
        };
        // A message that begins with its own place (`FILE:LINE: …`, as
        // config findings do) is printed as it is.
        if !f.file.is_empty() && f.message.starts_with(&format!("{}:", f.file)) {
            return writeln!(self.w, "{sev}[{}] {}", f.kind, f.message);
        }
        let mut loc = f.file.clone();
        if let Some(o) = f.offset {
            loc.push_str(&format!(" @{o}"));
        }
        if let Some(r) = f.record {
            loc.push_str(&format!(" #{r}"));
        }
        writeln!(self.w, "{sev}[{}] {loc}: {}", f.kind, f.message)
    }
}
