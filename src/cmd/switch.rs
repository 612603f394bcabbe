//! `ibstore switch`, `rollback` and `history`.

use crate::cli::writer;
use crate::cmd::compare::AllowArg;
use anyhow::Result;
use ibstore::report::{plural, Summary, Tally, Units, Writer};
use ibstore::switch::{history::Entry, Outcome};
use std::io::Write;
use std::path::PathBuf;

/// Point a link at a validated store, atomically, and record it.
#[derive(Debug, clap::Args)]
pub struct SwitchArgs {
    /// The symbolic link (e.g. storage-active); created when missing.
    #[arg(long)]
    link: PathBuf,
    /// The store to point it at (beside the link, same filesystem).
    #[arg(long)]
    to: PathBuf,
    /// Switch even when the target has error findings (or the compare gate
    /// found differences).
    #[arg(long)]
    force: bool,
    /// Run compare's gate first: OLD (e.g. the store the link serves now)
    /// against the target; differences beyond the allowances refuse the
    /// switch (exit 1) unless --force.
    #[arg(long, value_name = "OLD")]
    compare_with: Option<PathBuf>,
    /// Accept a known lossy mapping in the compare gate (as compare's
    /// --allow; repeatable or comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', requires = "compare_with")]
    allow: Vec<AllowArg>,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    json: bool,
}

/// Point a link back at its previous target (from its history).
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The symbolic link.
    #[arg(long)]
    link: PathBuf,
    /// Roll back even when the previous target has error findings.
    #[arg(long)]
    force: bool,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    json: bool,
}

/// List the switches of a link.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The symbolic link.
    #[arg(long)]
    link: PathBuf,
    /// Prune the stores the history names beyond the newest N (never the
    /// current target nor the previous one); a dry run unless --apply.
    #[arg(long, value_name = "N")]
    keep: Option<usize>,
    /// With --keep: delete them (each renamed aside first, then deleted).
    #[arg(long, requires = "keep")]
    apply: bool,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `switch`.
pub fn run_switch(a: SwitchArgs) -> Result<u8> {
    let mut allow: Vec<_> = a.allow.iter().map(|x| (*x).into()).collect();
    allow.sort();
    allow.dedup();
    let o = ibstore::switch::Options {
        force: a.force,
        compare_with: a.compare_with.clone(),
        allow,
    };
    let out = ibstore::switch::switch_with(&a.link, &a.to, &o)?;
    render("switch", &a.link, &out, &mut writer(a.json))
}

/// Runs `rollback`.
pub fn run_rollback(a: RollbackArgs) -> Result<u8> {
    let out = ibstore::switch::rollback(&a.link, a.force)?;
    render("rollback", &a.link, &out, &mut writer(a.json))
}

#[derive(serde::Serialize)]
struct Line<'a> {
    link: String,
    #[serde(flatten)]
    entry: &'a Entry,
    recorded: bool,
}

fn summary(v: &ibstore::switch::history::Validation, exit_code: u8) -> Summary {
    Summary {
        files: v.files,
        records: v.records,
        bytes: 0,
        streams: 0,
        tally: Tally {
            errors: v.errors,
            warnings: v.warnings,
            infos: 0,
        },
        exit_code,
        units: Units::Data,
        run: None,
    }
}

fn render<W: Write>(
    cmd: &str,
    link: &std::path::Path,
    out: &Outcome,
    w: &mut Writer<W>,
) -> Result<u8> {
    let l = ibstore::switch::Link::new(link)?;
    w.begin(cmd, &l.path.display().to_string())?;
    match out {
        Outcome::Switched { entry, recorded } => {
            if w.is_json() {
                w.json(
                    "switch",
                    &Line {
                        link: l.path.display().to_string(),
                        entry,
                        recorded: *recorded,
                    },
                )?;
            } else {
                let v = entry.validation;
                w.text_line(&format!(
                    "validated {}: {}, {}, {}, {}{}",
                    w.escape(&entry.to),
                    plural(v.files, "data file", "data files"),
                    plural(v.records, "record", "records"),
                    plural(v.errors, "error", "errors"),
                    plural(v.warnings, "warning", "warnings"),
                    if entry.forced { " (--force)" } else { "" }
                ))?;
                if let Some(c) = &entry.compare {
                    w.text_line(&compare_line(w, c))?;
                }
                if let Some(c) = &entry.catalog {
                    w.text_line(&format!(
                        "catalog: {}, {} bytes, {}",
                        plural(c.files, "data file", "data files"),
                        c.bytes,
                        c.checksum
                    ))?;
                }
                let from = entry.from.as_deref().unwrap_or("(no link)");
                if *recorded {
                    w.text_line(&format!(
                        "{} already pointed to {} (an interrupted run): history entry recorded",
                        w.escape(&l.path.display().to_string()),
                        w.escape(&entry.to)
                    ))?;
                } else {
                    w.text_line(&format!(
                        "switched {}: {} -> {}",
                        w.escape(&l.path.display().to_string()),
                        w.escape(from),
                        w.escape(&entry.to)
                    ))?;
                }
                w.text_line(&format!(
                    "history: {}",
                    w.escape(&l.history.display().to_string())
                ))?;
            }
            w.summary(&summary(&entry.validation, 0))?;
            Ok(0)
        }
        Outcome::Differs { to, compare } => {
            if w.is_json() {
                w.json("compare_gate", compare)?;
                w.json(
                    "summary",
                    &serde_json::json!({"refused": to.display().to_string(), "exit_code": 1}),
                )?;
            } else {
                w.text_line(&compare_line(w, compare))?;
                w.text_line(&format!(
                    "refused: {} differs from {}; the link is unchanged (ibstore compare --old {} --new {} --details 10 shows the records; --allow or --force to switch anyway)",
                    w.escape(&to.display().to_string()),
                    w.escape(&compare.old),
                    w.escape(&compare.old),
                    w.escape(&to.display().to_string()),
                ))?;
            }
            Ok(1)
        }
        Outcome::Refused {
            to,
            validation,
            findings,
        } => {
            if !w.is_json() {
                w.text_line(&format!(
                    "refused: {} has {} ({}, {}); the link is unchanged (--force to switch anyway)",
                    w.escape(&to.display().to_string()),
                    plural(validation.errors, "error finding", "error findings"),
                    plural(validation.files, "data file", "data files"),
                    plural(validation.records, "record", "records")
                ))?;
            }
            w.findings(findings)?;
            w.summary(&summary(validation, 1))?;
            Ok(1)
        }
    }
}

fn compare_line<W: Write>(w: &Writer<W>, c: &ibstore::switch::history::CompareGate) -> String {
    format!(
        "compared with {}: {} hours, {} lost, {} changed, {} extra records, {} missing hours, {} damaged hours{}: {}",
        w.escape(&c.old),
        c.hours,
        c.lost,
        c.changed,
        c.extra,
        c.missing_hours,
        c.damaged_hours,
        if c.allow.is_empty() {
            String::new()
        } else {
            format!(" (allowed: {})", c.allow.join(", "))
        },
        if c.exit_code == 0 { "gate passed" } else { "gate failed" }
    )
}

/// Runs `history`.
pub fn run_history(a: HistoryArgs) -> Result<u8> {
    if let Some(keep) = a.keep {
        return run_prune(&a, keep);
    }
    let (l, entries) = ibstore::switch::history(&a.link)?;
    let mut w = writer(a.json);
    w.begin("history", &l.path.display().to_string())?;
    if w.is_json() {
        for e in &entries {
            w.json("entry", e)?;
        }
    } else {
        if entries.is_empty() {
            w.text_line("no switches recorded")?;
        }
        for (i, e) in entries.iter().enumerate() {
            w.text_line(&format!(
                "{} {} {} by {}@{}: {} -> {} ({}, {}, {}, {}{}){}{}",
                i + 1,
                e.time,
                e.action,
                w.escape(&e.user),
                w.escape(&e.host),
                w.escape(e.from.as_deref().unwrap_or("(no link)")),
                w.escape(&e.to),
                plural(e.validation.files, "file", "files"),
                plural(e.validation.records, "record", "records"),
                plural(e.validation.errors, "error", "errors"),
                plural(e.validation.warnings, "warning", "warnings"),
                if e.forced { ", forced" } else { "" },
                e.catalog
                    .as_ref()
                    .map_or(String::new(), |c| format!(" catalog {}", c.checksum)),
                e.compare.as_ref().map_or(String::new(), |c| format!(
                    " compare {} with {}",
                    if c.exit_code == 0 { "passed" } else { "failed" },
                    w.escape(&c.old)
                ))
            ))?;
        }
    }
    if w.is_json() {
        w.json(
            "summary",
            &serde_json::json!({"entries": entries.len(), "exit_code": 0}),
        )?;
    }
    Ok(0)
}

fn run_prune(a: &HistoryArgs, keep: usize) -> Result<u8> {
    let l = ibstore::switch::Link::new(&a.link)?;
    let out = ibstore::switch::prune::prune(&a.link, keep, a.apply)?;
    let mut w = writer(a.json);
    w.begin("history", &l.path.display().to_string())?;
    let freed: u64 = out
        .iter()
        .filter(|p| matches!(p.action, "delete" | "deleted"))
        .map(|p| p.bytes)
        .sum();
    let n = out
        .iter()
        .filter(|p| matches!(p.action, "delete" | "deleted"))
        .count() as u64;
    if w.is_json() {
        for p in &out {
            w.json("prune", p)?;
        }
        w.json(
            "summary",
            &serde_json::json!({"stores": n, "bytes": freed, "applied": a.apply, "exit_code": 0}),
        )?;
    } else {
        for p in &out {
            let what = match p.action {
                "keep" => format!("keep {} ({})", w.escape(&p.path), p.why),
                "gone" => format!("gone {} (no longer exists)", w.escape(&p.path)),
                "delete" => format!("would delete {} ({} bytes)", w.escape(&p.path), p.bytes),
                _ => format!("deleted {} ({} bytes)", w.escape(&p.path), p.bytes),
            };
            w.text_line(&what)?;
        }
        w.text_line(&if a.apply {
            format!(
                "{} deleted, {freed} bytes freed",
                plural(n, "store", "stores")
            )
        } else {
            format!(
                "dry run: {} would be deleted, {freed} bytes; run again with --apply",
                plural(n, "store", "stores")
            )
        })?;
    }
    Ok(0)
}
