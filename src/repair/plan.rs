//! What a repair would do to each file, derived from the validator's own
//! findings (listed without a cap): every damage or undecodable-record
//! finding is a byte range to cut; an empty file is deleted; a last line
//! without a newline gets one. Opt-in reorderings walk the same reader.

use super::RepairOptions;
use crate::format::reader::{FileBytes, Piece};
use crate::report::{Kind, Severity};
use crate::store::discover::{discover, Found};
use crate::store::layout::DataFile;
use crate::store::naming::FileName;
use crate::validate::{validate_file, Options};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

/// Finding kinds whose bytes a repair cuts out.
pub const CUT_KINDS: [Kind; 12] = [
    Kind::TruncatedTail,
    Kind::TrailingNul,
    Kind::NulRun,
    Kind::BadPrefix,
    Kind::Unframed,
    Kind::InvalidJson,
    Kind::InvalidUtf8,
    Kind::InvalidProtobuf,
    Kind::NotTickRecord,
    Kind::MissingField,
    Kind::WrongType,
    Kind::UnknownTickType,
];

/// What to do with a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Rewrite without the cut ranges.
    Rewrite,
    /// Remove (an empty file).
    Delete,
    /// Leave alone, with the reason.
    Skip(String),
}

/// One byte range to take out, in (decompressed) file offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Cut {
    /// Offset.
    pub offset: u64,
    /// Bytes.
    pub len: u64,
    /// Why.
    pub kind: Kind,
}

/// A kept byte range in output order; `strip_cr` drops a `\r` before its final `\n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Start.
    pub start: u64,
    /// End (exclusive).
    pub end: u64,
    /// CRLF → LF.
    pub strip_cr: bool,
}

/// A misplaced record to move: its bytes in this file and the file it belongs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// Offset of the record (line or frame, terminator or prefix included).
    pub offset: u64,
    /// Its length.
    pub len: u64,
    /// Target path relative to the store root.
    pub target: String,
}

/// The plan for one file.
#[derive(Debug, Clone)]
pub struct FilePlan {
    /// Path relative to the store root.
    pub rel: String,
    /// Path on disk.
    pub abs: PathBuf,
    /// zstd file.
    pub compressed: bool,
    /// Action.
    pub action: Action,
    /// Ranges to cut, by offset.
    pub cuts: Vec<Cut>,
    /// Append a newline to an unterminated last line.
    pub append_newline: bool,
    /// Misplaced records to move (`--relocate`); their bytes are also cuts.
    pub moves: Vec<Move>,
    /// Kept records in a new order / form (opt-in rewrites), else `None`.
    pub segments: Option<Vec<Segment>>,
    /// Size on disk when planned.
    pub size: u64,
    /// Modification time when planned.
    pub mtime: Option<SystemTime>,
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
        self.compressed || self.segments.is_some()
    }

    /// The new (decompressed) content from the original's.
    pub fn output(&self, buf: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(buf.len());
        match &self.segments {
            Some(segs) => {
                for s in segs {
                    let b = &buf[s.start as usize..s.end as usize];
                    if s.strip_cr && b.ends_with(b"\r\n") {
                        out.extend_from_slice(&b[..b.len() - 2]);
                        out.push(b'\n');
                    } else {
                        out.extend_from_slice(b);
                    }
                    // A moved unterminated last line must not glue onto the next.
                    if self.append_newline && !b.ends_with(b"\n") {
                        out.push(b'\n');
                    }
                }
            }
            None => {
                let mut pos = 0usize;
                for c in &self.cuts {
                    out.extend_from_slice(&buf[pos..c.offset as usize]);
                    pos = (c.offset + c.len) as usize;
                }
                out.extend_from_slice(&buf[pos..]);
            }
        }
        if self.append_newline && out.last().is_some_and(|&b| b != b'\n') {
            out.push(b'\n');
        }
        out
    }
}

/// The plan for a store.
#[derive(Debug)]
pub struct StorePlan {
    /// Canonical root.
    pub root: PathBuf,
    /// Files that need something done (or were skipped), by path.
    pub files: Vec<FilePlan>,
    /// Temp files of an interrupted ibstore run (relative paths).
    pub stale_temps: Vec<String>,
    /// Files that receive relocated records: target → (source, offset, len).
    pub appends: BTreeMap<String, Vec<(String, u64, u64)>>,
    /// Data files examined.
    pub examined: u64,
}

fn stream_key(f: &DataFile) -> (String, String) {
    let name = match f.name {
        FileName::V3 { cid, tt, .. } => format!("{cid}_{tt}"),
        _ => f.stem.clone(),
    };
    (f.base.clone(), name)
}

/// Plans a repair of every file under the store root.
pub fn plan_store(root: &std::path::Path, opts: &RepairOptions) -> crate::Result<StorePlan> {
    let d = discover(root)?;
    let mut newest: BTreeMap<(String, String), i64> = BTreeMap::new();
    for f in &d.files {
        if let Some(h) = f.file.hour {
            let e = newest.entry(stream_key(&f.file)).or_insert(h);
            *e = (*e).max(h);
        }
    }
    let stale_temps = d
        .findings
        .iter()
        .filter(|f| f.kind == Kind::UnknownFile && f.file.ends_with(crate::fsutil::TEMP_SUFFIX))
        .map(|f| f.file.clone())
        .collect();
    let examined = d.files.len() as u64;
    let mut files: Vec<FilePlan> = d
        .files
        .into_par_iter()
        .filter_map(|f| {
            let active =
                f.file.hour.is_some() && newest.get(&stream_key(&f.file)) == f.file.hour.as_ref();
            plan_file(f, active, opts)
        })
        .collect();
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    let mut appends: BTreeMap<String, Vec<(String, u64, u64)>> = BTreeMap::new();
    for f in files
        .iter_mut()
        .filter(|f| f.action == Action::Rewrite && !f.moves.is_empty())
    {
        let active_target = f.moves.iter().find(|m| {
            let abs = d.root.join(&m.target);
            crate::format::Extension::from_path(&abs).is_some_and(|ext| {
                let t = crate::store::layout::classify(&abs, m.target.clone(), ext, 0);
                t.hour.is_some()
                    && newest
                        .get(&stream_key(&t))
                        .is_some_and(|h| Some(*h) <= t.hour)
            })
        });
        if let (Some(m), false) = (active_target, opts.include_active) {
            f.action = Action::Skip(format!("a misplaced record belongs in {}, the newest hour of its stream (--include-active moves it)", m.target));
            continue;
        }
        for m in &f.moves {
            appends
                .entry(m.target.clone())
                .or_default()
                .push((f.rel.clone(), m.offset, m.len));
        }
    }
    Ok(StorePlan {
        root: d.root,
        files,
        stale_temps,
        appends,
        examined,
    })
}

/// Plans one file; `None` when there is nothing to do.
pub fn plan_file(found: Found, active: bool, opts: &RepairOptions) -> Option<FilePlan> {
    let meta = std::fs::metadata(&found.abs).ok();
    let rep = validate_file(
        &found.abs,
        found.file.clone(),
        &Options {
            max_per_kind: u64::MAX,
            ..Options::default()
        },
    );
    let mut plan = FilePlan {
        rel: found.file.rel.clone(),
        abs: found.abs.clone(),
        compressed: found.file.compressed(),
        action: Action::Rewrite,
        cuts: Vec::new(),
        append_newline: false,
        moves: Vec::new(),
        segments: None,
        size: found.file.size,
        mtime: meta.and_then(|m| m.modified().ok()),
        records_kept: rep.records,
        records_lost: 0,
        bytes_quarantined: 0,
        bytes_kept: 0,
    };
    for f in &rep.findings {
        match f.kind {
            Kind::EmptyFile => plan.action = Action::Delete,
            Kind::Compression | Kind::Unreadable => {
                plan.action = Action::Skip(format!("not repairable: {}", f.message))
            }
            Kind::MissingNewline => plan.append_newline = true,
            k if CUT_KINDS.contains(&k) && f.severity == Severity::Error => {
                if let (Some(offset), Some(len)) = (f.offset, f.len) {
                    plan.cuts.push(Cut {
                        offset,
                        len,
                        kind: k,
                    });
                    if !matches!(
                        k,
                        Kind::TrailingNul | Kind::NulRun | Kind::BadPrefix | Kind::Unframed
                    ) {
                        plan.records_lost += 1;
                    }
                }
            }
            _ => {}
        }
    }
    if opts.relocate && plan.action == Action::Rewrite {
        relocations(&mut plan, &found, &rep.findings, rep.format);
    }
    plan.cuts.sort_by_key(|c| c.offset);
    if plan.action == Action::Rewrite
        && (opts.sort || opts.dedup || opts.normalize_eol)
        && rep.format.is_some()
    {
        reorder(&mut plan, &found, rep.format?, opts);
    }
    let total = rep.decoded_bytes;
    plan.bytes_quarantined = plan.cuts.iter().map(|c| c.len).sum();
    plan.bytes_kept = total.saturating_sub(plan.bytes_quarantined);
    let nothing = plan.cuts.is_empty()
        && !plan.append_newline
        && plan.segments.is_none()
        && plan.moves.is_empty();
    if plan.action == Action::Rewrite && nothing {
        return None;
    }
    if active && !opts.include_active && !matches!(plan.action, Action::Skip(_)) {
        plan.action = Action::Skip("newest hour of its stream; the recorder may still be writing it (--include-active repairs it)".into());
    }
    Some(plan)
}

/// Where a record belongs in the store's own layout: the v3 file of its
/// contract, tick type and `ts` hour, or the v2 background file of its
/// contract, tick type and envelope hour. `None` for other naming shapes.
pub fn target_of(file: &DataFile, t: &crate::tick::Tick, v3: bool) -> Option<String> {
    use crate::time::{hour_folder, HOUR, US};
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
    match (&file.name, v3) {
        (FileName::V3 { .. }, true) => {
            let h = t.ts.div_euclid(US) - t.ts.div_euclid(US).rem_euclid(HOUR);
            Some(format!(
                "{base}{}/{}_{}_{h}{ext}",
                hour_folder(h),
                t.cid,
                t.tt
            ))
        }
        (FileName::Background { .. }, false) => Some(format!(
            "{base}{}/bg_{}_{}{ext}",
            hour_folder(t.st.div_euclid(US)),
            t.cid,
            t.tt
        )),
        _ => None,
    }
}

/// Turns `misplaced_record` findings into moves (and cuts).
fn relocations(
    plan: &mut FilePlan,
    found: &Found,
    findings: &[crate::report::Finding],
    format: Option<crate::format::Format>,
) {
    let Some(format) = format else { return };
    let Ok(bytes) = FileBytes::open(&found.abs, found.file.ext.compression) else {
        return;
    };
    let buf = bytes.bytes();
    let mut done = std::collections::BTreeSet::new();
    for f in findings.iter().filter(|f| f.kind == Kind::MisplacedRecord) {
        let (Some(offset), Some(len)) = (f.offset, f.len) else {
            continue;
        };
        if !done.insert(offset) {
            continue; // one record can be misplaced in two ways
        }
        let rec = &buf[offset as usize..(offset + len) as usize];
        let body = if format.is_json() {
            rec.strip_suffix(b"\n")
                .map(|r| r.strip_suffix(b"\r").unwrap_or(r))
                .unwrap_or(rec)
        } else {
            &rec[4.min(rec.len())..]
        };
        let Ok(d) = format.decode(body) else { continue };
        let Some(target) = target_of(&found.file, &d.tick, format.is_v3()) else {
            continue;
        };
        if target == plan.rel {
            continue;
        }
        plan.cuts.push(Cut {
            offset,
            len,
            kind: Kind::MisplacedRecord,
        });
        plan.moves.push(Move {
            offset,
            len,
            target,
        });
    }
    plan.records_kept -= plan.moves.len() as u64;
}

/// Opt-in rewrites of good records: stable sort by ts, exact-duplicate
/// removal (later copies are quarantined), CRLF → LF.
fn reorder(
    plan: &mut FilePlan,
    found: &Found,
    format: crate::format::Format,
    opts: &RepairOptions,
) {
    let Ok(bytes) = FileBytes::open(&found.abs, found.file.ext.compression) else {
        return;
    };
    let buf = bytes.bytes();
    let cut_at = |o: u64| {
        plan.cuts
            .iter()
            .any(|c| c.offset <= o && o < c.offset + c.len)
    };
    let mut recs: Vec<(i64, u64, u64, bool)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut dups = Vec::new();
    let mut changed = false;
    format.walk(buf, |p| {
        if let Piece::Record {
            offset,
            len,
            bytes,
            crlf,
            ..
        } = p
        {
            if cut_at(offset) {
                return;
            }
            let Ok(d) = format.decode(bytes) else { return };
            if opts.dedup && !seen.insert(d.tick.dedup_key()) {
                dups.push(Cut {
                    offset,
                    len,
                    kind: Kind::Duplicate,
                });
                return;
            }
            changed |= crlf && opts.normalize_eol;
            recs.push((d.tick.ts, offset, offset + len, crlf && opts.normalize_eol));
        }
    });
    if opts.sort && recs.windows(2).any(|w| w[1].0 < w[0].0) {
        recs.sort_by_key(|r| r.0);
        changed = true;
    }
    if dups.is_empty() && !changed {
        return;
    }
    plan.records_lost += dups.len() as u64;
    plan.records_kept = recs.len() as u64;
    plan.cuts.extend(dups);
    plan.cuts.sort_by_key(|c| c.offset);
    plan.segments = Some(
        recs.into_iter()
            .map(|(_, start, end, strip_cr)| Segment {
                start,
                end,
                strip_cr,
            })
            .collect(),
    );
}
