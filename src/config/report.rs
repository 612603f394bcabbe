//! The reports of `config check` and `config show`: text, or `setting` and
//! `finding` JSON lines through the shared [`Writer`].

use super::show::{Setting, Source};
use crate::report::{Finding, Summary, Writer};
use std::io::{self, Write};

/// Renders `config check`: the totals, then the findings.
pub fn render_check<W: Write>(
    w: &mut Writer<W>,
    path: &str,
    findings: &[Finding],
    summary: &Summary,
) -> io::Result<()> {
    w.begin("config check", path)?;
    if !w.is_json() {
        let t = summary.tally;
        use crate::report::plural;
        w.text_line(&format!(
            "{}, {}, {}",
            plural(summary.files, "env file", "env files"),
            plural(summary.records, "setting", "settings"),
            plural(summary.bytes, "byte", "bytes")
        ))?;
        w.text_line(&format!(
            "{}, {}, {} info",
            plural(t.errors, "error", "errors"),
            plural(t.warnings, "warning", "warnings"),
            t.infos
        ))?;
    }
    w.findings(findings)?;
    w.summary(summary)
}

/// Renders `config show`: every effective setting with its source, then
/// any findings.
pub fn render_show<W: Write>(
    w: &mut Writer<W>,
    path: &str,
    settings: &[Setting],
    findings: &[Finding],
    summary: &Summary,
) -> io::Result<()> {
    if w.is_json() {
        w.begin("config show", path)?;
        w.findings(findings)?;
        for s in settings {
            w.json("setting", s)?;
        }
        return w.summary(summary);
    }
    let p = w.escape(path).into_owned();
    w.text_line(&format!(
        "# effective configuration of {p} (process environment > file > defaults)"
    ))?;
    for s in settings {
        let from = match (s.source, s.line) {
            (Source::File, Some(l)) => format!("{p}:{l}"),
            (Source::Process, _) => "process environment".into(),
            (Source::Default, _) | (Source::File, None) => "default".into(),
        };
        let unknown = if s.known {
            ""
        } else {
            ", not read by the recorder"
        };
        w.text_line(&format!(
            "{}={}  # {from}{unknown}",
            w.escape(&s.name),
            w.escape(&s.value)
        ))?;
    }
    w.findings(findings)
}
