//! `ibstore migrate`: the seed's blue-green flow as one resumable command.
//! backup → convert → compare → index → switch, each step through its own
//! library entry point, with a journal of finished steps in
//! `TO/.ibstore/migrate.jsonl` (appended and fsynced), stopping at the first
//! failed gate with production untouched. A re-run continues: the backup
//! is not taken again; convert, compare and index run again (each only
//! redoes what changed, so convert also catches up records the recorder
//! wrote to the old store since the last run); once the switch is done the
//! migration is finished and a re-run changes nothing.

pub mod catchup;
pub mod estimate;

use crate::compare::allow::Allowance;
use crate::convert::plan::LossField;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::report::Writer;
use crate::scan::ScanOptions;
use crate::store::discover::STATE_DIR;
use crate::Format;
use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Name of the journal in the target's state folder.
pub const JOURNAL: &str = "migrate.jsonl";

/// What to migrate.
#[derive(Debug, Clone)]
pub struct Options {
    /// The production store (read; copied by the backup step).
    pub from: PathBuf,
    /// The new store (created by convert).
    pub to: PathBuf,
    /// Target format.
    pub format: Format,
    /// The format to read when FROM holds several (v2 and v3 side by side).
    pub source_format: Option<Format>,
    /// zstd level of the new store's files.
    pub zstd: Option<i32>,
    /// Losses the format pair implies that the user accepts.
    pub allow_loss: Vec<LossField>,
    /// The production link to switch at the end (none: stop after index).
    pub link: Option<PathBuf>,
    /// Where the backup goes (default: beside FROM).
    pub backup_dest: Option<PathBuf>,
    /// Only print the plan.
    pub dry_run: bool,
}

/// The steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Copy of FROM with a manifest.
    Backup,
    /// FROM → TO in the target format, verified.
    Convert,
    /// FROM vs TO per stream-hour: the gate.
    Compare,
    /// Sparse time indices and catalog of TO.
    Index,
    /// The link pointed at TO.
    Switch,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 5] = [
        Step::Backup,
        Step::Convert,
        Step::Compare,
        Step::Index,
        Step::Switch,
    ];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Step::Backup => "backup",
            Step::Convert => "convert",
            Step::Compare => "compare",
            Step::Index => "index",
            Step::Switch => "switch",
        }
    }
}

/// One journal line: a step that finished, with what it found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Done {
    /// The step.
    pub step: Step,
    /// One line saying what it did.
    pub detail: String,
    /// The backup folder (backup step only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// The migration's options (all but the losses allowed, which a re-run
    /// after a failed gate may add): a re-run with others is refused.
    #[serde(default)]
    pub plan: String,
}

/// What happened to one step in this run.
#[derive(Debug, Clone, Serialize)]
pub struct StepLine {
    /// The step.
    pub step: Step,
    /// `done`, `skipped` (finished by an earlier run), `failed`, `planned`
    /// (dry run), `not_run` (after a failed gate).
    pub status: &'static str,
    /// What it did or why it stopped.
    pub detail: String,
    /// Wall-clock seconds it took (0 when not run).
    pub seconds: f64,
    /// Dry run: seconds estimated from a timed sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_seconds: Option<f64>,
}

/// The sample a dry run timed.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Files sampled.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// FROM's files.
    pub store_files: usize,
    /// FROM's bytes.
    pub store_bytes: u64,
    /// TO's bytes, estimated.
    pub to_bytes: u64,
    /// Seconds the sample took per step.
    pub sample_seconds: [f64; 5],
}

/// A migration's report.
#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    /// The steps.
    pub steps: Vec<StepLine>,
    /// The backup folder, once made.
    pub backup: Option<String>,
    /// Dry run: the sample the estimates come from.
    pub sample: Option<Sample>,
    /// Files of FROM that received records after the last cut-off (after
    /// the switch: the new store does not hold them).
    pub late: Vec<catchup::Late>,
}

impl MigrateReport {
    /// 0 when every step finished (or, dry run, the plan was made); 1 when
    /// a gate failed.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.steps.iter().any(|s| s.status == "failed"))
    }

    /// Prints the report (text or JSON Lines: `migrate_step` lines, then a
    /// summary).
    pub fn render<W: Write>(&self, w: &mut Writer<W>, path: &str) -> io::Result<()> {
        w.begin("migrate", path)?;
        for s in &self.steps {
            if w.is_json() {
                w.json("migrate_step", s)?;
            } else {
                let took = match (s.status, s.estimated_seconds) {
                    ("done" | "failed", _) => format!(" ({:.1} s)", s.seconds),
                    (_, Some(e)) => format!(" (about {e:.1} s)"),
                    _ => String::new(),
                };
                w.text_line(&crate::report::escape(&format!(
                    "{:<8} {:<8} {}{took}",
                    s.step.name(),
                    s.status,
                    s.detail
                )))?;
            }
        }
        let exit_code = self.exit_code();
        if w.is_json() {
            #[derive(Serialize)]
            struct Sum<'a> {
                exit_code: u8,
                backup: &'a Option<String>,
                #[serde(skip_serializing_if = "<[catchup::Late]>::is_empty")]
                late: &'a [catchup::Late],
                #[serde(skip_serializing_if = "Option::is_none")]
                sample: &'a Option<Sample>,
            }
            w.json(
                "summary",
                &Sum {
                    exit_code,
                    backup: &self.backup,
                    late: &self.late,
                    sample: &self.sample,
                },
            )
        } else {
            if !self.late.is_empty() {
                w.text_line(&crate::report::escape(&format!(
                    "late: {} of FROM received records after the last cut-off, which the new store does not hold: {}; \
                     the recorder must write to the link now; convert those hours into a separate folder \
                     (ibstore convert --from FROM --to FROM-late --since HOUR), check them with ibstore compare, and copy them in",
                    crate::report::plural(self.late.len() as u64, "file", "files"),
                    catchup::describe(&self.late)
                )))?;
            }
            if let Some(s) = &self.sample {
                let total: f64 = self.steps.iter().filter_map(|s| s.estimated_seconds).sum();
                w.text_line(&format!(
                    "estimates: about {total:.1} s in all, scaled from a sample of {} of {} files ({} of {} bytes) run through the same steps in {:.2} s",
                    s.files,
                    s.store_files,
                    s.bytes,
                    s.store_bytes,
                    s.sample_seconds.iter().sum::<f64>()
                ))?;
            }
            let dry = self.steps.iter().all(|s| s.status == "planned");
            w.text_line(match exit_code {
                0 if dry => "dry run: nothing was changed",
                0 => "migration: every step finished",
                _ => "migration stopped at a failed step; production is untouched; fix it and run the same command again",
            })
        }
    }
}

fn journal_path(to: &Path) -> PathBuf {
    to.join(STATE_DIR).join(JOURNAL)
}

/// The steps an earlier run finished, from the journal (missing: none). A
/// torn last line (a crash while appending) is ignored; any other bad line
/// is an error naming it.
pub fn finished(to: &Path) -> Result<Vec<Done>> {
    let path = journal_path(to);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::path(&path, e)),
    };
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.is_empty() {
            continue;
        }
        match serde_json::from_str::<Done>(l) {
            Ok(d) => out.push(d),
            Err(_) if i + 1 == lines.len() => {}
            Err(e) => {
                return Err(Error::Journal {
                    path,
                    why: format!("line {}: not a step ibstore writes: {e}", i + 1),
                })
            }
        }
    }
    Ok(out)
}

fn record(to: &Path, d: &Done) -> Result<()> {
    let path = crate::fsutil::resolve_in(to, &format!("{STATE_DIR}/{JOURNAL}"), true)?;
    let line = serde_json::to_vec(d).map_err(|e| Error::Journal {
        path: path.clone(),
        why: e.to_string(),
    })?;
    crate::fsutil::append_line(&path, &line)?;
    crate::fsutil::crash_point();
    Ok(())
}

/// The compare allowances that match the losses the user accepted.
pub(crate) fn allowances(loss: &[LossField]) -> Vec<Allowance> {
    let mut v = Vec::new();
    if loss.contains(&LossField::Ts) {
        v.push(Allowance::NoIbTime);
    }
    if loss.contains(&LossField::PastLimit) {
        v.push(Allowance::V3Drops);
    }
    v
}

/// Runs (or, dry run, plans) a migration.
pub fn run(o: &Options, progress: &dyn Progress) -> Result<MigrateReport> {
    let from = std::fs::canonicalize(&o.from).map_err(|e| Error::path(&o.from, e))?;
    let d = crate::store::discover::discover(&from)?;
    if d.files.is_empty() {
        return Err(Error::Usage(format!(
            "{}: no data files: nothing to migrate",
            from.display()
        )));
    }
    // TO need not exist yet: resolve its parent.
    let to = std::fs::canonicalize(&o.to).ok().or_else(|| {
        let parent =
            o.to.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
        Some(std::fs::canonicalize(parent).ok()?.join(o.to.file_name()?))
    });
    if let Some(to) = &to {
        if to.starts_with(&from) || from.starts_with(to) {
            return Err(Error::Usage(format!(
                "refused: {} and {} are the same or nested",
                from.display(),
                to.display()
            )));
        }
    }
    let mut report = MigrateReport {
        steps: Vec::new(),
        backup: None,
        sample: None,
        late: Vec::new(),
    };
    if o.dry_run {
        let files = d.files.len();
        let bytes = d.total_bytes;
        let est = estimate::estimate(&d, o)?;
        report.sample = Some(Sample {
            files: est.files,
            bytes: est.bytes,
            store_files: files,
            store_bytes: bytes,
            to_bytes: est.to_bytes,
            sample_seconds: est.sample_seconds,
        });
        for step in Step::ALL {
            let detail = match step {
                Step::Backup => format!(
                    "copy {files} files, {bytes} bytes of {} to {}",
                    from.display(),
                    o.backup_dest.as_ref().map_or_else(
                        || crate::backup::sibling(&from, "backup")
                            .display()
                            .to_string(),
                        |p| p.display().to_string()
                    )
                ),
                Step::Convert => format!(
                    "read {bytes} bytes, write {} as {}{} (about {} bytes)",
                    o.to.display(),
                    o.format,
                    o.zstd.map_or(String::new(), |l| format!(" (zstd {l})")),
                    est.to_bytes
                ),
                Step::Compare => format!(
                    "read both stores ({} bytes), compare every stream-hour",
                    bytes + est.to_bytes
                ),
                Step::Index => format!(
                    "index every file of {} ({} bytes)",
                    o.to.display(),
                    est.to_bytes
                ),
                Step::Switch => match &o.link {
                    Some(l) => format!(
                        "validate {} ({} bytes), point {} at it",
                        o.to.display(),
                        est.to_bytes,
                        l.display()
                    ),
                    None => "no --link: nothing to switch".to_owned(),
                },
            };
            report.steps.push(StepLine {
                step,
                status: "planned",
                detail,
                seconds: 0.0,
                estimated_seconds: Some(est.seconds[step as usize]),
            });
        }
        return Ok(report);
    }
    // The link must serve FROM now (or TO, when an earlier run switched it):
    // a migration never points away from a store it did not copy.
    if let Some(link) = &o.link {
        if let Ok(cur) = std::fs::canonicalize(link) {
            let to_c = std::fs::canonicalize(&o.to).ok();
            if cur != from && Some(&cur) != to_c.as_ref() {
                return Err(Error::Usage(format!(
                    "refused: {} points at {}, not at {}: migrate the store the link serves",
                    link.display(),
                    cur.display(),
                    from.display()
                )));
            }
        }
    }
    if let (Some(b), Some(to)) = (&o.backup_dest, &to) {
        let b = std::path::absolute(b).map_err(|e| Error::path(b, e))?;
        if b.starts_with(to) || b.starts_with(&from) {
            return Err(Error::Usage(format!(
                "refused: --backup-dest {} is inside {} or {}",
                b.display(),
                from.display(),
                to.display()
            )));
        }
    }
    let plan = format!(
        "from={} to={} format={} source_format={:?} zstd={:?} link={:?}",
        from.display(),
        o.to.display(),
        o.format,
        o.source_format.map(|f| f.name()),
        o.zstd,
        o.link
    );
    // A TO holding anything but an earlier conversion is refused before its
    // journal or cut-off is written: migrate writes nothing into a foreign
    // folder.
    crate::convert::refuse_foreign_dst(&o.to)?;
    std::fs::create_dir_all(&o.to).map_err(|e| Error::path(&o.to, e))?;
    let mut done = finished(&o.to)?;
    if let Some(d) = done.iter().find(|d| d.plan != plan) {
        return Err(Error::Usage(format!(
            "refused: {} holds a migration made with other options ({}); run it with those, or migrate into a new folder",
            o.to.display(),
            d.plan
        )));
    }
    // A backup an earlier run named must still be whole, or it is taken again.
    done.retain(|d| {
        d.step != Step::Backup
            || d.backup
                .as_deref()
                .and_then(|b| crate::backup::verify(Path::new(b)).ok())
                .is_some_and(|v| v.good())
    });
    let was_done = |s: Step| done.iter().any(|d| d.step == s);
    report.backup = done.iter().find_map(|d| d.backup.clone());
    let mut failed = false;
    for step in Step::ALL {
        if failed {
            report.steps.push(StepLine {
                step,
                status: "not_run",
                detail: "an earlier step failed".into(),
                seconds: 0.0,
                estimated_seconds: None,
            });
            continue;
        }
        // Once switched, the new store is production (the recorder may
        // write to it): a finished migration is never run again.
        let once = matches!(step, Step::Backup | Step::Switch);
        if (once && was_done(step)) || was_done(Step::Switch) {
            report.steps.push(StepLine {
                step,
                status: "skipped",
                detail: "finished by an earlier run".into(),
                seconds: 0.0,
                estimated_seconds: None,
            });
            continue;
        }
        let started = std::time::Instant::now();
        if step == Step::Convert {
            // The cut-off: what convert is about to read.
            catchup::save(&o.to, &catchup::snapshot(&from)?)?;
        }
        let cut = catchup::load(&o.to)?;
        let outcome = run_step(step, o, &from, cut.as_ref(), progress)?;
        if step == Step::Convert {
            catchup::test_hook_grow(&from, "convert");
        }
        if step == Step::Switch && outcome.is_ok() {
            if let Some(cut) = catchup::load(&o.to)? {
                report.late = catchup::late(&from, &cut)?;
            }
        }
        let seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
        match outcome {
            Ok((detail, backup)) => {
                if backup.is_some() {
                    report.backup.clone_from(&backup);
                }
                record(
                    &o.to,
                    &Done {
                        step,
                        detail: detail.clone(),
                        backup,
                        plan: plan.clone(),
                    },
                )?;
                report.steps.push(StepLine {
                    step,
                    status: "done",
                    detail,
                    seconds,
                    estimated_seconds: None,
                });
            }
            Err(why) => {
                failed = true;
                report.steps.push(StepLine {
                    step,
                    status: "failed",
                    detail: why,
                    seconds,
                    estimated_seconds: None,
                });
            }
        }
    }
    Ok(report)
}

/// One step: `Ok(Ok((detail, backup folder)))` when it passed,
/// `Ok(Err(why))` when its gate failed, `Err` when it could not run.
fn run_step(
    step: Step,
    o: &Options,
    from: &Path,
    cut: Option<&catchup::Cutoff>,
    progress: &dyn Progress,
) -> Result<std::result::Result<(String, Option<String>), String>> {
    Ok(match step {
        Step::Backup => {
            let b = crate::backup::backup(from, o.backup_dest.as_deref(), progress)?;
            let dest = b.dest.display().to_string();
            Ok((
                format!(
                    "{} files copied to {dest}, manifest written{}",
                    b.manifest.files.len(),
                    match b.changed.len() {
                        0 => String::new(),
                        n => format!(
                            " ({n} changed during the copy, cut at their last complete record)"
                        ),
                    }
                ),
                Some(dest),
            ))
        }
        Step::Convert => {
            let opts = crate::convert::Options {
                target: o.format,
                zstd: o.zstd,
                filter: Default::default(),
                source_format: o.source_format,
                skip_damaged: false,
                allow_loss: o.allow_loss.clone(),
            };
            let r = crate::convert::run(from, &o.to, &opts, progress)?;
            match r.exit_code() {
                0 => Ok(format!(
                    "{} output files written, {} kept from an earlier run; {} records, verified",
                    r.outputs_written, r.outputs_done, r.records_written
                )),
                _ => Err(format!(
                    "convert did not finish clean ({} output files refused, {} hours mismatched); run `ibstore convert --from {} --to {} --format {}` to see why",
                    r.outputs_refused,
                    r.mismatched_hours,
                    from.display(),
                    o.to.display(),
                    o.format
                )),
            }
            .map(|d| (d, None))
        }
        Step::Compare => {
            let r = crate::compare::run(
                &crate::compare::Options {
                    old: from.to_owned(),
                    new: o.to.clone(),
                    old_format: o.source_format,
                    new_format: None,
                    details: 0,
                    allow: allowances(&o.allow_loss),
                    scan: ScanOptions::default(),
                },
                progress,
            )?;
            let s = r.summary();
            let line = format!(
                "{} hours compared: {} lost, {} changed, {} extra records, {} missing hours",
                s.hours, s.lost, s.changed, s.extra, s.missing_hours
            );
            // Hours that differ only in files the recorder wrote to after
            // the cut-off are caught up before the switch.
            let late: Vec<String> = match cut {
                Some(cut) => catchup::late(from, cut)?
                    .into_iter()
                    .map(|l| l.path)
                    .collect(),
                None => Vec::new(),
            };
            let failing: Vec<_> = r
                .hours
                .iter()
                .filter(|h| {
                    matches!(
                        h.status,
                        crate::compare::Status::Differs
                            | crate::compare::Status::Missing
                            | crate::compare::Status::Damaged
                    )
                })
                .collect();
            let only_late = !late.is_empty()
                && s.damaged_hours == 0
                && s.tally.errors == 0
                && !s.allowances.iter().any(|m| !m.allowed && m.records > 0)
                && failing.iter().all(|h| {
                    !h.old_files.is_empty() && h.old_files.iter().all(|f| late.contains(f))
                });
            if s.exit_code == 0 {
                Ok((line, None))
            } else if only_late {
                Ok((
                    format!(
                        "{line}: every differing hour ({}) is in a file the recorder wrote to after the cut-off; the catch-up converts and compares them again before the switch",
                        failing.len()
                    ),
                    None,
                ))
            } else {
                let mut why: Vec<String> = failing
                    .iter()
                    .take(5)
                    .map(|h| {
                        format!(
                            "{}_{} hour {} {}{}",
                            h.contract_id,
                            h.tick_type,
                            h.partition,
                            h.status.name(),
                            match h.old_files.first() {
                                Some(f) => format!(" ({f})"),
                                None => String::new(),
                            }
                        )
                    })
                    .collect();
                why.extend(
                    r.findings
                        .iter()
                        .filter(|f| f.severity == crate::report::Severity::Error)
                        .take(5)
                        .map(|f| {
                            format!(
                                "{}{}: {}",
                                f.file,
                                f.offset.map_or(String::new(), |o| format!(" @{o}")),
                                f.message
                            )
                        }),
                );
                Err(format!(
                    "the gate failed: {line}, {} damaged hours, {} error findings: {}; run `ibstore compare --old {} --new {} --details 10` to see them",
                    s.damaged_hours,
                    s.tally.errors,
                    why.join("; "),
                    from.display(),
                    o.to.display()
                ))
            }
        }
        Step::Index => {
            let root = std::fs::canonicalize(&o.to).map_err(|e| Error::path(&o.to, e))?;
            let d = crate::store::discover::discover(&root)?;
            let r = crate::index::run(
                d,
                &crate::index::default_dir(&root),
                false,
                crate::index::Mode::Refresh,
                &ScanOptions::default(),
                progress,
            )?;
            let failed = r.count(crate::index::Action::Failed);
            if failed == 0 {
                Ok((
                    format!(
                        "{} files indexed ({} built, {} rebuilt, {} unchanged)",
                        r.files.len(),
                        r.count(crate::index::Action::Built),
                        r.count(crate::index::Action::Rebuilt),
                        r.count(crate::index::Action::Unchanged)
                    ),
                    None,
                ))
            } else {
                Err(format!("{failed} files could not be indexed"))
            }
        }
        Step::Switch => {
            let caught = match catch_up(o, from, cut, progress)? {
                Ok(c) => c,
                Err(why) => return Ok(Err(why)),
            };
            catchup::test_hook_grow(from, "switch");
            match &o.link {
                None => Ok((format!("{caught}no --link given: nothing switched"), None)),
                Some(link) => match crate::switch::switch(link, &o.to, false)? {
                    crate::switch::Outcome::Switched { .. } => Ok((
                        format!(
                            "{caught}{} now points at {}",
                            link.display(),
                            o.to.display()
                        ),
                        None,
                    )),
                    crate::switch::Outcome::Refused { findings, .. } => Err(format!(
                        "the new store has {} error findings; the link is unchanged",
                        findings.len()
                    )),
                    crate::switch::Outcome::Differs { compare, .. } => Err(format!(
                        "the compare gate failed against {}; the link is unchanged",
                        compare.old
                    )),
                },
            }
        }
    })
}

/// Converts, compares and indexes again what arrived in FROM after the
/// cut-off, and moves the cut-off forward: `Ok(Ok(text))` (empty when
/// nothing arrived), `Ok(Err(why))` when a gate failed.
fn catch_up(
    o: &Options,
    from: &Path,
    cut: Option<&catchup::Cutoff>,
    progress: &dyn Progress,
) -> Result<std::result::Result<String, String>> {
    let Some(cut) = cut else {
        return Ok(Ok(String::new()));
    };
    let late = catchup::late(from, cut)?;
    if late.is_empty() {
        return Ok(Ok("nothing arrived in FROM after the cut-off; ".into()));
    }
    let next = catchup::snapshot(from)?;
    for step in [Step::Convert, Step::Compare, Step::Index] {
        if let Err(why) = run_step(step, o, from, Some(&next), progress)? {
            return Ok(Err(format!(
                "the catch-up of {} that arrived after the cut-off ({}) failed at {}: {why}",
                crate::report::plural(late.len() as u64, "file", "files"),
                catchup::describe(&late),
                step.name()
            )));
        }
    }
    catchup::save(&o.to, &next)?;
    Ok(Ok(format!(
        "caught up {} that received records after the cut-off: {} (converted, compared, indexed again); ",
        crate::report::plural(late.len() as u64, "file", "files"),
        catchup::describe(&late)
    )))
}
