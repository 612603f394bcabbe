//! Continuity across files: groups files into streams (one contract and tick
//! type, or one v2 stream id, in one format family folder), finds hours with
//! no file between a stream's first and last hour, and sums per stream.

use crate::format::Format;
use crate::report::{Finding, Kind};
use crate::scan::FileScan;
use crate::store::naming::FileName;
use crate::tick::TickType;
use crate::time::{self, HOUR};
use serde::Serialize;
use std::collections::BTreeMap;

/// Summary of one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamSummary {
    /// Family folder relative to the scan root (e.g. `v3/json`).
    pub base: String,
    /// Stream name: `{cid}_{tt}` for v3 names, else the v2 stream id.
    pub name: String,
    /// Record format.
    pub format: Format,
    /// Contract id, when the name says.
    pub contract_id: Option<i64>,
    /// Tick type, when the name says.
    pub tick_type: Option<TickType>,
    /// Files.
    pub files: u64,
    /// Records that decoded.
    pub records: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// Earliest ts (µs).
    pub first_ts: Option<i64>,
    /// Latest ts (µs).
    pub last_ts: Option<i64>,
    /// Gaps inside files plus runs of missing hours.
    pub gaps: u64,
    /// Hours with no file between the first and last hour.
    pub missing_hours: u64,
    /// Records equal to their predecessor except for `st` (same-second
    /// repeats: legitimate ticks, counted, never findings).
    pub repeats: u64,
}

impl Serialize for Format {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl Serialize for TickType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

fn stream_name(r: &FileScan) -> String {
    match r.file.name {
        FileName::V3 { cid, tt, .. } => format!("{cid}_{tt}"),
        _ => r.file.stem.clone(),
    }
}

/// Summarises streams and reports missing hours.
pub fn summarise(reports: &[FileScan]) -> (Vec<StreamSummary>, Vec<Finding>) {
    let mut groups: BTreeMap<(String, String, Format), (StreamSummary, Vec<i64>)> = BTreeMap::new();
    for r in reports {
        let Some(format) = r.format else { continue };
        let name = stream_name(r);
        let key = (r.file.base.clone(), name.clone(), format);
        let contract = r.file.name.contract();
        let (s, hours) = groups.entry(key).or_insert_with(|| {
            let s = StreamSummary {
                base: r.file.base.clone(),
                name,
                format,
                contract_id: contract.map(|c| c.0),
                tick_type: contract.and_then(|c| c.1),
                files: 0,
                records: 0,
                bytes: 0,
                first_ts: None,
                last_ts: None,
                gaps: 0,
                missing_hours: 0,
                repeats: 0,
            };
            (s, Vec::new())
        });
        s.files += 1;
        s.records += r.records;
        s.bytes += r.file.size;
        s.gaps += r.gaps;
        s.repeats += r.repeats;
        s.first_ts = min_opt(s.first_ts, r.first_ts);
        s.last_ts = max_opt(s.last_ts, r.last_ts);
        if let Some(h) = r.file.hour {
            hours.push(h);
        }
    }
    let mut findings = Vec::new();
    let mut out = Vec::new();
    for (_, (mut s, mut hours)) in groups {
        hours.sort_unstable();
        hours.dedup();
        for w in hours.windows(2) {
            let missing = (w[1] - w[0]) / HOUR - 1;
            if missing > 0 {
                s.gaps += 1;
                s.missing_hours += missing as u64;
                let file = if s.base.is_empty() {
                    s.name.clone()
                } else {
                    format!("{}/{}", s.base, s.name)
                };
                let mut f = Finding::new(
                    Kind::MissingHours,
                    &file,
                    format!(
                        "no {} files for {missing} hour(s): {} to {}",
                        s.format,
                        time::hour_folder(w[0] + HOUR),
                        time::hour_folder(w[1] - HOUR)
                    ),
                );
                f.count = missing as u64;
                findings.push(f);
            }
        }
        out.push(s);
    }
    (out, findings)
}

/// One stream as a line of text.
pub fn describe(s: &StreamSummary) -> String {
    let span = match (s.first_ts, s.last_ts) {
        (Some(a), Some(b)) => format!("{} .. {}", time::display_us(a), time::display_us(b)),
        _ => "no records".into(),
    };
    let base = if s.base.is_empty() {
        String::new()
    } else {
        format!("{}/", s.base)
    };
    let n = |v: u64, one: &str, many: &str| format!("{v} {}", if v == 1 { one } else { many });
    format!(
        "{base}{} [{}]: {}, {}, {}, {span}, {}, {}",
        s.name,
        s.format,
        n(s.files, "file", "files"),
        n(s.records, "record", "records"),
        n(s.bytes, "byte", "bytes"),
        n(s.gaps, "gap", "gaps"),
        n(s.repeats, "same-second repeat", "same-second repeats")
    )
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}
