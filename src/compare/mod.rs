//! `compare`: the old-vs-new continuity report of two stores, in any
//! formats. Both stores are read once through the shared scan, printing
//! every (contract, tick type, hour) over the fields both formats hold
//! ([`allow::Basis`]); hours whose prints differ get a second, targeted
//! pass over just their files ([`records`]) that tells lost, extra and
//! changed records apart and finds their places. Hours are compared in
//! parallel; memory holds one print per stream-hour and, per worker, the
//! records of one differing stream-hour.

pub mod allow;
pub mod html;
pub mod records;
pub mod report;
pub mod side;

use crate::error::{Error, Result};
use crate::fingerprint::{HourPrint, StreamHour};
use crate::format::Format;
use crate::progress::Progress;
use crate::report::Finding;
use crate::scan::ScanOptions;
use crate::store::discover::discover;
use crate::tick::TickType;
use allow::{Allowance, Basis, MappingLoss};
use rayon::prelude::*;
use records::{Detail, Place, Rec};
use serde::Serialize;
use side::Side;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What to compare and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The old store (or folder in it).
    pub old: PathBuf,
    /// The new store.
    pub new: PathBuf,
    /// Format to take from the old store when it holds several.
    pub old_format: Option<Format>,
    /// Format to take from the new store when it holds several.
    pub new_format: Option<Format>,
    /// Differing records listed per hour.
    pub details: usize,
    /// Accepted lossy mappings.
    pub allow: Vec<Allowance>,
    /// Scan options (its `max_gap_us` also defines a new gap).
    pub scan: ScanOptions,
}

/// How an hour compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Same records, same files.
    Same,
    /// Same records, spread over other files.
    Moved,
    /// Records differ.
    Differs,
    /// The hour has records in the old store only.
    Missing,
    /// The hour has records in the new store only.
    Added,
    /// A file holding the hour is damaged on either side.
    Damaged,
}

impl Status {
    /// The report name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Same => "same",
            Self::Moved => "moved",
            Self::Differs => "differs",
            Self::Missing => "missing",
            Self::Added => "added",
            Self::Damaged => "damaged",
        }
    }
}

/// One stream-hour that is not the same on both sides.
#[derive(Debug, Clone, Serialize)]
pub struct HourDiff {
    /// Contract id.
    pub contract_id: i64,
    /// Tick type.
    pub tick_type: &'static str,
    /// Hour start, epoch seconds.
    pub hour: i64,
    /// `YYYY/MM/DD/HH` of the hour.
    pub partition: String,
    /// How it compares.
    pub status: Status,
    /// Old records.
    pub old_records: u64,
    /// New records.
    pub new_records: u64,
    /// Old records with no counterpart.
    pub lost: u64,
    /// New records with no counterpart.
    pub extra: u64,
    /// Records present on both sides with another value.
    pub changed: u64,
    /// Silences in the new records that old records fill.
    pub new_gaps: u64,
    /// Old first/last time (µs).
    pub old_first_ts: Option<i64>,
    /// Old last time.
    pub old_last_ts: Option<i64>,
    /// New first time.
    pub new_first_ts: Option<i64>,
    /// New last time.
    pub new_last_ts: Option<i64>,
    /// Old files holding the hour.
    pub old_files: Vec<String>,
    /// New files holding the hour.
    pub new_files: Vec<String>,
    /// The first differing records (`--details`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Detail>,
    #[serde(skip)]
    key: StreamHour,
}

impl HourDiff {
    /// The stream-hour.
    pub fn key(&self) -> StreamHour {
        self.key
    }
}

/// Totals of one stream.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamDiff {
    /// Contract id.
    pub contract_id: i64,
    /// Tick type.
    pub tick_type: &'static str,
    /// `same`, `differs`, `missing` (old only), `added` (new only), `damaged`.
    pub status: &'static str,
    /// Hours with records, old side.
    pub old_hours: u64,
    /// Hours with records, new side.
    pub new_hours: u64,
    /// Old records.
    pub old_records: u64,
    /// New records.
    pub new_records: u64,
    /// Hours in the old store only.
    pub missing_hours: u64,
    /// Hours in the new store only.
    pub added_hours: u64,
    /// Hours whose records differ.
    pub differing_hours: u64,
    /// Hours whose records only moved between files.
    pub moved_hours: u64,
    /// Hours a damaged file touches.
    pub damaged_hours: u64,
    /// Lost records (damaged hours aside).
    pub lost: u64,
    /// Extra records (damaged hours aside).
    pub extra: u64,
    /// Changed records (damaged hours aside).
    pub changed: u64,
    /// New gaps.
    pub new_gaps: u64,
    /// First hour (either side).
    pub first_hour: i64,
    /// Last hour (either side).
    pub last_hour: i64,
}

/// A side's totals.
#[derive(Debug, Clone, Serialize)]
pub struct SideInfo {
    /// Canonical root.
    pub path: String,
    /// Format compared.
    pub format: &'static str,
    /// Files compared.
    pub files: u64,
    /// Records read.
    pub records: u64,
    /// Bytes.
    pub bytes: u64,
    /// Streams.
    pub streams: u64,
}

/// Everything a comparison found.
#[derive(Debug)]
pub struct CompareReport {
    /// Old side.
    pub old: SideInfo,
    /// New side.
    pub new: SideInfo,
    /// Fields compared / set aside.
    pub basis: Basis,
    /// Differing hours, by stream and hour.
    pub hours: Vec<HourDiff>,
    /// Streams (both sides), sorted.
    pub streams: Vec<StreamDiff>,
    /// Lossy mappings, allowed or not.
    pub mappings: Vec<MappingLoss>,
    /// Damage findings (file paths prefixed `old:` / `new:`).
    pub findings: Vec<Finding>,
    /// Hours compared (union of both sides).
    pub hours_compared: u64,
    /// `--details` asked.
    pub details: usize,
}

fn canon(p: &Path, side: &str) -> Result<PathBuf> {
    let c = std::fs::canonicalize(p).map_err(|e| Error::path(p, e))?;
    if !c.is_dir() {
        return Err(Error::Usage(format!(
            "{}: the {side} store is not a folder",
            p.display()
        )));
    }
    Ok(c)
}

/// Runs a comparison.
pub fn run(o: &Options, progress: &dyn Progress) -> Result<CompareReport> {
    let (old_root, new_root) = (canon(&o.old, "old")?, canon(&o.new, "new")?);
    if old_root == new_root {
        return Err(Error::Usage(format!(
            "--old and --new are the same folder ({}); compare needs two stores",
            old_root.display()
        )));
    }
    if old_root.starts_with(&new_root) || new_root.starts_with(&old_root) {
        return Err(Error::Usage(format!(
            "one store is inside the other ({} and {}); give two separate stores",
            old_root.display(),
            new_root.display()
        )));
    }
    let (od, nd) = (discover(&old_root)?, discover(&new_root)?);
    let of = side::pick_format(&od, o.old_format, "old")?;
    let nf = side::pick_format(&nd, o.new_format, "new")?;
    let mut basis = Basis::new(of, nf, &o.allow);
    progress.start(od.total_bytes + nd.total_bytes);
    let read = |basis: Basis| {
        rayon::join(
            || side::read(&od, of, basis, &o.scan, progress),
            || side::read(&nd, nf, basis, &o.scan, progress),
        )
    };
    let (mut old, mut new) = read(basis);
    // The content decides (v3 records under a v2-era folder): when it
    // holds another format than the layout says and that changes what
    // can be compared, read again on the right basis (rare).
    let (cof, cnf) = (
        old.content_format().unwrap_or(of),
        new.content_format().unwrap_or(nf),
    );
    let real = Basis::new(cof, cnf, &o.allow);
    if real.fields != basis.fields {
        (old, new) = read(real);
    }
    basis = real;
    let (of, nf) = (cof, cnf);
    let streams_of =
        |s: &Side| -> BTreeSet<(i64, TickType)> { s.hours.keys().map(|h| (h.cid, h.tt)).collect() };
    let (os, ns) = (streams_of(&old), streams_of(&new));
    if old.records == 0 && old.findings.is_empty() {
        return Err(Error::Usage(format!(
            "{}: the old store holds no records to compare",
            old_root.display()
        )));
    }
    if os.intersection(&ns).next().is_none() && !os.is_empty() && !ns.is_empty() {
        let show = |s: &BTreeSet<(i64, TickType)>| {
            let v: Vec<String> = s.iter().take(5).map(|(c, t)| format!("{c}_{t}")).collect();
            let more = s.len().saturating_sub(5);
            if more > 0 {
                format!("{} and {more} more", v.join(", "))
            } else {
                v.join(", ")
            }
        };
        return Err(Error::Usage(format!(
            "the stores have no stream in common: old holds {}; new holds {}",
            show(&os),
            show(&ns)
        )));
    }
    let keys: BTreeSet<StreamHour> = old
        .hours
        .keys()
        .chain(new.hours.keys())
        .chain(old.damaged.iter())
        .chain(new.damaged.iter())
        .copied()
        .collect();
    let keys: Vec<StreamHour> = keys.into_iter().collect();
    let hours: Vec<HourDiff> = keys
        .par_iter()
        .filter_map(|k| compare_hour(k, &old, &new, &basis, o))
        .collect();
    let streams = report::streams(&old, &new, &hours);
    let mappings = allow::losses(&basis, &o.allow, &old.lossy, &new.lossy);
    let mut findings = Vec::new();
    for (tag, s) in [("old", &old), ("new", &new)] {
        for f in &s.findings {
            let mut f = f.clone();
            f.file = format!("{tag}:{}", f.file);
            findings.push(f);
        }
    }
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    let info = |root: &Path, f: Format, s: &Side, n: usize| SideInfo {
        path: root.display().to_string(),
        format: f.name(),
        files: s.files.len() as u64,
        records: s.records,
        bytes: s.bytes,
        streams: n as u64,
    };
    Ok(CompareReport {
        old: info(&old_root, of, &old, os.len()),
        new: info(&new_root, nf, &new, ns.len()),
        basis,
        hours,
        streams,
        mappings,
        findings,
        hours_compared: keys.len() as u64,
        details: o.details,
    })
}

/// Per-file prints of an hour, sorted, to tell whether records moved.
fn spread(s: &Side, k: &StreamHour) -> Vec<(u64, u64, u64)> {
    let mut v: Vec<(u64, u64, u64)> = s
        .hours
        .get(k)
        .map(|h| {
            h.files
                .iter()
                .map(|(_, p)| (p.count, p.sum_a, p.sum_b))
                .collect()
        })
        .unwrap_or_default();
    v.sort_unstable();
    v
}

fn file_names(s: &Side, k: &StreamHour) -> Vec<String> {
    s.hours
        .get(k)
        .map(|h| {
            h.files
                .iter()
                .filter_map(|(i, _)| s.files.get(*i as usize))
                .map(|f| f.file.rel.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn compare_hour(
    k: &StreamHour,
    old: &Side,
    new: &Side,
    basis: &Basis,
    o: &Options,
) -> Option<HourDiff> {
    let empty = HourPrint::default();
    let op = old.hours.get(k).map_or(&empty, |h| &h.print);
    let np = new.hours.get(k).map_or(&empty, |h| &h.print);
    let damaged = old.damaged.contains(k) || new.damaged.contains(k);
    let same = op == np;
    let status = if damaged {
        Status::Damaged
    } else if same {
        if spread(old, k) == spread(new, k) {
            return None;
        }
        Status::Moved
    } else if np.count == 0 {
        Status::Missing
    } else if op.count == 0 {
        Status::Added
    } else {
        Status::Differs
    };
    let mut d = HourDiff {
        contract_id: k.cid,
        tick_type: k.tt.as_str(),
        hour: k.hour,
        partition: crate::time::hour_folder(k.hour),
        status,
        old_records: op.count,
        new_records: np.count,
        lost: 0,
        extra: 0,
        changed: 0,
        new_gaps: 0,
        old_first_ts: op.first,
        old_last_ts: op.last,
        new_first_ts: np.first,
        new_last_ts: np.last,
        old_files: file_names(old, k),
        new_files: file_names(new, k),
        details: Vec::new(),
        key: *k,
    };
    let second_pass =
        !same && (matches!(status, Status::Differs | Status::Damaged) || o.details > 0);
    if second_pass {
        let (or, nr): (Vec<Rec>, Vec<Rec>) = rayon::join(
            || records::collect(old, k, *basis, &o.scan),
            || records::collect(new, k, *basis, &o.scan),
        );
        let place = |is_old: bool, r: &Rec| {
            let s = if is_old { old } else { new };
            Place {
                file: s
                    .files
                    .get(r.file as usize)
                    .map(|f| f.file.rel.clone())
                    .unwrap_or_default(),
                offset: r.offset,
                record: r.index,
            }
        };
        let m = records::matched(&or, &nr, basis, o.scan.max_gap_us, o.details, &place);
        d.lost = m.lost;
        d.extra = m.extra;
        d.changed = m.changed;
        d.new_gaps = m.new_gaps;
        d.details = m.details;
    } else if !same {
        d.lost = op.count.saturating_sub(np.count);
        d.extra = np.count.saturating_sub(op.count);
    }
    Some(d)
}
