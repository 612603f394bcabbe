//! `gen`: a deterministic synthetic store generator for tests, fixtures and
//! benchmarks, with damage injection at known, printed offsets.
//!
//! The same seed and options always give byte-identical stores. Each damage
//! kind is applied to its own file, so several can be combined.

use crate::error::{Error, Result};
use crate::format::{frames, Format};
use crate::tick::{Tick, TickType};
use crate::time::{self, HOUR, US};
use std::fs;
use std::path::{Path, PathBuf};

/// Fault kinds `gen --damage` can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DamageKind {
    /// Truncate a file to 0 bytes.
    Empty,
    /// Cut the last record in half.
    TruncatedTail,
    /// Append 2 bytes of a length prefix (protobuf only).
    PartialPrefix,
    /// Append 4096 NUL bytes.
    TrailingNul,
    /// Insert a line that is not JSON (JSON only).
    GarbageLine,
    /// Insert a line with invalid UTF-8 inside a string (JSON only).
    InvalidUtf8,
    /// Insert a record whose price is a string (JSON) or whose body is garbage (protobuf).
    BadRecord,
    /// Insert a 4-byte corrupt length prefix (protobuf only).
    BadPrefix,
    /// Swap two records in the middle.
    OutOfOrder,
    /// Repeat a record.
    Duplicate,
    /// Insert a record of another contract.
    Misplaced,
    /// Remove a run of records, leaving a silence of over 20 minutes.
    Gap,
    /// Remove every file of one hour of one stream.
    MissingHour,
}

impl DamageKind {
    /// All kinds.
    pub const ALL: [DamageKind; 13] = [
        Self::Empty,
        Self::TruncatedTail,
        Self::PartialPrefix,
        Self::TrailingNul,
        Self::GarbageLine,
        Self::InvalidUtf8,
        Self::BadRecord,
        Self::BadPrefix,
        Self::OutOfOrder,
        Self::Duplicate,
        Self::Misplaced,
        Self::Gap,
        Self::MissingHour,
    ];

    /// The kebab-case name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TruncatedTail => "truncated-tail",
            Self::PartialPrefix => "partial-prefix",
            Self::TrailingNul => "trailing-nul",
            Self::GarbageLine => "garbage-line",
            Self::InvalidUtf8 => "invalid-utf8",
            Self::BadRecord => "bad-record",
            Self::BadPrefix => "bad-prefix",
            Self::OutOfOrder => "out-of-order",
            Self::Duplicate => "duplicate",
            Self::Misplaced => "misplaced",
            Self::Gap => "gap",
            Self::MissingHour => "missing-hour",
        }
    }

    /// Parses [`DamageKind::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == s)
    }

    fn applies_to(self, f: Format) -> bool {
        match self {
            Self::PartialPrefix | Self::BadPrefix => !f.is_json(),
            Self::GarbageLine | Self::InvalidUtf8 => f.is_json(),
            _ => true,
        }
    }
}

/// Resolution of generated event times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TsResolution {
    /// Whole seconds, as IB tick-by-tick times are (live data): bursts of
    /// several records per second and occasional same-second repeats.
    #[default]
    Seconds,
    /// Distinct microsecond times, one record per slot of the hour (tidy
    /// data, the generator's shape before live-like data).
    Micros,
}

/// v2 folder layout to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V2Layout {
    /// `{root}/v2/json|protobuf/…`.
    Modern,
    /// `{root}/json|protobuf/…`.
    Legacy,
}

/// Generator options.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Output store root (must not hold data yet).
    pub out: PathBuf,
    /// Formats to write (each gets the same records).
    pub formats: Vec<Format>,
    /// Number of contracts.
    pub contracts: usize,
    /// Tick types per contract.
    pub tick_types: Vec<TickType>,
    /// Hours.
    pub hours: u32,
    /// First hour, epoch seconds (multiple of 3600).
    pub start: i64,
    /// Records per file.
    pub records: usize,
    /// Seed.
    pub seed: u64,
    /// Compress files with zstd.
    pub zstd: bool,
    /// v2 layout.
    pub v2_layout: V2Layout,
    /// Faults to inject.
    pub damage: Vec<DamageKind>,
    /// Event-time resolution.
    pub ts_resolution: TsResolution,
}

impl Default for GenOptions {
    fn default() -> Self {
        Self {
            out: PathBuf::from("store"),
            formats: vec![Format::V3Json],
            contracts: 2,
            tick_types: vec![TickType::BidAsk, TickType::Last],
            hours: 3,
            start: 1_754_006_400, // 2025-08-01T00
            records: 100,
            seed: 1,
            zstd: false,
            v2_layout: V2Layout::Modern,
            damage: Vec::new(),
            ts_resolution: TsResolution::Seconds,
        }
    }
}

/// One injected fault, as printed by `gen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    /// What.
    pub kind: DamageKind,
    /// File path relative to the store root.
    pub file: String,
    /// Byte offset where the damage starts (decompressed bytes).
    pub offset: u64,
    /// Bytes involved.
    pub len: u64,
}

/// What `gen` wrote.
#[derive(Debug, Default)]
pub struct GenSummary {
    /// Files written.
    pub files: u64,
    /// Records written (before damage).
    pub records: u64,
    /// Bytes written (on disk).
    pub bytes: u64,
    /// Faults injected.
    pub injected: Vec<Injected>,
}

const CONTRACTS: [(i64, f64, f64); 6] = [
    (711_280_073, 23_260.0, 0.25),
    (265_598, 230.0, 0.01),
    (637_533_641, 6_400.0, 0.25),
    (756_733, 640.0, 0.01),
    (620_730_945, 44_000.0, 1.0),
    (272_093, 520.0, 0.01),
];

/// SplitMix64: tiny, fast, deterministic.
#[derive(Debug, Clone)]
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn contract(i: usize, seed: u64) -> (i64, f64, f64) {
    CONTRACTS.get(i).copied().unwrap_or_else(|| {
        let mut r = Rng(seed ^ i as u64);
        (
            100_000_000 + r.below(800_000_000) as i64,
            10.0 + r.below(490) as f64,
            0.01,
        )
    })
}

/// Event times of one file, µs, sorted, inside the hour (`HOUR - 10` s).
fn event_times(o: &GenOptions, r: &mut Rng, hour: i64) -> Vec<i64> {
    let n = o.records as i64;
    let span = HOUR - 10;
    match o.ts_resolution {
        // Stratified offsets: one record per slot of the hour, jittered
        // inside it, so times are distinct and never far apart.
        TsResolution::Micros => {
            let span = span * US;
            let slot = (span / n).max(1);
            (0..n)
                .map(|i| hour * US + (i * slot + r.below(slot as u64) as i64).min(span - 1))
                .collect()
        }
        // Whole seconds: about 2.5 records per busy second (but at least 20
        // seconds, so a small file has no silence over 3 minutes), the
        // seconds stratified over the hour, every record in one of them.
        TsResolution::Seconds => {
            let seconds = (n * 2 / 5).max(n.min(20)).clamp(1, span);
            let slot = span / seconds;
            let secs: Vec<i64> = (0..seconds)
                .map(|i| i * slot + r.below((slot as u64).div_ceil(2)) as i64)
                .collect();
            let mut per = vec![1i64; seconds as usize];
            for _ in seconds..n {
                per[r.below(seconds as u64) as usize] += 1;
            }
            secs.iter()
                .zip(per)
                .flat_map(|(&s, k)| std::iter::repeat_n((hour + s) * US, k as usize))
                .collect()
        }
    }
}

/// The records of one (contract, tick type, hour) file, sorted by `(ts, st)`:
/// live-like by default (whole-second `ts`; `st` = `ts` + 0…2 s with µs
/// jitter, increasing; same-second repeats that differ only in `st`), or
/// distinct µs times with [`TsResolution::Micros`]. Every `st` stays inside
/// the hour.
pub fn file_ticks(o: &GenOptions, ci: usize, tt: TickType, hour: i64) -> Vec<Tick> {
    let (cid, base, tick) = contract(ci, o.seed);
    let mut r = Rng(o.seed.wrapping_mul(0x100_0000_01B3)
        ^ (cid as u64) << 8
        ^ (tt as u64) << 4
        ^ hour as u64);
    let times = event_times(o, &mut r, hour);
    let end = (hour + HOUR) * US;
    let live = o.ts_resolution == TsResolution::Seconds;
    let mut level = (base / tick).round() as i64 + hour / HOUR % 7;
    let mut prev: Option<Tick> = None;
    let mut out = Vec::with_capacity(times.len());
    for (i, &ts) in times.iter().enumerate() {
        let st = if live {
            // Arrival: up to 2 s after the event, after the previous arrival,
            // and inside the hour (room kept for the records still to come).
            let left = (times.len() - i) as i64;
            let room = (end - ts - left * 50).clamp(1, 2 * US);
            let after = prev.map_or(ts, |p: Tick| p.st + 1 + r.below(40) as i64);
            (ts + r.below(room as u64) as i64)
                .max(after)
                .min(end - left)
        } else {
            ts + 3 + r.below(400) as i64
        };
        // A same-second repeat: the quote or trade again, only `st` differs.
        if let Some(p) = prev.filter(|p| live && p.ts == ts && r.below(8) == 0) {
            let t = Tick { st, ..p };
            prev = Some(t);
            out.push(t);
            continue;
        }
        level += r.below(3) as i64 - 1;
        let price = (level.max(1) as f64 * tick * 1e6).round() / 1e6;
        let mut t = Tick {
            ts,
            st,
            cid,
            tt,
            rid: 60_000 + ci as i64,
            ..Tick::default()
        };
        match tt {
            TickType::BidAsk => {
                t.bp = Some(price);
                t.ap = Some(((level + 1) as f64 * tick * 1e6).round() / 1e6);
                t.bs = Some((1 + r.below(20)) as f64);
                t.as_ = Some((1 + r.below(20)) as f64);
            }
            TickType::Last | TickType::AllLast => {
                t.p = Some(price);
                t.s = Some((1 + r.below(10)) as f64);
                if r.below(200) == 0 {
                    t.upt = Some(true);
                }
            }
            TickType::MidPoint => t.mp = Some(price + tick / 2.0),
        }
        prev = Some(t);
        out.push(t);
    }
    out
}

/// Relative path of a generated file.
pub fn rel_path(o: &GenOptions, f: Format, cid: i64, tt: TickType, hour: i64) -> String {
    let base = match (f.is_v3(), o.v2_layout) {
        (true, _) => format!("v3/{}", f.family_dir()),
        (false, V2Layout::Modern) => format!("v2/{}", f.family_dir()),
        (false, V2Layout::Legacy) => f.family_dir().to_owned(),
    };
    let name = if f.is_v3() {
        format!("{cid}_{tt}_{hour}")
    } else {
        format!("bg_{cid}_{tt}")
    };
    let zst = if o.zstd { ".zst" } else { "" };
    format!(
        "{base}/{}/{name}.{}{zst}",
        time::hour_folder(hour),
        f.extension()
    )
}

/// Encodes ticks, returning the bytes and each record's start offset.
fn encode(f: Format, ticks: &[Tick]) -> Result<(Vec<u8>, Vec<u64>)> {
    let mut out = Vec::new();
    let mut offs = Vec::with_capacity(ticks.len());
    for t in ticks {
        offs.push(out.len() as u64);
        f.encode(t, &mut out)
            .map_err(|e| Error::Usage(e.to_string()))?;
    }
    Ok((out, offs))
}

/// Generates a store.
pub fn generate(o: &GenOptions) -> Result<GenSummary> {
    if o.start % HOUR != 0 {
        return Err(Error::Usage("--start must be a whole UTC hour".into()));
    }
    for d in &o.damage {
        if !o.formats.iter().any(|f| d.applies_to(*f)) {
            return Err(Error::Usage(format!(
                "damage {} does not apply to any of the formats written",
                d.name()
            )));
        }
    }
    let mut sum = GenSummary::default();
    let mut pending: Vec<DamageKind> = o.damage.clone();
    for &f in &o.formats {
        for ci in 0..o.contracts {
            for &tt in &o.tick_types {
                for h in 0..o.hours {
                    let hour = o.start + i64::from(h) * HOUR;
                    let ticks = file_ticks(o, ci, tt, hour);
                    let rel = rel_path(o, f, ticks.first().map_or(0, |t| t.cid), tt, hour);
                    let (mut bytes, offs) = encode(f, &ticks)?;
                    sum.records += ticks.len() as u64;
                    // Each fault takes the first file it applies to; hour 0 is
                    // left clean so missing-hour damage has a first hour.
                    let mut skip_file = false;
                    if h == 1 && o.hours >= 3 {
                        if let Some(i) = pending.iter().position(|d| d.applies_to(f)) {
                            let kind = pending.remove(i);
                            let inj = inject(kind, f, &ticks, &mut bytes, &offs, &rel)?;
                            skip_file = kind == DamageKind::MissingHour;
                            sum.injected.push(inj);
                        }
                    }
                    if skip_file {
                        continue;
                    }
                    let path = o.out.join(&rel);
                    write(&path, &bytes, o.zstd)?;
                    sum.files += 1;
                    sum.bytes += fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                }
            }
        }
    }
    if let Some(d) = pending.first() {
        return Err(Error::Usage(format!("not enough files to inject damage {} (each fault needs its own file: add --contracts or --tick-types, and use --hours 3 or more)", d.name())));
    }
    Ok(sum)
}

fn write(path: &Path, bytes: &[u8], zstd: bool) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_owned(),
        what: "create folder",
        source,
    })?;
    let data = if zstd {
        zstd::encode_all(bytes, 3).map_err(|source| Error::Io {
            path: path.to_owned(),
            what: "compress",
            source,
        })?
    } else {
        bytes.to_vec()
    };
    fs::write(path, data).map_err(|source| Error::Io {
        path: path.to_owned(),
        what: "write",
        source,
    })
}

fn splice(bytes: &mut Vec<u8>, at: u64, insert: &[u8]) {
    let at = at as usize;
    bytes.splice(at..at, insert.iter().copied());
}

fn inject(
    kind: DamageKind,
    f: Format,
    ticks: &[Tick],
    bytes: &mut Vec<u8>,
    offs: &[u64],
    rel: &str,
) -> Result<Injected> {
    let n = offs.len();
    if n < 10 {
        return Err(Error::Usage(
            "damage needs at least 10 records per file (--records)".into(),
        ));
    }
    let mid = n / 2;
    let end_of = |i: usize| offs.get(i + 1).copied().unwrap_or(bytes.len() as u64);
    let one = |t: &Tick| -> Result<Vec<u8>> { Ok(encode(f, std::slice::from_ref(t))?.0) };
    let (offset, len) = match kind {
        DamageKind::Empty => {
            bytes.clear();
            (0, 0)
        }
        DamageKind::TruncatedTail => {
            let last = offs[n - 1];
            let cut = last + (bytes.len() as u64 - last) / 2;
            bytes.truncate(cut as usize);
            (last, cut - last)
        }
        DamageKind::PartialPrefix => {
            let at = bytes.len() as u64;
            bytes.extend_from_slice(&[0, 0]);
            (at, 2)
        }
        DamageKind::TrailingNul => {
            let at = bytes.len() as u64;
            bytes.resize(bytes.len() + 4096, 0);
            (at, 4096)
        }
        DamageKind::GarbageLine => {
            let line = b"{\"ts\":17540,garbage\n";
            splice(bytes, offs[mid], line);
            (offs[mid], line.len() as u64)
        }
        DamageKind::InvalidUtf8 => {
            let line = b"{\"ts\":1,\"tt\":\"\xff\xfe\"}\n";
            splice(bytes, offs[mid], line);
            (offs[mid], line.len() as u64)
        }
        DamageKind::BadRecord => {
            let rec: Vec<u8> = if f.is_json() {
                let good = String::from_utf8_lossy(&one(&ticks[mid])?).into_owned();
                let mut s = good;
                // Make the first price a string: `"bp":23260.0` -> `"bp":"23260.0"`.
                for k in [
                    "\"bp\":",
                    "\"p\":",
                    "\"mp\":",
                    "\"bid_price\":",
                    "\"price\":",
                    "\"midpoint\":",
                ] {
                    if let Some(i) = s.find(k) {
                        let v = i + k.len();
                        let e = v + s[v..].find([',', '}']).unwrap_or(0);
                        s = format!("{}\"{}\"{}", &s[..v], &s[v..e], &s[e..]);
                        break;
                    }
                }
                s.into_bytes()
            } else {
                let mut out = Vec::new();
                frames::write_frame(
                    if f.is_v3() {
                        frames::ByteOrder::Big
                    } else {
                        frames::ByteOrder::Little
                    },
                    &[0x0f, 0xff, 0xff],
                    &mut out,
                );
                out
            };
            splice(bytes, offs[mid], &rec);
            (offs[mid], rec.len() as u64)
        }
        DamageKind::BadPrefix => {
            splice(bytes, offs[mid], &[0xff, 0xff, 0xff, 0x7f]);
            (offs[mid], 4)
        }
        DamageKind::OutOfOrder => {
            // Two records of different seconds, so the swap is visible in ts.
            let mid = (mid..n - 1)
                .find(|&i| ticks[i].ts < ticks[i + 1].ts)
                .unwrap_or(mid);
            let (a, b) = (offs[mid] as usize, end_of(mid) as usize);
            let c = end_of(mid + 1) as usize;
            let first = bytes[a..b].to_vec();
            let second = bytes[b..c].to_vec();
            bytes.splice(a..c, second.iter().chain(first.iter()).copied());
            (a as u64 + second.len() as u64, first.len() as u64)
        }
        DamageKind::Duplicate => {
            let rec = bytes[offs[mid] as usize..end_of(mid) as usize].to_vec();
            let at = end_of(mid);
            splice(bytes, at, &rec);
            (at, rec.len() as u64)
        }
        DamageKind::Misplaced => {
            let mut t = ticks[mid];
            t.cid += 1;
            let rec = one(&t)?;
            splice(bytes, offs[mid], &rec);
            (offs[mid], rec.len() as u64)
        }
        DamageKind::Gap => {
            let (a, b) = (n / 5, n * 3 / 5);
            let (from, to) = (offs[a] as usize, offs[b] as usize);
            bytes.drain(from..to);
            (from as u64, (to - from) as u64)
        }
        DamageKind::MissingHour => (0, bytes.len() as u64),
    };
    Ok(Injected {
        kind,
        file: rel.to_owned(),
        offset,
        len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_sorted() {
        let o = GenOptions {
            ts_resolution: TsResolution::Micros,
            ..GenOptions::default()
        };
        let a = file_ticks(&o, 0, TickType::BidAsk, o.start);
        let b = file_ticks(&o, 0, TickType::BidAsk, o.start);
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0].ts < w[1].ts));
        assert!(a
            .iter()
            .all(|t| t.ts >= o.start * US && t.st < (o.start + HOUR) * US));
        assert_eq!(
            rel_path(&o, Format::V3Pb, 7, TickType::Last, o.start),
            "v3/protobuf/2025/08/01/00/7_last_1754006400.pb"
        );
    }

    #[test]
    fn live_data_has_whole_seconds_bursts_and_repeats() {
        let o = GenOptions {
            records: 2000,
            ..GenOptions::default()
        };
        for tt in TickType::ALL {
            let t = file_ticks(&o, 0, tt, o.start);
            assert_eq!(t.len(), 2000);
            assert!(t.iter().all(|t| t.ts % US == 0), "whole-second ts");
            assert!(t
                .windows(2)
                .all(|w| (w[0].ts, w[0].st) < (w[1].ts, w[1].st)));
            assert!(t.windows(2).all(|w| w[0].st < w[1].st), "st increases");
            assert!(t
                .iter()
                .all(|t| t.st >= t.ts && t.st - t.ts <= 2 * US && t.st < (o.start + HOUR) * US));
            let same_second = t.windows(2).filter(|w| w[0].ts == w[1].ts).count();
            assert!(same_second > 800, "bursts: {same_second}");
            let repeats = t
                .windows(2)
                .filter(|w| w[0].same(&w[1], false) && w[0].st != w[1].st)
                .count();
            assert!(repeats >= 50, "repeats: {repeats}");
        }
    }
}
