//! `IB_STREAM_TRACKED_CONTRACTS` (spec §13.5):
//!
//! ```text
//! list   := entry ( "," entry )*
//! entry  := contract_id ":" symbol [ ":" ttlist [ ":" buffer_hours ] ]
//! ttlist := tick_type ( ";" tick_type )*
//! ```
//!
//! Checked strictly, with the places where the recorder's two loaders
//! disagree (the legacy loader validates 2–4 parts; the HEAD server's
//! config-v2 silently ignores entries with fewer than 4 parts and does not
//! trim tick names) reported separately from outright errors.

use crate::tick::TickType;

/// Legacy default tick list for an entry without one.
pub const DEFAULT_TICK_TYPES: [TickType; 2] = [TickType::BidAsk, TickType::Last];

/// One tracked contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// IB contract id (> 0).
    pub contract_id: u64,
    /// Label.
    pub symbol: String,
    /// Background streams to record.
    pub tick_types: Vec<TickType>,
    /// Advertised buffer hours (≥ 1).
    pub buffer_hours: u32,
}

impl Entry {
    /// The canonical 4-part text both loaders read the same way.
    pub fn to_text(&self) -> String {
        let tts: Vec<&str> = self.tick_types.iter().map(|t| t.as_str()).collect();
        format!(
            "{}:{}:{}:{}",
            self.contract_id,
            self.symbol,
            tts.join(";"),
            self.buffer_hours
        )
    }
}

/// How serious a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Both loaders reject it, or the legacy loader aborts startup.
    Error,
    /// The two loaders read it differently.
    Disagreement,
}

/// A problem at a 0-based byte position in the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Position in the value.
    pub pos: usize,
    /// Severity.
    pub level: Level,
    /// Explanation.
    pub message: String,
}

/// Parses a list. Entries with errors are left out of the result.
pub fn parse(value: &str, max_tracked: usize) -> (Vec<Entry>, Vec<Problem>) {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    let mut start = 0;
    for raw in value.split(',') {
        let at = start;
        start += raw.len() + 1;
        let lead = raw.len() - raw.trim_start().len();
        let entry = raw.trim();
        if entry.is_empty() {
            continue;
        }
        if let Some(e) = parse_entry(entry, at + lead, &mut problems) {
            if entries
                .iter()
                .any(|x: &Entry| x.contract_id == e.contract_id)
            {
                problems.push(Problem {
                    pos: at + lead,
                    level: Level::Error,
                    message: format!("contract {} is listed twice", e.contract_id),
                });
            } else {
                entries.push(e);
            }
        }
    }
    if entries.len() > max_tracked {
        problems.push(Problem {
            pos: 0,
            level: Level::Error,
            message: format!(
                "{} contracts tracked, more than IB_STREAM_MAX_TRACKED = {max_tracked}",
                entries.len()
            ),
        });
    }
    (entries, problems)
}

fn parse_entry(entry: &str, at: usize, problems: &mut Vec<Problem>) -> Option<Entry> {
    let parts: Vec<&str> = entry.split(':').collect();
    let mut offs = Vec::with_capacity(parts.len());
    let mut o = at;
    for p in &parts {
        offs.push(o);
        o += p.len() + 1;
    }
    let err = |problems: &mut Vec<Problem>, pos: usize, message: String| {
        problems.push(Problem {
            pos,
            level: Level::Error,
            message,
        });
        None
    };
    if parts.len() < 2 {
        return err(
            problems,
            at,
            format!("entry {entry:?} needs at least contract_id:symbol"),
        );
    }
    let cid = parts[0].trim();
    let contract_id = match cid.parse::<u64>() {
        Ok(c) if c > 0 && cid.bytes().all(|b| b.is_ascii_digit()) => c,
        _ => {
            return err(
                problems,
                offs[0],
                format!("contract id {cid:?} is not a whole number above 0"),
            )
        }
    };
    let symbol = parts[1].trim();
    if symbol.is_empty() {
        return err(problems, offs[1], "symbol is empty".into());
    }
    let mut tick_types = Vec::new();
    match parts.get(2) {
        None => {}
        Some(list) if list.trim().is_empty() => {
            problems.push(Problem { pos: offs[2], level: Level::Disagreement, message: "empty tick-type list: the legacy loader records bid_ask;last, the HEAD server (config-v2) records nothing".into() });
        }
        Some(list) => {
            let mut p = offs[2];
            for name in list.split(';') {
                let t = name.trim();
                match TickType::from_storage_name(t.as_bytes()) {
                    Some(tt) if tick_types.contains(&tt) => problems.push(Problem {
                        pos: p,
                        level: Level::Error,
                        message: format!("tick type {t} is listed twice"),
                    }),
                    Some(tt) => tick_types.push(tt),
                    None => {
                        return err(
                            problems,
                            p,
                            format!(
                            "unknown tick type {t:?}; known: bid_ask, last, all_last, mid_point"
                        ),
                        )
                    }
                }
                if t.len() != name.len() {
                    problems.push(Problem { pos: p, level: Level::Disagreement, message: format!("tick type {name:?} has spaces: the legacy loader trims them, the HEAD server (config-v2) does not") });
                }
                p += name.len() + 1;
            }
        }
    }
    if tick_types.is_empty() {
        tick_types = DEFAULT_TICK_TYPES.to_vec();
    }
    let buffer_hours = match parts.get(3).map(|h| h.trim()) {
        None => 1,
        Some(h) => match h.parse::<u32>() {
            Ok(n) if n >= 1 && h.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => {
                return err(
                    problems,
                    offs[3],
                    format!("buffer hours {h:?} is not a whole number ≥ 1"),
                )
            }
        },
    };
    if parts.len() < 4 {
        problems.push(Problem { pos: at, level: Level::Disagreement, message: format!("entry {entry:?} has {} parts: the legacy loader accepts it, but the HEAD server (config-v2) silently ignores entries with fewer than 4 (write {})", parts.len(), Entry { contract_id, symbol: symbol.into(), tick_types: tick_types.clone(), buffer_hours }.to_text()) });
    }
    if parts.len() > 4 {
        problems.push(Problem {
            pos: offs[4],
            level: Level::Disagreement,
            message: format!("{} parts after the fourth are ignored", parts.len() - 4),
        });
    }
    Some(Entry {
        contract_id,
        symbol: symbol.to_owned(),
        tick_types,
        buffer_hours,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_and_doc_values() {
        let (e, p) = parse("711280073:MNQ:bid_ask;last:1", 10);
        assert!(p.is_empty());
        assert_eq!(
            e,
            [Entry {
                contract_id: 711280073,
                symbol: "MNQ".into(),
                tick_types: vec![TickType::BidAsk, TickType::Last],
                buffer_hours: 1
            }]
        );
        let (e, p) = parse(
            "711280073:MNQ:bid_ask;last:2,265598:AAPL:bid_ask;last;mid_point:1",
            10,
        );
        assert!(p.is_empty());
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].to_text(), "265598:AAPL:bid_ask;last;mid_point:1");
        assert_eq!(parse("", 10), (vec![], vec![]));
    }

    #[test]
    fn problems_have_positions() {
        let (_, p) = parse("711280073:MNQ:bid_ask;lsat:1", 10);
        assert_eq!((p[0].pos, p[0].level), (22, Level::Error));
        assert!(p[0].message.starts_with("unknown tick type \"lsat\""));
        let (e, p) = parse("711280073:MNQ", 10);
        assert_eq!(e[0].tick_types, DEFAULT_TICK_TYPES);
        assert_eq!((p[0].pos, p[0].level), (0, Level::Disagreement));
        let (_, p) = parse("1:A:last:1, 1:B:last:1", 10);
        assert_eq!(
            (p[0].pos, p[0].message.as_str()),
            (12, "contract 1 is listed twice")
        );
        let (_, p) = parse("x:A", 10);
        assert_eq!((p[0].pos, p[0].level), (0, Level::Error));
        let (_, p) = parse("5:A:last:0", 10);
        assert_eq!(p[0].pos, 9);
        let (_, p) = parse("1:A:last:1,2:B:last:1", 1);
        assert_eq!(
            p[0].message,
            "2 contracts tracked, more than IB_STREAM_MAX_TRACKED = 1"
        );
        let (_, p) = parse("1:A:last; bid_ask:1", 10);
        assert_eq!((p[0].pos, p[0].level), (9, Level::Disagreement));
    }
}
