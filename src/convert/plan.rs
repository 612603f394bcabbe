//! What a conversion reads and where it writes: the SRC / DST checks, the
//! choice of source format, the record filters, the losses a target forces
//! on a record, and the output file of a record in the target's layout.

use crate::error::{Error, Result};
use crate::format::v2_side::{Extras, V2Side};
use crate::format::{Compression, Format};
use crate::report::{Finding, Kind};
use crate::scan::record::Home;
use crate::store::discover::Found;
use crate::tick::{Tick, TickType};
use crate::time::hour_folder;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A field a target format cannot hold for some records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LossField {
    /// The IB event time (v2 protobuf has none: `ts` becomes the envelope time).
    Ts,
    /// v2 `past_limit = true` (v3 has no field).
    PastLimit,
    /// A request id beyond int32 (v3 protobuf): written as 0.
    Rid,
    /// A contract id beyond the target's integer (int32 v3 protobuf, uint32
    /// v2 protobuf): the record cannot be written at all and is dropped.
    Cid,
    /// A non-empty v2 `exchange` (v3 has no field).
    Exchange,
    /// Non-empty v2 `conditions` (v3 has no field).
    Conditions,
    /// v2 `sequence` (v3 has no field).
    Sequence,
    /// A v2 stream id other than `bg_{cid}_{tt}` (v3 cannot recreate it).
    StreamId,
    /// v2 metadata other than the live writer's `source`/ids (v3 cannot recreate it).
    Metadata,
    /// v2 JSON `data.timestamp` (neither v2 protobuf nor v3 has a field).
    DataTimestamp,
    /// v2 keys or protobuf fields the format does not define, and values
    /// of a type the format has no place for (`exchange: 5`).
    Unknown,
    /// A v2 `data` / `tick_data` contract id or tick type that differs from
    /// the record's (taken from `metadata`): v3 holds one of each.
    DataIds,
}

impl LossField {
    /// Every loss field.
    pub const ALL: [LossField; 12] = [
        Self::Ts,
        Self::PastLimit,
        Self::Rid,
        Self::Cid,
        Self::Exchange,
        Self::Conditions,
        Self::Sequence,
        Self::StreamId,
        Self::Metadata,
        Self::DataTimestamp,
        Self::Unknown,
        Self::DataIds,
    ];

    /// The name used by `--allow-loss` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ts => "ts",
            Self::PastLimit => "past_limit",
            Self::Rid => "rid",
            Self::Cid => "cid",
            Self::Exchange => "exchange",
            Self::Conditions => "conditions",
            Self::Sequence => "sequence",
            Self::StreamId => "stream_id",
            Self::Metadata => "metadata",
            Self::DataTimestamp => "data_timestamp",
            Self::Unknown => "unknown",
            Self::DataIds => "data_ids",
        }
    }

    /// Parses [`LossField::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == s)
    }

    /// Every name, for messages.
    pub fn names() -> String {
        Self::ALL.map(|f| f.name()).join(", ")
    }

    fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// A set of [`LossField`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Losses(pub u16);

impl Losses {
    /// Adds a field.
    pub fn add(&mut self, f: LossField) {
        self.0 |= f.bit();
    }
    /// Whether a field is in the set.
    pub fn has(self, f: LossField) -> bool {
        self.0 & f.bit() != 0
    }
    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The fields in the set.
    pub fn iter(self) -> impl Iterator<Item = LossField> {
        LossField::ALL.into_iter().filter(move |f| self.has(*f))
    }
}

/// Which records are converted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only these contracts (empty: all).
    pub contracts: Vec<i64>,
    /// Only these tick types (empty: all).
    pub tick_types: Vec<TickType>,
    /// Only records with `ts >= since` (µs).
    pub since: Option<i64>,
    /// Only records with `ts < until` (µs).
    pub until: Option<i64>,
}

impl Filter {
    /// Whether a record passes.
    #[inline]
    pub fn keep(&self, t: &Tick) -> bool {
        (self.contracts.is_empty() || self.contracts.contains(&t.cid))
            && (self.tick_types.is_empty() || self.tick_types.contains(&t.tt))
            && self.since.is_none_or(|s| t.ts >= s)
            && self.until.is_none_or(|u| t.ts < u)
    }
}

/// Maps a record onto what `target` can hold, in place: returns the fields
/// it lost, or `None` when it cannot be written at all (its contract id).
#[inline]
pub fn map_to_target(t: &mut Tick, target: Format) -> Option<Losses> {
    let mut l = Losses::default();
    match target {
        Format::V3Json | Format::V3Pb => {
            if t.past_limit == Some(true) {
                l.add(LossField::PastLimit);
            }
            t.past_limit = None;
            if target == Format::V3Pb {
                if i32::try_from(t.cid).is_err() {
                    l.add(LossField::Cid);
                    return None;
                }
                if i32::try_from(t.rid).is_err() {
                    l.add(LossField::Rid);
                    t.rid = 0;
                }
            }
        }
        Format::V2Pb => {
            if u32::try_from(t.cid).is_err() {
                return None;
            }
            if t.ts != t.st {
                l.add(LossField::Ts);
                t.ts = t.st;
            }
        }
        Format::V2Json => {}
    }
    Some(l)
}

/// The v2 extras (`side`, read from the source record) that `target`
/// cannot hold: v3 has no place for any of them, v2 protobuf none for
/// `data.timestamp` or for keys v2 JSON does not define; the same format
/// keeps every byte (records are copied).
pub fn side_losses(side: &V2Side, t: &Tick, source: Format, target: Format) -> Losses {
    extras_losses(side.extras(t), source, target)
}

/// [`side_losses`] from a record's [`Extras`] (what the v2 JSON decoder
/// noted, or [`V2Side::extras`]).
pub fn extras_losses(e: Extras, source: Format, target: Format) -> Losses {
    let mut l = Losses::default();
    if source == target {
        return l;
    }
    if e.has(Extras::UNKNOWN) {
        l.add(LossField::Unknown);
    }
    if target.is_v3() {
        for (bit, field) in [
            (Extras::EXCHANGE, LossField::Exchange),
            (Extras::CONDITIONS, LossField::Conditions),
            (Extras::SEQUENCE, LossField::Sequence),
            (Extras::STREAM_ID, LossField::StreamId),
            (Extras::METADATA, LossField::Metadata),
            (Extras::IDS, LossField::DataIds),
        ] {
            if e.has(bit) {
                l.add(field);
            }
        }
    }
    if target != Format::V2Json && e.has(Extras::DATA_TIMESTAMP) {
        l.add(LossField::DataTimestamp);
    }
    l
}

/// The output file of a record (already mapped to the target): its
/// contract, tick type and hour of `ts` (v3) or of the envelope time (v2).
#[inline]
pub fn home(t: &Tick, target: Format) -> Home {
    Home::of(t, target.version())
}

/// The path of an output file relative to DST, in the target's own layout:
/// `v3/<json|protobuf>/YYYY/MM/DD/HH/{cid}_{tt}_{hour}.ext` or
/// `v2/<json|protobuf>/YYYY/MM/DD/HH/bg_{cid}_{tt}.ext`.
pub fn output_rel(h: Home, target: Format, compression: Compression) -> String {
    let zst = if compression == Compression::Zstd {
        ".zst"
    } else {
        ""
    };
    let (ver, name) = if target.is_v3() {
        ("v3", format!("{}_{}_{}", h.cid, h.tt, h.hour))
    } else {
        ("v2", format!("bg_{}_{}", h.cid, h.tt))
    };
    format!(
        "{ver}/{}/{}/{name}.{}{zst}",
        target.family_dir(),
        hour_folder(h.hour),
        target.extension()
    )
}

/// The canonical path of `p`, which need not exist yet: its nearest
/// existing ancestor canonicalised, plus the rest.
fn absolute(p: &Path) -> Result<PathBuf> {
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::path(p, e))?
            .join(p)
    };
    let mut rest = Vec::new();
    let mut cur = p.as_path();
    loop {
        match std::fs::canonicalize(cur) {
            Ok(c) => {
                let mut out = c;
                for r in rest.iter().rev() {
                    out.push(r);
                }
                return Ok(out);
            }
            Err(_) => match (cur.parent(), cur.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_owned());
                    cur = parent;
                }
                _ => return Ok(p),
            },
        }
    }
}

/// Checks SRC and DST: SRC must exist; DST must be neither SRC, nor inside
/// it, nor hold it. Returns the canonical SRC and the absolute DST.
pub fn check_paths(src: &Path, dst: &Path) -> Result<(PathBuf, PathBuf)> {
    let s = std::fs::canonicalize(src).map_err(|e| Error::path(src, e))?;
    let d = absolute(dst)?;
    let why = if d == s {
        Some("DST is SRC")
    } else if d.starts_with(&s) {
        Some("DST is inside SRC")
    } else if s.starts_with(&d) {
        Some("SRC is inside DST")
    } else {
        same_file_why(&s, &d)
    };
    match why {
        Some(why) => Err(Error::Usage(format!(
            "refused: {why} ({} and {}); convert never writes into its source",
            s.display(),
            d.display()
        ))),
        None => Ok((s, d)),
    }
}

/// The path checks again by identity (st_dev, st_ino): SRC reached through
/// a symlink or bind mount is SRC. Compares SRC with DST and each of DST's
/// existing ancestors, and DST (if it exists) with SRC's ancestors.
fn same_file_why(s: &Path, d: &Path) -> Option<&'static str> {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let sid = id(s)?;
    for a in d.ancestors() {
        if id(a) == Some(sid) {
            return Some(if a == d {
                "DST is SRC (by another path: a link or bind mount)"
            } else {
                "DST is inside SRC (by another path: a link or bind mount)"
            });
        }
    }
    let did = id(d)?;
    s.ancestors()
        .skip(1)
        .any(|a| id(a) == Some(did))
        .then_some("SRC is inside DST (by another path: a link or bind mount)")
}

/// The format a file holds as far as it can be told before scanning it:
/// the layout's under `v2/` and `v3/`; elsewhere (legacy `json/`,
/// converter and unplaced folders, which held both versions, spec §2.4)
/// the content's first records decide.
pub fn likely_format(f: &Found) -> Option<Format> {
    use crate::store::layout::Layout;
    match f.file.layout {
        Layout::V2 | Layout::V3 => f.file.layout_format(),
        _ => head_of(&f.abs, f.file.ext.compression)
            .and_then(|head| Format::sniff(f.file.ext.json, &head))
            .or_else(|| f.file.layout_format()),
    }
}

/// SRC holding Parquet files and no tick data files (a dataset `convert
/// --format parquet` made) is refused with what SRC may hold: Parquet is
/// written, never read. `found` are discovery's findings of SRC.
pub fn refuse_parquet_src(src: &Path, files: &[Found], found: &[Finding]) -> Result<()> {
    if !files.is_empty() {
        return Ok(());
    }
    let Some(first) = found
        .iter()
        .filter(|f| f.kind == Kind::UnknownFile && f.file.ends_with(".parquet"))
        .map(|f| &f.file)
        .min()
    else {
        return Ok(());
    };
    let formats: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
    Err(Error::Usage(format!(
        "refused: {} is a Parquet dataset ({}, …): Parquet is an output-only format of convert (--format parquet), written and never read; SRC must be a store of tick data files ({})",
        src.display(),
        first,
        formats.join(", ")
    )))
}

/// Picks the source format: `wanted`, or the one format every file holds;
/// several without `wanted` are refused, listing them. Returns the format
/// and the files to read (files known to hold another format are left out).
pub fn choose_source(files: Vec<Found>, wanted: Option<Format>) -> Result<(Format, Vec<Found>)> {
    let likely: Vec<Option<Format>> = files.iter().map(likely_format).collect();
    let mut seen: BTreeMap<Format, u64> = BTreeMap::new();
    for f in likely.iter().flatten() {
        *seen.entry(*f).or_default() += 1;
    }
    let format = match wanted {
        Some(w) => w,
        None => match seen.len() {
            0 => return Err(Error::Usage("SRC holds no tick data files".into())),
            1 => *seen.keys().next().unwrap_or(&Format::V3Json),
            _ => {
                let list: Vec<String> = seen
                    .iter()
                    .map(|(f, n)| format!("{f} ({n} files)"))
                    .collect();
                return Err(Error::Usage(format!(
                    "SRC holds several formats: {}; choose one with --source-format",
                    list.join(", ")
                )));
            }
        },
    };
    let files = files
        .into_iter()
        .zip(likely)
        .filter(|(_, l)| l.is_none_or(|l| l == format))
        .map(|(f, _)| f)
        .collect();
    Ok((format, files))
}

/// The first bytes of a file (decompressed), for sniffing.
fn head_of(p: &Path, c: Compression) -> Option<Vec<u8>> {
    use std::io::Read as _;
    let f = std::fs::File::open(p).ok()?;
    let mut buf = Vec::new();
    match c {
        Compression::None => f.take(1 << 16).read_to_end(&mut buf).ok()?,
        Compression::Zstd => zstd::stream::read::Decoder::new(f)
            .ok()?
            .take(1 << 16)
            .read_to_end(&mut buf)
            .ok()?,
    };
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths_follow_the_target_layout() {
        let h = Home {
            cid: 7,
            tt: TickType::BidAsk,
            hour: 1_754_010_000,
        };
        assert_eq!(
            output_rel(h, Format::V3Pb, Compression::None),
            "v3/protobuf/2025/08/01/01/7_bid_ask_1754010000.pb"
        );
        assert_eq!(
            output_rel(h, Format::V2Json, Compression::Zstd),
            "v2/json/2025/08/01/01/bg_7_bid_ask.jsonl.zst"
        );
    }

    #[test]
    fn losses_per_target() {
        let t = Tick {
            ts: 1,
            st: 2,
            rid: 1 << 31,
            past_limit: Some(true),
            ..Tick::default()
        };
        let mut a = t;
        let l = map_to_target(&mut a, Format::V3Pb).unwrap();
        assert!(l.has(LossField::Rid) && l.has(LossField::PastLimit) && !l.has(LossField::Ts));
        assert_eq!((a.rid, a.past_limit), (0, None));
        let mut b = t;
        let l = map_to_target(&mut b, Format::V2Pb).unwrap();
        assert_eq!(l.iter().collect::<Vec<_>>(), vec![LossField::Ts]);
        assert_eq!(b.ts, 2);
        let mut c = t;
        assert!(map_to_target(&mut c, Format::V2Json).unwrap().is_empty());
        assert_eq!(c, t);
        let mut d = Tick {
            cid: -1,
            ..Tick::default()
        };
        assert_eq!(map_to_target(&mut d, Format::V2Pb), None);
    }

    #[test]
    fn dst_inside_src_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let s = d.path().join("s");
        std::fs::create_dir(&s).unwrap();
        assert!(check_paths(&s, &s).is_err());
        assert!(check_paths(&s, &s.join("out/x")).is_err());
        assert!(check_paths(&s.join("missing"), &d.path().join("o")).is_err());
        assert!(check_paths(&s, d.path()).is_err());
        assert!(check_paths(&s, &d.path().join("o")).is_ok());
    }
}
