//! Collects one file's findings with bounded memory: aggregated kinds keep a
//! count and their first location; the others keep the first `cap`
//! occurrences ([`MAX_PER_KIND`] by default) and a count of the rest.

use crate::report::{Finding, Kind};
use std::collections::BTreeMap;

/// Occurrences of one non-aggregated kind kept per file by default.
pub const MAX_PER_KIND: u64 = 20;

/// Per-file finding collector.
#[derive(Debug)]
pub struct Sink {
    cap: u64,
    kept: Vec<Finding>,
    seen: BTreeMap<Kind, u64>,
    agg: BTreeMap<Kind, Finding>,
}

impl Default for Sink {
    fn default() -> Self {
        Self::with_cap(MAX_PER_KIND)
    }
}

impl Sink {
    /// A sink keeping `cap` occurrences of each non-aggregated kind.
    pub fn with_cap(cap: u64) -> Self {
        Self {
            cap,
            kept: Vec::new(),
            seen: BTreeMap::new(),
            agg: BTreeMap::new(),
        }
    }

    /// Adds one occurrence.
    pub fn push(&mut self, f: Finding) {
        if f.kind.aggregated() {
            self.agg
                .entry(f.kind)
                .and_modify(|a| merge(a, &f))
                .or_insert(f);
            return;
        }
        let n = self.seen.entry(f.kind).or_insert(0);
        *n += 1;
        if *n <= self.cap {
            self.kept.push(f);
        }
    }

    /// Takes in a later chunk's findings (chunks absorbed in file order).
    pub fn absorb(&mut self, other: Sink) {
        let mut kept: BTreeMap<Kind, u64> = BTreeMap::new();
        for f in other.kept {
            *kept.entry(f.kind).or_insert(0) += 1;
            self.push(f);
        }
        for (kind, n) in other.seen {
            *self.seen.entry(kind).or_insert(0) += n - kept.get(&kind).copied().unwrap_or(0);
        }
        for (kind, f) in other.agg {
            self.agg
                .entry(kind)
                .and_modify(|a| merge(a, &f))
                .or_insert(f);
        }
    }

    /// Whether a finding of `kind` has been recorded.
    pub fn has(&self, kind: Kind) -> bool {
        self.seen.contains_key(&kind) || self.agg.contains_key(&kind)
    }

    /// The findings, with one summary finding per capped kind.
    pub fn finish(mut self, file: &str) -> Vec<Finding> {
        for (kind, n) in &self.seen {
            if *n > self.cap {
                let more = n - self.cap;
                let mut f = Finding::new(
                    *kind,
                    file,
                    format!(
                        "{more} more {kind} {} in this file not listed",
                        if more == 1 { "finding" } else { "findings" }
                    ),
                );
                f.count = more;
                f.last_in_file = true;
                self.kept.push(f);
            }
        }
        for (_, mut f) in self.agg {
            if f.count > 1 {
                f.message = format!(
                    "{} ({} times in this file; the first is shown)",
                    f.message, f.count
                );
            }
            self.kept.push(f);
        }
        self.kept
    }
}

/// Adds an occurrence to an aggregated finding. The first run of blank
/// lines is shown whole: a run that continues it (cut by a read window or a
/// parallel part) extends its length, so the finding does not depend on
/// where the file was cut.
fn merge(a: &mut Finding, f: &Finding) {
    if a.kind == Kind::BlankLine {
        if let (Some(o), Some(l), Some(fo), Some(fl)) = (a.offset, a.len, f.offset, f.len) {
            if o + l == fo {
                a.len = Some(l + fl);
            }
        }
    }
    a.count += f.count;
}
