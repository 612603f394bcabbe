//! What a repair does to each file, derived from the file's one scan
//! ([`crate::scan::FileScan`]): every span that is not a good record is cut;
//! an empty file is deleted; a last line without a newline gets one. The
//! opt-in rewrites add their own decisions: confirmed duplicates cut
//! (`--dedup`), records moved home (`--relocate`), a new record order
//! (`--sort`, by `(ts, st)`), CRLF to LF (`--normalize-eol`). A plan is data:
//! a dry run prints it, `--apply` carries out the same value.

use super::RepairOptions;
use crate::format::{Compression, Format};
use crate::report::Kind;
use crate::scan::{FileScan, Good, ReadProblem, Visit};
use crate::store::layout::DataFile;
use crate::store::naming::FileName;
use crate::time::hour_folder;
use serde::Serialize;
use std::path::PathBuf;

/// What to do with a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Rewrite without the cut ranges (and in a new order or form).
    Rewrite,
    /// Remove (an empty file).
    Delete,
    /// Leave alone.
    Skip(SkipReason),
}

/// Why a file with damage is left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The newest hour of its stream: the recorder may still be writing it.
    Active,
    /// A record belongs in the newest hour of its stream.
    ActiveTarget(String),
    /// A relocation target that needs its own repair first.
    TargetNeedsRepair(String),
    /// It cannot be read to the end (corrupt zstd stream, unreadable).
    NotRepairable(String),
    /// It changed between the scan and the rewrite.
    Changed,
    /// It was appended to while the new content was written.
    AppendedDuringRepair,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Active => f.write_str("newest hour of its stream; the recorder may still be writing it (--include-active repairs it)"),
            Self::ActiveTarget(t) => write!(f, "a misplaced record belongs in {t}, the newest hour of its stream (--include-active moves it)"),
            Self::TargetNeedsRepair(t) => write!(f, "a misplaced record belongs in {t}, which needs its own repair first; run repair again"),
            Self::NotRepairable(why) => write!(f, "not repairable: {why}"),
            Self::Changed => f.write_str("changed since it was examined"),
            Self::AppendedDuringRepair => f.write_str("appended to while being repaired; left as it is"),
        }
    }
}

/// One byte range to take out, in (decompressed) file offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Cut {
    /// Offset.
    pub offset: u64,
    /// Bytes.
    pub len: u64,
    /// Why.
    pub kind: Kind,
    /// Records (or partial records) in it.
    #[serde(skip)]
    pub records: u64,
}

/// A run of records to move: its bytes in this file and the file they
/// belong in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// Offset of the first record.
    pub offset: u64,
    /// Bytes of the run.
    pub len: u64,
    /// Records in the run.
    pub records: u64,
    /// Target path relative to the store root.
    pub target: String,
}

/// A kept record in output order; `strip_cr` drops a `\r` before its `\n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Start.
    pub start: u64,
    /// End (exclusive).
    pub end: u64,
    /// CRLF → LF.
    pub strip_cr: bool,
}

/// The plan for one file.
#[derive(Debug, Clone)]
pub struct FilePlan {
    /// Path relative to the store root as a journal key ([`crate::fsutil::rel_key`]).
    pub rel: String,
    /// Path relative to the store root for reports (lossy when not UTF-8).
    pub display: String,
    /// The exact bytes of the relative path when it is not UTF-8.
    pub raw: Option<Vec<u8>>,
    /// Path on disk.
    pub abs: PathBuf,
    /// Record format (none for a file without tick data).
    pub format: Option<Format>,
    /// Compression.
    pub compression: Compression,
    /// Action.
    pub action: Action,
    /// Ranges to cut, by offset.
    pub cuts: Vec<Cut>,
    /// Append a newline to an unterminated last line.
    pub append_newline: bool,
    /// Records to move (`--relocate`); their bytes are also cuts.
    pub moves: Vec<Move>,
    /// Kept records in a new order or form (opt-in rewrites), else `None`.
    pub segments: Option<Vec<Segment>>,
    /// Records whose order `--sort` changes.
    pub reordered: bool,
    /// Same-second repeats left alone by `--dedup`.
    pub repeats_kept: u64,
    /// Records kept.
    pub records_kept: u64,
    /// Records (or partial records) taken out.
    pub records_lost: u64,
    /// Bytes (decompressed) taken out.
    pub bytes_quarantined: u64,
    /// Bytes (decompressed) kept.
    pub bytes_kept: u64,
}

impl FilePlan {
    /// Whether the original must be kept whole in the quarantine for undo
    /// (compressed, or reordered files cannot be rebuilt from the cuts).
    pub fn whole_copy(&self) -> bool {
        self.compression == Compression::Zstd || self.segments.is_some()
    }

    /// Whether the plan changes nothing.
    fn is_noop(&self) -> bool {
        self.action == Action::Rewrite
            && self.cuts.is_empty()
            && !self.append_newline
            && self.segments.is_none()
            && self.moves.is_empty()
    }

    /// The new content of a reordered file from the original's (decompressed) bytes.
    pub fn reordered_output(&self, buf: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(buf.len());
        for s in self.segments.iter().flatten() {
            let b = &buf[s.start as usize..s.end as usize];
            if s.strip_cr && b.ends_with(b"\r\n") {
                out.extend_from_slice(&b[..b.len() - 2]);
                out.push(b'\n');
            } else {
                out.extend_from_slice(b);
            }
            // A moved unterminated last line must not glue onto the next.
            if self.format.is_some_and(Format::is_json) && !b.ends_with(b"\n") {
                out.push(b'\n');
            }
        }
        out
    }
}

/// What `--sort` and `--normalize-eol` need of one good record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// Event time.
    pub ts: i64,
    /// System time.
    pub st: i64,
    /// Byte offset.
    pub offset: u64,
    /// Bytes, terminator included.
    pub len: u64,
    /// The line ends in CRLF.
    pub crlf: bool,
}

/// Every good record of a file, in file order (a scan visitor).
#[derive(Debug, Default)]
pub struct Order(pub Vec<Placed>);

impl Visit for Order {
    fn record(&mut self, r: &Good<'_>) {
        self.0.push(Placed {
            ts: r.tick.ts,
            st: r.tick.st,
            offset: r.offset,
            len: r.len,
            crlf: r.bytes.len() as u64 + 2 == r.len,
        });
    }
}

/// Plans one file from its scan; `None` when there is nothing to do.
/// `order` holds every good record when `--sort` or `--normalize-eol` asked
/// for it; `active` says the file is the newest hour of its stream.
pub fn plan_file(
    scan: &FileScan,
    abs: PathBuf,
    order: Option<&[Placed]>,
    active: bool,
    opts: &RepairOptions,
) -> Option<FilePlan> {
    let mut plan = FilePlan {
        rel: crate::fsutil::rel_key(&scan.file.rel, scan.file.raw.as_deref()),
        display: scan.file.rel.clone(),
        raw: scan.file.raw.clone(),
        abs,
        format: scan.format,
        compression: scan.file.ext.compression,
        action: Action::Rewrite,
        cuts: Vec::new(),
        append_newline: false,
        moves: Vec::new(),
        segments: None,
        reordered: false,
        repeats_kept: 0,
        records_kept: scan.records,
        records_lost: 0,
        bytes_quarantined: 0,
        bytes_kept: 0,
    };
    match &scan.read_problem {
        Some(p @ (ReadProblem::Unreadable | ReadProblem::Compression | ReadProblem::TooLarge)) => {
            let why = scan
                .findings
                .iter()
                .find(|f| matches!(f.kind, Kind::Unreadable | Kind::Compression))
                .map_or_else(|| format!("{p:?}"), |f| f.message.clone());
            plan.action = Action::Skip(SkipReason::NotRepairable(why));
            return Some(plan);
        }
        Some(ReadProblem::Shrank) => {
            plan.action = Action::Skip(SkipReason::Changed);
            return Some(plan);
        }
        None => {}
    }
    if scan.is_empty() {
        plan.action = Action::Delete;
    } else if scan.format.is_none() {
        return None;
    }
    for s in &scan.spans {
        plan.cuts.push(Cut {
            offset: s.offset,
            len: s.len,
            kind: s.kind,
            records: s.records,
        });
        plan.records_lost += s.records;
    }
    plan.append_newline = scan.unterminated.is_some();
    if opts.relocate {
        for r in &scan.strays {
            let Some(target) = target_of(&scan.file, r.stray.home, scan.format?.version()) else {
                continue;
            };
            plan.cuts.push(Cut {
                offset: r.offset,
                len: r.len,
                kind: if r.stray.spillover {
                    Kind::V2Spillover
                } else {
                    Kind::MisplacedRecord
                },
                records: r.records,
            });
            plan.moves.push(Move {
                offset: r.offset,
                len: r.len,
                records: r.records,
                target,
            });
            plan.records_kept -= r.records;
        }
    }
    if opts.dedup {
        // A duplicate inside a run being moved goes with the run: its target
        // keeps one copy.
        let moved = |o: u64| {
            plan.moves
                .iter()
                .any(|m| m.offset <= o && o < m.offset + m.len)
        };
        for d in scan.duplicates.iter().filter(|d| !moved(d.offset)) {
            plan.cuts.push(Cut {
                offset: d.offset,
                len: d.len,
                kind: Kind::Duplicate,
                records: 1,
            });
            plan.records_lost += 1;
            plan.records_kept -= 1;
        }
        plan.repeats_kept = scan.repeats;
    }
    plan.cuts.sort_by_key(|c| c.offset);
    if let (Some(order), Action::Rewrite) = (order, &plan.action) {
        reorder(&mut plan, order, scan.arrival_sorted, opts);
    }
    plan.bytes_quarantined = plan.cuts.iter().map(|c| c.len).sum();
    plan.bytes_kept = match &plan.segments {
        // A rewritten order keeps exactly its segments (a CR dropped from
        // each normalised line).
        Some(segs) => {
            segs.iter()
                .map(|s| s.end - s.start - u64::from(s.strip_cr))
                .sum::<u64>()
                + u64::from(plan.append_newline)
        }
        None => scan.decoded_bytes.saturating_sub(plan.bytes_quarantined),
    };
    if plan.is_noop() {
        return None;
    }
    if active && !opts.include_active {
        plan.action = Action::Skip(SkipReason::Active);
    }
    Some(plan)
}

/// Opt-in rewrites of good records: sort by `(ts, st)` (stable), CRLF → LF.
fn reorder(plan: &mut FilePlan, order: &[Placed], sorted: bool, opts: &RepairOptions) {
    let sort = opts.sort && !sorted;
    let eol = opts.normalize_eol && order.iter().any(|r| r.crlf);
    if !sort && !eol {
        return;
    }
    let cut = |o: u64| {
        let i = plan.cuts.partition_point(|c| c.offset + c.len <= o);
        plan.cuts.get(i).is_some_and(|c| c.offset <= o)
    };
    let mut kept: Vec<&Placed> = order.iter().filter(|r| !cut(r.offset)).collect();
    if sort {
        kept.sort_by_key(|r| (r.ts, r.st));
        plan.reordered = true;
    }
    plan.segments = Some(
        kept.into_iter()
            .map(|r| Segment {
                start: r.offset,
                end: r.offset + r.len,
                strip_cr: r.crlf && opts.normalize_eol,
            })
            .collect(),
    );
}

/// Where a record belongs in the store's own layout: the v3 file of its
/// contract, tick type and `ts` hour, or the v2 background file of its
/// contract, tick type and envelope hour. `None` for other naming shapes,
/// and for a record whose contract id is not a valid one (≤ 0, an
/// `invalid_value` or `zero_contract_id`): it has no home to go to.
pub fn target_of(
    file: &DataFile,
    home: crate::scan::record::Home,
    version: crate::format::Version,
) -> Option<String> {
    if home.cid <= 0 {
        return None;
    }
    let ext = file
        .rel
        .rsplit('/')
        .next()?
        .strip_prefix(file.stem.as_str())?;
    let base = if file.base.is_empty() {
        String::new()
    } else {
        format!("{}/", file.base)
    };
    match (&file.name, version) {
        (FileName::V3 { .. }, crate::format::Version::V3) => Some(format!(
            "{base}{}/{}_{}_{}{ext}",
            hour_folder(home.hour),
            home.cid,
            home.tt,
            home.hour
        )),
        (FileName::Background { .. }, crate::format::Version::V2) => Some(format!(
            "{base}{}/bg_{}_{}{ext}",
            hour_folder(home.hour),
            home.cid,
            home.tt
        )),
        _ => None,
    }
}
