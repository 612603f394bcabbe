//! The comparison's report: per-stream totals, the exit code, and the text
//! or JSON Lines rendering (`begin`, `finding` lines for damage,
//! `compare_hour` lines, `compare_stream` lines, `summary`).

use super::side::Side;
use super::{CompareReport, HourDiff, Status, StreamDiff};
use crate::report::{Tally, Writer};
use crate::tick::TickType;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// Per-stream totals from both sides and the differing hours.
pub fn streams(old: &Side, new: &Side, hours: &[HourDiff]) -> Vec<StreamDiff> {
    let mut m: BTreeMap<(i64, TickType), StreamDiff> = BTreeMap::new();
    fn entry(
        m: &mut BTreeMap<(i64, TickType), StreamDiff>,
        cid: i64,
        tt: TickType,
        h: i64,
    ) -> &mut StreamDiff {
        let e = m.entry((cid, tt)).or_insert_with(|| StreamDiff {
            contract_id: cid,
            tick_type: tt.as_str(),
            first_hour: h,
            last_hour: h,
            ..StreamDiff::default()
        });
        e.first_hour = e.first_hour.min(h);
        e.last_hour = e.last_hour.max(h);
        e
    }
    for (k, h) in &old.hours {
        let s = entry(&mut m, k.cid, k.tt, k.hour);
        s.old_hours += 1;
        s.old_records += h.print.count;
    }
    for (k, h) in &new.hours {
        let s = entry(&mut m, k.cid, k.tt, k.hour);
        s.new_hours += 1;
        s.new_records += h.print.count;
    }
    for d in hours {
        let k = d.key();
        let s = entry(&mut m, k.cid, k.tt, k.hour);
        match d.status {
            Status::Same => {}
            Status::Moved => s.moved_hours += 1,
            Status::Differs => s.differing_hours += 1,
            Status::Missing => s.missing_hours += 1,
            Status::Added => s.added_hours += 1,
            Status::Damaged => s.damaged_hours += 1,
        }
        if d.status != Status::Damaged {
            s.lost += d.lost;
            s.extra += d.extra;
            s.changed += d.changed;
            s.new_gaps += d.new_gaps;
        }
    }
    for s in m.values_mut() {
        s.status = if s.damaged_hours > 0 {
            "damaged"
        } else if s.new_records == 0 {
            "missing"
        } else if s.old_records == 0 {
            "added"
        } else if s.lost + s.extra + s.changed + s.missing_hours + s.added_hours > 0 {
            "differs"
        } else {
            "same"
        };
    }
    m.into_values().collect()
}

/// Totals of a comparison (the JSON `summary` line).
#[derive(Debug, Clone, Serialize)]
pub struct CompareSummary {
    /// Files compared (both sides).
    pub files: u64,
    /// Records read (both sides).
    pub records: u64,
    /// Bytes (both sides).
    pub bytes: u64,
    /// Streams (union).
    pub streams: u64,
    /// Findings by severity.
    #[serde(flatten)]
    pub tally: Tally,
    /// The exit code.
    pub exit_code: u8,
    /// Old side.
    pub old: super::SideInfo,
    /// New side.
    pub new: super::SideInfo,
    /// Fields not compared.
    pub not_compared: Vec<&'static str>,
    /// Stream-hours compared.
    pub hours: u64,
    /// Hours by status (all but `same`).
    pub missing_hours: u64,
    /// Hours only in the new store.
    pub added_hours: u64,
    /// Hours whose records differ.
    pub differing_hours: u64,
    /// Hours whose records only moved.
    pub moved_hours: u64,
    /// Damaged hours.
    pub damaged_hours: u64,
    /// Lost records.
    pub lost: u64,
    /// Extra records.
    pub extra: u64,
    /// Changed records.
    pub changed: u64,
    /// New gaps.
    pub new_gaps: u64,
    /// Lossy mappings: allowed ones, and those not allowed (counted as losses).
    pub allowances: Vec<super::allow::MappingLoss>,
}

impl CompareReport {
    /// Totals and the exit code: 0 only when nothing was lost, changed or
    /// damaged beyond the allowances.
    pub fn summary(&self) -> CompareSummary {
        let sum = |f: fn(&StreamDiff) -> u64| self.streams.iter().map(f).sum::<u64>();
        let tally = Tally::of(&self.findings);
        let mut s = CompareSummary {
            files: self.old.files + self.new.files,
            records: self.old.records + self.new.records,
            bytes: self.old.bytes + self.new.bytes,
            streams: self.streams.len() as u64,
            tally,
            exit_code: 0,
            old: self.old.clone(),
            new: self.new.clone(),
            not_compared: self.basis.not_compared(),
            hours: self.hours_compared,
            missing_hours: sum(|s| s.missing_hours),
            added_hours: sum(|s| s.added_hours),
            differing_hours: sum(|s| s.differing_hours),
            moved_hours: sum(|s| s.moved_hours),
            damaged_hours: sum(|s| s.damaged_hours),
            lost: sum(|s| s.lost),
            extra: sum(|s| s.extra),
            changed: sum(|s| s.changed),
            new_gaps: sum(|s| s.new_gaps),
            allowances: self.mappings.clone(),
        };
        let unallowed = self.mappings.iter().any(|m| !m.allowed && m.records > 0);
        s.exit_code = u8::from(
            s.lost + s.changed + s.missing_hours + s.damaged_hours > 0
                || unallowed
                || tally.errors > 0,
        );
        s
    }

    /// Prints the report.
    pub fn render<W: Write>(&self, w: &mut Writer<W>) -> io::Result<()> {
        let s = self.summary();
        w.begin(
            "compare",
            &format!("{} -> {}", self.old.path, self.new.path),
        )?;
        if w.is_json() {
            w.findings(&self.findings)?;
            for h in &self.hours {
                w.json("compare_hour", h)?;
            }
            for st in &self.streams {
                w.json("compare_stream", st)?;
            }
            return w.json("summary", &s);
        }
        for (name, side) in [("old", &s.old), ("new", &s.new)] {
            w.text_line(&format!(
                "{name}: {} {}, {} files, {} records, {} streams",
                side.format,
                w.escape(&side.path),
                side.files,
                side.records,
                side.streams
            ))?;
        }
        let nc = if s.not_compared.is_empty() {
            "every field compared".to_owned()
        } else {
            format!("not compared: {}", s.not_compared.join(", "))
        };
        w.text_line(&nc)?;
        w.text_line(&format!(
            "{} stream-hours: {} missing, {} added, {} differing, {} moved, {} damaged",
            s.hours,
            s.missing_hours,
            s.added_hours,
            s.differing_hours,
            s.moved_hours,
            s.damaged_hours
        ))?;
        w.text_line(&format!(
            "records: {} lost, {} extra, {} changed; {} new gaps",
            s.lost, s.extra, s.changed, s.new_gaps
        ))?;
        if !s.allowances.is_empty() {
            w.text_line("allowances:")?;
            for m in &s.allowances {
                w.text_line(&format!(
                    "  {} {}: {} ({} old records)",
                    match (m.allowed, m.records) {
                        (true, _) => "allowed",
                        (false, 0) => "not needed",
                        (false, _) => "NOT ALLOWED",
                    },
                    m.kind.name(),
                    m.what,
                    m.records
                ))?;
            }
        }
        w.text_line(if s.exit_code == 0 {
            "verdict: nothing lost or changed"
        } else {
            "verdict: the new store does not hold everything the old one does"
        })?;
        if !self.hours.is_empty() {
            w.text_line("\nhours:")?;
            for h in &self.hours {
                w.text_line(&format!(
                    "  {}_{} {} {}: old {}, new {}, lost {}, extra {}, changed {}, new gaps {}",
                    h.contract_id,
                    h.tick_type,
                    h.partition,
                    h.status.name(),
                    h.old_records,
                    h.new_records,
                    h.lost,
                    h.extra,
                    h.changed,
                    h.new_gaps
                ))?;
                for d in &h.details {
                    let at = |p: &Option<super::records::Place>| {
                        p.as_ref().map_or(String::new(), |p| {
                            format!(" {} @{} #{}", w.escape(&p.file), p.offset, p.record)
                        })
                    };
                    let mut line = format!("    {} ts={}", d.change, d.ts);
                    if d.old.is_some() {
                        line.push_str(&format!(" old{}", at(&d.old)));
                    }
                    if d.new.is_some() {
                        line.push_str(&format!(" new{}", at(&d.new)));
                    }
                    if !d.fields.is_empty() {
                        line.push_str(&format!(" ({})", d.fields.join(", ")));
                    }
                    w.text_line(&line)?;
                }
            }
        }
        w.text_line("\nstreams:")?;
        for st in &self.streams {
            w.text_line(&format!(
                "  {}_{} {}: old {} records in {} hours, new {} in {}; lost {}, extra {}, changed {}",
                st.contract_id,
                st.tick_type,
                st.status,
                st.old_records,
                st.old_hours,
                st.new_records,
                st.new_hours,
                st.lost,
                st.extra,
                st.changed
            ))?;
        }
        w.findings(&self.findings)
    }
}
