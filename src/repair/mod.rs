//! `repair`: crash damage repaired with nothing lost and everything undoable.
//!
//! [`run`] holds a run's rules: find the store root, take the store's lock
//! before planning (for `--apply` and `--undo`) and hold it to the last step,
//! scan every file once ([`crate::scan`]) and plan from the scan
//! ([`plan::plan_file`]), then carry the plan out on the same open handles
//! ([`apply::apply`]): every cut byte is copied into
//! `.ibstore/quarantine/<run>/`, every step journaled in
//! `.ibstore/journal/<run>.jsonl`, files replaced atomically. [`undo::undo`]
//! restores the originals byte for byte.

pub mod apply;
pub mod journal;
pub mod lock;
pub mod plan;
mod report;
pub mod undo;

pub use report::{FileLine, LineAction, RepairReport, Status};

use crate::error::Result;
use crate::progress::Progress;
use crate::report::{Finding, Kind};
use crate::scan::{self, ScanOptions};
use crate::store::discover::{discover, store_root, Found};
use crate::store::layout::{classify, DataFile};
use crate::store::naming::FileName;
use apply::{Planned, RunDirs};
use plan::{Action, Order, SkipReason};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Repair options (the opt-in rewrites of good data are off by default).
#[derive(Debug, Clone, Default)]
pub struct RepairOptions {
    /// Also repair the newest hour of each stream.
    pub include_active: bool,
    /// Stable sort by `(ts, st)`.
    pub sort: bool,
    /// Remove duplicates (later copies are quarantined).
    pub dedup: bool,
    /// CRLF → LF.
    pub normalize_eol: bool,
    /// Move records into the file of their own contract, tick type and hour.
    pub relocate: bool,
}

/// What a repair run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Show the plan; change nothing.
    DryRun,
    /// Carry the plan out.
    Apply,
    /// Restore every file a run changed.
    Undo(String),
}

/// A run id: UTC time and process id, sortable.
pub fn new_run_id() -> String {
    let now = crate::time::now_us();
    let iso = crate::time::format_iso(now - now % crate::time::US);
    let compact: String = iso
        .trim_end_matches("+00:00")
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    format!("{compact}Z-{}", std::process::id())
}

fn stream_key(f: &DataFile) -> (String, String) {
    let name = match f.name {
        FileName::V3 { cid, tt, .. } => format!("{cid}_{tt}"),
        _ => f.stem.clone(),
    };
    (f.base.clone(), name)
}

/// Runs a repair (dry run, apply or undo) of the store at `path`.
pub fn run(
    path: &Path,
    mode: &Mode,
    opts: &RepairOptions,
    progress: &dyn Progress,
) -> Result<RepairReport> {
    let root = store_root(path)?;
    let mut report = RepairReport::new(&root, mode.clone());
    let state = root.join(crate::store::discover::STATE_DIR);
    let _lock = if *mode == Mode::DryRun {
        None
    } else {
        // `.ibstore` and the lock must be real (no symbolic link: the lock
        // file is truncated, and every state write goes below it).
        crate::fsutil::resolve_in(
            &root,
            &format!("{}/{}", crate::store::discover::STATE_DIR, lock::LOCK_FILE),
            true,
        )?;
        let holder = match mode {
            Mode::Undo(run) => format!("undo {run}"),
            _ => "repair".to_owned(),
        };
        let (lock, left) = lock::Lock::take(&state, &holder)?;
        test_hook_hold();
        if let Some(left) = left {
            report.findings.push(Finding::new(
                Kind::StaleLock,
                ".ibstore/lock",
                format!("took over the lock of a run that ended without releasing it ({left})"),
            ));
        }
        Some(lock)
    };
    if let Mode::Undo(run) = mode {
        let done = undo::undo(&root, run, &mut report.findings)?;
        // Each restored file read once, for its record count.
        let records = done
            .restored
            .par_iter()
            .map(|(key, _)| restored_records(&root, key))
            .collect();
        report.run = Some(run.clone());
        report.undone(done, records);
        return Ok(report);
    }
    let d = discover(&root)?;
    progress.start(d.total_bytes);
    report.examined = d.files.len() as u64;
    let stale_temps: Vec<String> = d
        .findings
        .iter()
        .filter(|f| f.kind == Kind::StaleTemp)
        .map(|f| crate::fsutil::rel_key(&f.file, f.file_bytes.as_deref()))
        .collect();
    if *mode == Mode::DryRun {
        for t in &stale_temps {
            report.findings.push(Finding::new(
                Kind::StaleTemp,
                t,
                "temp file of an interrupted ibstore write; --apply moves it to the quarantine",
            ));
        }
    }
    let mut newest: BTreeMap<(String, String), i64> = BTreeMap::new();
    for f in &d.files {
        if let Some(h) = f.file.hour {
            let e = newest.entry(stream_key(&f.file)).or_insert(h);
            *e = (*e).max(h);
        }
    }
    let is_active = |f: &DataFile| {
        f.hour
            .is_some_and(|h| newest.get(&stream_key(f)).is_some_and(|n| *n <= h))
    };
    let scan_opts = ScanOptions {
        max_per_kind: u64::MAX,
        crc: true,
        ..ScanOptions::default()
    };
    let want_order = opts.sort || opts.normalize_eol;
    let keep_all = opts.relocate && *mode == Mode::Apply;
    if keep_all {
        raise_open_files_limit();
    }
    let scanned: Vec<(
        Found,
        Option<Planned>,
        Option<crate::format::source::Source>,
    )> = d
        .files
        .into_par_iter()
        .map(|f| {
            let s = scan::scan_with(&f, &scan_opts, &|| Order::default());
            progress.advance(f.file.size);
            let order: Vec<_> = s.visits.into_iter().flat_map(|o| o.0).collect();
            let plan = plan::plan_file(
                &s.scan,
                f.abs.clone(),
                want_order.then_some(order.as_slice()),
                is_active(&f.file),
                opts,
            );
            let mut source = s.source;
            if let Some(src) = &mut source {
                src.park();
            }
            match plan {
                Some(plan) => {
                    let p = Planned {
                        plan,
                        source: if *mode == Mode::Apply { source } else { None },
                        crc32: s.scan.crc32,
                    };
                    (f, Some(p), None)
                }
                None => (f, None, if keep_all { source } else { None }),
            }
        })
        .collect();
    let mut files: Vec<Planned> = Vec::new();
    let mut idle: HashMap<String, crate::format::source::Source> = HashMap::new();
    for (f, p, s) in scanned {
        match p {
            Some(p) => files.push(p),
            None => {
                if let Some(s) = s {
                    idle.insert(
                        crate::fsutil::rel_key(&f.file.rel, f.file.raw.as_deref()),
                        s,
                    );
                }
            }
        }
    }
    let appends = relocations(&root, &mut files, &newest, opts);
    let mut targets: HashMap<String, (crate::format::source::Source, crate::format::Format)> =
        HashMap::new();
    for (t, moves) in &appends {
        if let (Some(s), Some((i, _))) = (idle.remove(t), moves.first()) {
            if let Some(fmt) = files[*i].plan.format {
                targets.insert(t.clone(), (s, fmt));
            }
        }
    }
    drop(idle);
    let work_to_do = files
        .iter()
        .any(|f| matches!(f.plan.action, Action::Rewrite | Action::Delete))
        || !stale_temps.is_empty();
    let mut outcomes = None;
    if *mode == Mode::Apply && work_to_do {
        let id = new_run_id();
        let dirs = RunDirs::new(&root, &id);
        dirs.create()?;
        let work = apply::Work {
            root: &root,
            files: &mut files,
            targets: &mut targets,
            appends: &appends,
            stale_temps: &stale_temps,
        };
        outcomes = Some(apply::apply(work, &dirs, &mut report.findings)?);
        report.run = Some(id);
    }
    report.planned(&files, outcomes.as_deref());
    Ok(report)
}

/// The records of a file undo restored (0 for one it removed).
fn restored_records(root: &Path, key: &str) -> u64 {
    let abs = root.join(crate::fsutil::key_path(key));
    let Some(ext) = crate::format::Extension::from_path(&abs) else {
        return 0;
    };
    if !abs.is_file() {
        return 0;
    }
    let file = classify(&abs, key.to_owned(), ext, 0);
    scan::scan(&Found { abs, file }, &ScanOptions::default()).records
}

/// Decides which moves happen: a target in the newest hour of its stream
/// waits for `--include-active`; a target with its own repair to do waits
/// for the next run. Returns the moves by target.
fn relocations(
    root: &Path,
    files: &mut [Planned],
    newest: &BTreeMap<(String, String), i64>,
    opts: &RepairOptions,
) -> BTreeMap<String, Vec<(usize, plan::Move)>> {
    let planned: HashMap<String, bool> = files
        .iter()
        .map(|f| (f.plan.rel.clone(), f.plan.action == Action::Rewrite))
        .collect();
    let mut appends: BTreeMap<String, Vec<(usize, plan::Move)>> = BTreeMap::new();
    for (i, f) in files.iter_mut().enumerate() {
        if f.plan.action != Action::Rewrite || f.plan.moves.is_empty() {
            continue;
        }
        // A stream-hour has one home file: when the target named after the
        // source's compression is missing but its plain or `.zst` twin is
        // there, the records go into the twin.
        for m in &mut f.plan.moves {
            let twin = match m.target.strip_suffix(".zst") {
                Some(plain) => plain.to_owned(),
                None => format!("{}.zst", m.target),
            };
            let exists = |t: &str| {
                std::fs::symlink_metadata(root.join(crate::fsutil::key_path(t)))
                    .is_ok_and(|md| md.is_file())
            };
            if !exists(&m.target) && exists(&twin) {
                m.target = twin;
            }
        }
        let target_active = |t: &str| {
            let abs = root.join(t);
            crate::format::Extension::from_path(&abs).is_some_and(|ext| {
                let c = classify(&abs, t.to_owned(), ext, 0);
                c.hour.is_some()
                    && newest
                        .get(&stream_key(&c))
                        .is_some_and(|h| Some(*h) <= c.hour)
            })
        };
        if let Some(m) = f.plan.moves.iter().find(|m| target_active(&m.target)) {
            if !opts.include_active {
                f.plan.action = Action::Skip(SkipReason::ActiveTarget(m.target.clone()));
                continue;
            }
        }
        if let Some(m) = f
            .plan
            .moves
            .iter()
            .find(|m| planned.get(&m.target).copied().unwrap_or(false))
        {
            f.plan.action = Action::Skip(SkipReason::TargetNeedsRepair(m.target.clone()));
            continue;
        }
        for m in &f.plan.moves {
            appends
                .entry(m.target.clone())
                .or_default()
                .push((i, m.clone()));
        }
    }
    appends
}

/// Debug builds only: `IBSTORE_TEST_HOLD_MS=N` holds the lock N ms before
/// planning, so a test can start a second run while the first holds it.
fn test_hook_hold() {
    if cfg!(debug_assertions) {
        if let Some(ms) = std::env::var("IBSTORE_TEST_HOLD_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
    }
}

/// Raises the soft limit on open files to the hard limit: `--relocate`
/// keeps every scanned file open until its records are placed.
fn raise_open_files_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}
