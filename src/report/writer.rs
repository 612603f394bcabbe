//! One writer for every report: JSON Lines (each line an object whose
//! `type` comes first: `begin`, then the command's own lines, then
//! `summary`) or text, where every path and message is escaped so that
//! file names cannot break lines or send control sequences to a terminal.

use super::{Finding, Severity, Tally};
use serde::Serialize;
use std::borrow::Cow;
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

/// Totals closing a report (the JSON `summary` line).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Files examined.
    pub files: u64,
    /// Records (or settings).
    pub records: u64,
    /// Bytes.
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

/// Escapes control characters (C0, DEL, C1) so text output stays one line
/// per item and sends nothing to the terminal: `\n`, `\t`, `\r`, `\x1b`…
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c.is_control()) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let n = c as u32;
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02x}"));
                } else {
                    out.push_str(&format!("\\u{{{n:x}}}"));
                }
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Prints a report in the chosen style.
#[derive(Debug)]
pub struct Writer<W: Write> {
    w: W,
    style: Style,
}

#[derive(Serialize)]
struct Begin<'a> {
    schema: u32,
    tool: &'static str,
    version: &'static str,
    command: &'a str,
    path: &'a str,
}

impl<W: Write> Writer<W> {
    /// A writer to `w`.
    pub fn new(w: W, style: Style) -> Self {
        Self { w, style }
    }

    /// Whether the output is JSON Lines.
    pub fn is_json(&self) -> bool {
        self.style == Style::Json
    }

    /// Escapes for text output (unchanged for JSON, which escapes itself).
    pub fn escape<'a>(&self, s: &'a str) -> Cow<'a, str> {
        escape(s)
    }

    /// Opens a report: the JSON `begin` line, or the text heading.
    pub fn begin(&mut self, command: &str, path: &str) -> io::Result<()> {
        if self.is_json() {
            self.json(
                "begin",
                &Begin {
                    schema: SCHEMA_VERSION,
                    tool: "ibstore",
                    version: env!("CARGO_PKG_VERSION"),
                    command,
                    path,
                },
            )
        } else {
            writeln!(self.w, "ibstore {command}: {}", escape(path))
        }
    }

    /// One JSON line `{"type": ty, …fields of value}` (`value` must
    /// serialize to an object).
    pub fn json<T: Serialize>(&mut self, ty: &str, value: &T) -> io::Result<()> {
        let body = serde_json::to_string(value).map_err(io::Error::other)?;
        let fields = body
            .strip_prefix('{')
            .ok_or_else(|| io::Error::other("a JSON line must be an object"))?;
        write!(self.w, "{{\"type\":\"{ty}\"")?;
        if fields != "}" {
            self.w.write_all(b",")?;
        }
        self.w.write_all(fields.as_bytes())?;
        self.w.write_all(b"\n")
    }

    /// One line of text, as given (the caller escapes what it interpolates).
    pub fn text_line(&mut self, line: &str) -> io::Result<()> {
        writeln!(self.w, "{line}")
    }

    /// The findings: `finding` lines, or a text block.
    pub fn findings(&mut self, findings: &[Finding]) -> io::Result<()> {
        match self.style {
            Style::Json => {
                for f in findings {
                    self.json("finding", f)?;
                }
            }
            Style::Text { color } => {
                if !findings.is_empty() {
                    writeln!(self.w, "\nfindings:")?;
                    for f in findings {
                        self.finding_text(f, color)?;
                    }
                }
            }
        }
        self.w.flush()
    }

    /// Closes a report: the JSON `summary` line (text reports put their own
    /// summary first).
    pub fn summary(&mut self, s: &Summary) -> io::Result<()> {
        if self.is_json() {
            self.json("summary", s)?;
        }
        self.w.flush()
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
            return writeln!(self.w, "{sev}[{}] {}", f.kind, escape(&f.message));
        }
        writeln!(
            self.w,
            "{sev}[{}] {}: {}",
            f.kind,
            escape(&f.location()),
            escape(&f.message)
        )
    }
}
