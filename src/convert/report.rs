//! What a conversion did, as text or JSON Lines through the shared report
//! writer: a `convert` line (counts, losses, corrections, verification),
//! the findings, and the summary.

use super::plan::LossField;
use super::{Counts, Options};
use crate::format::Format;
use crate::report::{Finding, Summary, Tally, Writer};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

/// Records that lost one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LossCount {
    /// Records.
    pub records: u64,
    /// Whether `--allow-loss` allowed it (else their output files were refused).
    pub allowed: bool,
}

/// Why a target cannot hold a field.
pub fn loss_why(f: LossField, target: Format) -> &'static str {
    match f {
        LossField::Ts => "v2 protobuf has no IB event time: ts becomes the envelope time",
        LossField::PastLimit => "v3 has no past_limit field",
        LossField::Rid => "the request id does not fit v3 protobuf's int32 (written as 0)",
        LossField::Cid if target == Format::V2Pb => {
            "the contract id does not fit v2 protobuf's uint32 (record dropped)"
        }
        LossField::Cid => "the contract id does not fit v3 protobuf's int32 (record dropped)",
        LossField::Exchange => "v3 has no exchange field",
        LossField::Conditions => "v3 has no conditions field",
        LossField::Sequence => "v3 has no sequence field",
        LossField::StreamId => "v3 cannot recreate a stream id other than bg_{cid}_{tt}",
        LossField::Metadata => {
            "v3 cannot recreate metadata other than the live writer's source and ids"
        }
        LossField::DataTimestamp if target == Format::V2Pb => {
            "v2 protobuf has no data.timestamp field"
        }
        LossField::DataTimestamp => "v3 has no data.timestamp field",
        LossField::Unknown => {
            "keys or fields the v2 format does not define, and values of a type it has no place for, are not written"
        }
        LossField::DataIds => {
            "v3 holds one contract id and tick type: data's, which differ from metadata's, are not written"
        }
    }
}

/// The outcome of a conversion.
#[derive(Debug, Clone, Serialize)]
pub struct ConvertReport {
    /// SRC (canonical).
    pub src: String,
    /// DST (canonical).
    pub dst: String,
    /// Format read.
    pub source_format: String,
    /// Format written.
    pub target_format: String,
    /// zstd level of the outputs.
    pub zstd: Option<i32>,
    /// Source files read.
    pub files_read: u64,
    /// Their bytes on disk.
    pub bytes_read: u64,
    /// Records read, filtered out, corrected, lost.
    #[serde(skip)]
    pub counts: Counts,
    /// Records read.
    pub records_read: u64,
    /// Records left out by the filters.
    pub records_filtered: u64,
    /// Records in the output files of this run (written or already done).
    pub records_written: u64,
    /// Output files written by this run.
    pub outputs_written: u64,
    /// Output files already done by an earlier run (manifest) and kept.
    pub outputs_done: u64,
    /// Output files not written (damaged source, loss not allowed).
    pub outputs_refused: u64,
    /// Data files in DST this conversion did not make (removed with --prune).
    pub outputs_orphaned: u64,
    /// Records that lost a field, per field.
    pub losses: BTreeMap<String, LossCount>,
    /// Records mapped by a documented correction, per correction.
    pub corrections: BTreeMap<String, u64>,
    /// Stream-hours whose output matched the input.
    pub verified_hours: u64,
    /// Stream-hours whose output did not match (or output files missing).
    pub mismatched_hours: u64,
    /// Findings (damaged spans, refusals, mismatches, discovery notes).
    #[serde(skip)]
    pub findings: Vec<Finding>,
}

impl ConvertReport {
    /// An empty report.
    pub fn new(src: &Path, dst: &Path, source: Format, opts: &Options) -> Self {
        Self {
            src: src.display().to_string(),
            dst: dst.display().to_string(),
            source_format: source.name().to_owned(),
            target_format: opts.target.name().to_owned(),
            zstd: opts.zstd,
            files_read: 0,
            bytes_read: 0,
            counts: Counts::default(),
            records_read: 0,
            records_filtered: 0,
            records_written: 0,
            outputs_written: 0,
            outputs_done: 0,
            outputs_refused: 0,
            outputs_orphaned: 0,
            losses: BTreeMap::new(),
            corrections: BTreeMap::new(),
            verified_hours: 0,
            mismatched_hours: 0,
            findings: Vec::new(),
        }
    }

    /// Fills the derived fields and sorts the findings.
    pub fn finish(&mut self) {
        let c = self.counts;
        self.records_read = c.read;
        self.records_filtered = c.filtered;
        for (name, n) in [
            ("rid_zero", c.rid_zero),
            ("envelope_ts", c.envelope_ts),
            ("st_from_envelope", c.st_from_envelope),
            ("mid_key", c.mid_key),
        ] {
            if n > 0 {
                self.corrections.insert(name.to_owned(), n);
            }
        }
        self.findings
            .sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    }

    /// The findings tally.
    pub fn tally(&self) -> Tally {
        Tally::of(&self.findings)
    }

    /// 0 converted and verified; 1 something refused or not verified.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.tally().errors > 0 || self.mismatched_hours > 0)
    }

    /// The text report's `output:` line: the files written, then those
    /// already done and refused only when there are some (the JSON line
    /// always has every count).
    pub fn output_line(&self) -> String {
        let files = |n: u64| if n == 1 { "file" } else { "files" };
        let mut line = format!(
            "output: {} {} written",
            self.outputs_written,
            files(self.outputs_written)
        );
        if self.outputs_done > 0 {
            line.push_str(&format!(", {} already done", self.outputs_done));
        }
        if self.outputs_refused > 0 {
            line.push_str(&format!(", {} refused", self.outputs_refused));
        }
        let records = if self.records_written == 1 {
            "record"
        } else {
            "records"
        };
        line.push_str(&format!("; {} {records}", self.records_written));
        line
    }

    /// Prints the report.
    pub fn render<W: Write>(&self, w: &mut Writer<W>) -> io::Result<()> {
        w.begin("convert", &self.src)?;
        if w.is_json() {
            w.json("convert", self)?;
        } else {
            let esc = |s: &str| crate::report::escape(s).into_owned();
            w.text_line(&format!(
                "{} -> {} ({} -> {}{})",
                esc(&self.src),
                esc(&self.dst),
                self.source_format,
                self.target_format,
                self.zstd
                    .map_or(String::new(), |l| format!(", zstd level {l}"))
            ))?;
            let filtered = if self.records_filtered > 0 {
                format!(" ({} filtered out)", self.records_filtered)
            } else {
                String::new()
            };
            w.text_line(&format!(
                "read {} files, {} bytes, {} records{filtered}",
                self.files_read, self.bytes_read, self.records_read
            ))?;
            w.text_line(&self.output_line())?;
            if self.outputs_orphaned > 0 {
                w.text_line(&format!(
                    "orphans: {} files in DST not made by this conversion",
                    self.outputs_orphaned
                ))?;
            }
            for (f, l) in &self.losses {
                w.text_line(&format!(
                    "loss {f}: {} records ({})",
                    l.records,
                    if l.allowed { "allowed" } else { "refused" }
                ))?;
            }
            for (c, n) in &self.corrections {
                w.text_line(&format!("correction {c}: {n} records"))?;
            }
            w.text_line(&format!(
                "verified: {} stream-hours match, {} differ",
                self.verified_hours, self.mismatched_hours
            ))?;
        }
        w.findings(&self.findings)?;
        w.summary(&Summary {
            files: self.files_read,
            records: self.records_read,
            bytes: self.bytes_read,
            streams: 0,
            tally: self.tally(),
            exit_code: self.exit_code(),
            units: Default::default(),
            run: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::plan::Filter;

    #[test]
    fn the_output_line_leaves_out_zero_parts() {
        let opts = Options {
            target: Format::V3Pb,
            zstd: None,
            filter: Filter::default(),
            source_format: None,
            skip_damaged: false,
            allow_loss: Vec::new(),
        };
        let mut r = ConvertReport::new(Path::new("s"), Path::new("d"), Format::V3Json, &opts);
        let mut line = |w, d, x, rec| {
            (
                r.outputs_written,
                r.outputs_done,
                r.outputs_refused,
                r.records_written,
            ) = (w, d, x, rec);
            r.output_line()
        };
        assert_eq!(line(24, 0, 0, 480), "output: 24 files written; 480 records");
        assert_eq!(line(1, 0, 0, 1), "output: 1 file written; 1 record");
        assert_eq!(line(0, 0, 0, 0), "output: 0 files written; 0 records");
        assert_eq!(
            line(1, 11, 0, 239),
            "output: 1 file written, 11 already done; 239 records"
        );
        assert_eq!(
            line(0, 0, 12, 0),
            "output: 0 files written, 12 refused; 0 records"
        );
        assert_eq!(
            line(11, 2, 1, 260),
            "output: 11 files written, 2 already done, 1 refused; 260 records"
        );
    }
}
