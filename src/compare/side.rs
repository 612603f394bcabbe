//! One side of a comparison: pick the store's files (one format), scan each
//! once through the shared scan with a visitor that prints every
//! stream-hour, and gather per stream-hour prints, the files each hour's
//! records came from, and the damage found.

use super::allow::{Basis, Lossy};
use crate::error::{Error, Result};
use crate::fingerprint::{HourPrint, StreamHour};
use crate::format::Format;
use crate::progress::Progress;
use crate::report::{Finding, Kind, Severity};
use crate::scan::{self, Good, ScanOptions, Visit};
use crate::store::discover::{Discovery, Found};
use crate::store::naming::FileName;
use crate::time::{HOUR, US};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The first-pass visitor: a print per stream-hour of one file.
#[derive(Debug)]
pub struct Printer {
    basis: Basis,
    /// Prints by stream-hour.
    hours: HashMap<StreamHour, HourPrint>,
    /// Values the mapping loses.
    pub lossy: Lossy,
    /// The stream-hour of the last record and its print so far (a file's
    /// records are mostly of one hour: one map update per run of them).
    cur: Option<(StreamHour, HourPrint)>,
}

impl Printer {
    /// An empty printer.
    pub fn new(basis: Basis) -> Self {
        Self {
            basis,
            hours: HashMap::new(),
            lossy: Lossy::default(),
            cur: None,
        }
    }

    /// The prints by stream-hour.
    pub fn finish(mut self) -> (HashMap<StreamHour, HourPrint>, Lossy) {
        self.flush();
        (self.hours, self.lossy)
    }

    fn flush(&mut self) {
        if let Some((h, p)) = self.cur.take() {
            self.hours.entry(h).or_default().merge(&p);
        }
    }
}

impl Visit for Printer {
    fn record(&mut self, r: &Good<'_>) {
        let t = r.tick;
        self.lossy.count(t);
        // Same stream and inside the current hour: no division needed.
        let time = self.basis.time(t);
        let same = self.cur.as_ref().is_some_and(|(c, _)| {
            c.cid == t.cid && c.tt == t.tt && time >= c.hour * US && time < (c.hour + HOUR) * US
        });
        if !same {
            self.flush();
            self.cur = Some((self.basis.hour_of(t), HourPrint::default()));
        }
        if let Some((_, p)) = &mut self.cur {
            self.basis.add(p, t);
        }
    }
}

/// What one store holds, stream-hour by stream-hour.
#[derive(Debug, Default)]
pub struct Side {
    /// The data files compared, sorted by path.
    pub files: Vec<Found>,
    /// Per stream-hour: the whole print and each file's share.
    pub hours: BTreeMap<StreamHour, HourSide>,
    /// Stream-hours touched by a damaged file.
    pub damaged: HashSet<StreamHour>,
    /// Damage findings (paths relative to this side's root).
    pub findings: Vec<Finding>,
    /// Records read.
    pub records: u64,
    /// Bytes of the files.
    pub bytes: u64,
    /// Mapping-loss tallies.
    pub lossy: Lossy,
    /// Formats the files' content holds (the layout may say otherwise, as
    /// for v3 records under a v2-era `{root}/json` folder).
    pub detected: BTreeMap<Format, usize>,
}

impl Side {
    /// The one format the content holds, when it is one.
    pub fn content_format(&self) -> Option<Format> {
        (self.detected.len() == 1).then(|| self.detected.keys().next().copied())?
    }
}

/// One stream-hour on one side.
#[derive(Debug, Default, Clone)]
pub struct HourSide {
    /// All its records.
    pub print: HourPrint,
    /// Index into [`Side::files`] and the share of the records there.
    pub files: Vec<(u32, HourPrint)>,
}

/// Formats of a discovery's files by their layout, with file counts.
pub fn formats_found(d: &Discovery) -> BTreeMap<Format, usize> {
    let mut m = BTreeMap::new();
    for f in &d.files {
        if let Some(fmt) = f.file.layout_format() {
            *m.entry(fmt).or_insert(0) += 1;
        }
    }
    m
}

/// The one format of a store: `chosen`, or the only one found. A store
/// with several formats and no choice is refused, listing them.
pub fn pick_format(d: &Discovery, chosen: Option<Format>, side: &str) -> Result<Format> {
    let found = formats_found(d);
    let list = || {
        found
            .iter()
            .map(|(f, n)| format!("{} ({n} files)", f.name()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if found.is_empty() {
        return Err(Error::Usage(format!(
            "{}: the {side} store holds no data files in a v2 or v3 layout",
            d.root.display()
        )));
    }
    match chosen {
        Some(f) if found.contains_key(&f) => Ok(f),
        Some(f) => Err(Error::Usage(format!(
            "{}: --{side}-format {} names no file of the {side} store; it holds {}",
            d.root.display(),
            f.name(),
            list()
        ))),
        None if found.len() == 1 => Ok(*found.keys().next().unwrap_or(&Format::V3Json)),
        None => Err(Error::Usage(format!(
            "{}: the {side} store holds several formats side by side: {}; pick one with --{side}-format",
            d.root.display(),
            list()
        ))),
    }
}

/// Kinds of finding that mean bytes of a file could not be read as records.
fn is_damage(k: Kind) -> bool {
    matches!(
        k,
        Kind::Unreadable
            | Kind::EmptyFile
            | Kind::TruncatedTail
            | Kind::TrailingNul
            | Kind::NulRun
            | Kind::BadPrefix
            | Kind::Unframed
            | Kind::Compression
            | Kind::ChangedDuringRun
            | Kind::OverlongLine
            | Kind::InvalidJson
            | Kind::InvalidUtf8
            | Kind::InvalidProtobuf
            | Kind::NotTickRecord
            | Kind::MissingField
            | Kind::WrongType
            | Kind::UnknownTickType
    )
}

/// The stream-hour a file's name and folder say it holds, if they say.
fn named_hour(f: &Found) -> Option<StreamHour> {
    let hour = f.file.hour?;
    let (cid, tt) = match f.file.name {
        FileName::V3 { cid, tt, .. }
        | FileName::Background { cid, tt }
        | FileName::Client { cid, tt } => (cid, tt),
        _ => return None,
    };
    Some(StreamHour {
        cid,
        tt,
        hour: hour - hour.rem_euclid(HOUR),
    })
}

/// Scans one side: the files of `format`, in parallel, once each.
pub fn read(
    d: &Discovery,
    format: Format,
    basis: Basis,
    opts: &ScanOptions,
    progress: &dyn Progress,
) -> Side {
    let files: Vec<Found> = d
        .files
        .iter()
        .filter(|f| f.file.layout_format() == Some(format))
        .cloned()
        .collect();
    let per_file: Vec<_> = files
        .par_iter()
        .map(|f| {
            let s = scan::scan_with(f, opts, &|| Printer::new(basis));
            progress.advance(f.file.size);
            let mut hours: HashMap<StreamHour, HourPrint> = HashMap::new();
            let mut lossy = Lossy::default();
            for v in s.visits {
                let (vh, vl) = v.finish();
                lossy.merge(&vl);
                for (h, p) in vh {
                    hours.entry(h).or_default().merge(&p);
                }
            }
            let scan = s.scan;
            let damage: Vec<Finding> = scan
                .findings
                .into_iter()
                .filter(|x| x.severity == Severity::Error && is_damage(x.kind))
                .collect();
            (hours, lossy, damage, scan.records, scan.format)
        })
        .collect();
    let mut side = Side::default();
    for (i, (f, (hours, lossy, damage, records, fmt))) in files.iter().zip(per_file).enumerate() {
        side.records += records;
        if let Some(fmt) = fmt {
            *side.detected.entry(fmt).or_insert(0) += 1;
        }
        side.bytes += f.file.size;
        side.lossy.merge(&lossy);
        if !damage.is_empty() {
            side.damaged.extend(hours.keys().copied());
            side.damaged.extend(named_hour(f));
            side.findings.extend(damage);
        }
        for (h, p) in hours {
            let e = side.hours.entry(h).or_default();
            e.print.merge(&p);
            e.files.push((i as u32, p));
        }
    }
    side.files = files;
    side
}
