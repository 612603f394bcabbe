//! Verification: every output file of the run is read back through the
//! scan and, per output file and stream-hour, its [`HourPrint`] (count,
//! first/last time, fingerprint over the fields both formats hold) is
//! compared with the input's. Success only when all match.

use super::{ConvertReport, VerifyInput};
use crate::error::Result;
use crate::fingerprint::{Fields, HourPrint, StreamHour};
use crate::report::{Finding, Kind};
use crate::scan::{self, Good, ScanOptions, Visit};
use crate::store::discover;
use rayon::prelude::*;
use std::collections::HashMap;

/// Prints per stream-hour; an output file holds one or two, so a short
/// list searched from its end beats a hash map.
struct Prints<'a> {
    fields: &'a Fields,
    map: Vec<(StreamHour, HourPrint)>,
}

impl Visit for Prints<'_> {
    fn record(&mut self, r: &Good<'_>) {
        let sh = StreamHour::of(r.tick, self.fields);
        let p = match self.map.iter_mut().rev().find(|(k, _)| *k == sh) {
            Some((_, p)) => p,
            None => {
                self.map.push((sh, HourPrint::default()));
                &mut self.map.last_mut().expect("just pushed").1
            }
        };
        p.add(r.tick, self.fields);
    }
}

/// A time of a mismatch message: UTC (`2025-08-01T01:00:33Z`), or `none`
/// when that side has no records of the stream-hour.
pub(crate) fn when(t: Option<i64>) -> String {
    t.map_or_else(|| "none".to_owned(), crate::time::display_us)
}

/// The message of a stream-hour whose output (`b`) does not match its
/// input (`a`).
pub(crate) fn hour_mismatch(k: &StreamHour, a: &HourPrint, b: &HourPrint) -> String {
    format!(
        "stream-hour {} {} {}: input {} records (first {}, last {}), output {} records (first {}, last {}){}",
        k.cid,
        k.tt,
        crate::time::hour_folder(k.hour),
        a.count,
        when(a.first),
        when(a.last),
        b.count,
        when(b.first),
        when(b.last),
        if a.count == b.count {
            ", fingerprints differ"
        } else {
            ""
        }
    )
}

/// Compares an output file's prints per stream-hour (`got`) with its
/// input's (`want`): counts the verified and mismatched hours in `report`
/// and adds a `verify_mismatch` finding for each mismatch. Shared by the
/// record formats' and Parquet's verification.
pub(crate) fn compare_hours(
    rel: &str,
    want: &HashMap<StreamHour, HourPrint>,
    got: &HashMap<StreamHour, HourPrint>,
    report: &mut ConvertReport,
) {
    let mut keys: Vec<StreamHour> = want.keys().chain(got.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    for k in keys {
        let a = want.get(&k).copied().unwrap_or_default();
        let b = got.get(&k).copied().unwrap_or_default();
        if a == b {
            report.verified_hours += 1;
        } else {
            report.mismatched_hours += 1;
            report.findings.push(Finding::new(
                Kind::VerifyMismatch,
                rel,
                hour_mismatch(&k, &a, &b),
            ));
        }
    }
}

/// Reads the outputs back and compares them with the input; returns the
/// output files that did not match.
pub fn verify(v: &mut VerifyInput<'_>, fields: &Fields) -> Result<Vec<String>> {
    let d = discover::discover(v.dst)?;
    let opts = ScanOptions {
        crc: true,
        record_checks: false,
        ..ScanOptions::default()
    };
    let found: Vec<_> = d
        .files
        .into_iter()
        .filter(|f| v.outputs.contains_key(&f.file.rel))
        .collect();
    let results: Vec<_> = found
        .par_iter()
        .map(|f| {
            let s = scan::scan_with(f, &opts, &|| Prints {
                fields,
                map: Vec::new(),
            });
            let mut map: HashMap<StreamHour, HourPrint> = HashMap::new();
            for p in s.visits {
                for (k, hp) in p.map {
                    map.entry(k).or_default().merge(&hp);
                }
            }
            (f.file.rel.clone(), s.scan, map)
        })
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    let mut bad = Vec::new();
    for (rel, scan, got) in results {
        seen.insert(rel.clone());
        let findings_before = v.report.findings.len();
        let home = v.outputs[&rel];
        let empty = HashMap::new();
        let want = v.prints.get(&home).unwrap_or(&empty);
        if !scan.spans.is_empty() || scan.read_problem.is_some() {
            v.report.findings.push(Finding::new(
                Kind::VerifyMismatch,
                &rel,
                "output file does not read back cleanly (damaged)",
            ));
        }
        if let (Some(m), Some(crc)) = (v.manifest.outputs.get(&rel), scan.crc32) {
            if m.crc32 != crc {
                v.report.findings.push(Finding::new(
                    Kind::VerifyMismatch,
                    &rel,
                    format!(
                        "CRC-32 {crc:08x} differs from the manifest's {:08x}",
                        m.crc32
                    ),
                ));
            }
        }
        compare_hours(&rel, want, &got, v.report);
        if v.report.findings.len() > findings_before {
            bad.push(rel);
        }
    }
    for rel in v.outputs.keys() {
        if !seen.contains(rel) {
            bad.push(rel.clone());
            v.report.mismatched_hours += 1;
            v.report.findings.push(Finding::new(
                Kind::VerifyMismatch,
                rel,
                "output file is missing",
            ));
        }
    }
    Ok(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tick::TickType;

    #[test]
    fn a_mismatch_names_its_times_in_utc_or_none() {
        let k = StreamHour {
            cid: 265598,
            tt: TickType::Last,
            hour: 1_754_010_000,
        };
        let a = HourPrint {
            count: 2,
            first: Some(1_754_010_033_000_000),
            last: Some(1_754_013_456_250_000),
            sum_a: 1,
            sum_b: 2,
        };
        assert_eq!(
            hour_mismatch(&k, &a, &HourPrint::default()),
            "stream-hour 265598 last 2025/08/01/01: input 2 records (first 2025-08-01T01:00:33Z, last 2025-08-01T01:57:36.250000Z), output 0 records (first none, last none)"
        );
        let b = HourPrint { sum_a: 3, ..a };
        assert_eq!(
            hour_mismatch(&k, &a, &b),
            "stream-hour 265598 last 2025/08/01/01: input 2 records (first 2025-08-01T01:00:33Z, last 2025-08-01T01:57:36.250000Z), output 2 records (first 2025-08-01T01:00:33Z, last 2025-08-01T01:57:36.250000Z), fingerprints differ"
        );
    }
}
