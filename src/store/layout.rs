//! Layout eras (spec §1, §2): where a data file sits says which record
//! version it should hold and which UTC hour it covers.
//!
//! ```text
//! {root}/json|protobuf/YYYY/MM/DD/HH/{stream_id}.jsonl|.pb          legacy v2
//! {root}/v2/json|protobuf/YYYY/MM/DD/HH/{stream_id}.jsonl|.pb       v2
//! {root}/v3/json|protobuf/YYYY/MM/DD/HH/{cid}_{tt}_{T}.jsonl|.pb    v3
//! {root}/v3/json/json/YYYY/MM/DD/HH/{stream_id}.jsonl               standalone converter (v3 records, v2 names)
//! ```

use super::naming::FileName;
use crate::format::{Compression, Extension, Format, Version};
use crate::time;
use std::path::Path;

/// The era/shape of the folder a file sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layout {
    /// `{root}/json|protobuf/…` (2025-07-10 → 2025-08-01).
    LegacyV2,
    /// `{root}/v2/json|protobuf/…`.
    V2,
    /// `{root}/v3/json|protobuf/…`.
    V3,
    /// `{root}/v3/json/json/…` written by `standalone_converter.py` (spec §2.4).
    Converter,
    /// Not inside a `…/YYYY/MM/DD/HH/` partition.
    Unplaced,
}

impl Layout {
    /// The record version this layout holds, if it says.
    pub fn version(self) -> Option<Version> {
        match self {
            Self::LegacyV2 | Self::V2 => Some(Version::V2),
            Self::V3 | Self::Converter => Some(Version::V3),
            Self::Unplaced => None,
        }
    }

    /// Name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::LegacyV2 => "legacy-v2",
            Self::V2 => "v2",
            Self::V3 => "v3",
            Self::Converter => "v3-converter",
            Self::Unplaced => "unplaced",
        }
    }
}

/// A data file found in a store, classified by its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// Path relative to the scan root, `/`-separated (the file name when the
    /// scan root is the file itself).
    pub rel: String,
    /// JSON or protobuf, and compression, from the extension.
    pub ext: Extension,
    /// Layout era.
    pub layout: Layout,
    /// Epoch seconds of the partition folder's hour (`Unplaced`: none).
    pub hour: Option<i64>,
    /// The partition folder text `YYYY/MM/DD/HH`.
    pub partition: Option<String>,
    /// Path of the family folder (`…/v3/json`) relative to the scan root:
    /// files of one stream share it.
    pub base: String,
    /// Parsed file name.
    pub name: FileName,
    /// File name stem without extensions.
    pub stem: String,
    /// Size on disk.
    pub size: u64,
    /// The exact bytes of `rel` when a name in it is not UTF-8 (`rel` is
    /// then lossy).
    pub raw: Option<Vec<u8>>,
    /// Inside a `v2/` or `v3/` family folder but not in a `YYYY/MM/DD/HH`
    /// partition folder: the folders between the family and the file.
    pub misfiled: Option<String>,
    /// In a partition of the other family folder (a `.jsonl` under
    /// `protobuf/`, a `.pb` under `json/`): read by its extension, but the
    /// recorder's readers of that folder skip it.
    pub wrong_family: bool,
}

impl DataFile {
    /// The format the layout implies (`None` when it does not say).
    pub fn layout_format(&self) -> Option<Format> {
        self.layout.version().map(|v| v.format(self.ext.json))
    }

    /// Whether the file is zstd-compressed.
    pub fn compressed(&self) -> bool {
        self.ext.compression == Compression::Zstd
    }
}

fn two(s: &str) -> Option<u32> {
    (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Parses `YYYY/MM/DD/HH` components into the hour's epoch seconds.
pub fn parse_partition(y: &str, m: &str, d: &str, h: &str) -> Option<i64> {
    if y.len() != 4 || !y.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    time::epoch_of(y.parse().ok()?, two(m)?, two(d)?, two(h)?)
}

/// Classifies a data file from the components of its canonical absolute path
/// (`abs`) and its report path (`rel`).
pub fn classify(abs: &Path, rel: String, ext: Extension, size: u64) -> DataFile {
    let owned: Vec<std::borrow::Cow<'_, str>> = abs.iter().map(|c| c.to_string_lossy()).collect();
    let comps: Vec<&str> = owned.iter().map(|c| c.as_ref()).collect();
    let file = comps.last().copied().unwrap_or("");
    let stem = Extension::stem(file).to_owned();
    let n = comps.len();
    let mut out = DataFile {
        rel,
        ext,
        layout: Layout::Unplaced,
        hour: None,
        partition: None,
        base: String::new(),
        name: FileName::Other,
        stem,
        size,
        raw: None,
        misfiled: None,
        wrong_family: false,
    };
    let family = if ext.json { "json" } else { "protobuf" };
    let other = if ext.json { "protobuf" } else { "json" };
    if n >= 7 && (comps[n - 6] == family || comps[n - 6] == other) {
        if let Some(hour) = parse_partition(comps[n - 5], comps[n - 4], comps[n - 3], comps[n - 2])
        {
            out.hour = Some(hour);
            out.wrong_family = comps[n - 6] == other;
            out.partition = Some(comps[n - 5..n - 1].join("/"));
            out.layout = match (comps[n - 7], comps.get(n.wrapping_sub(8)).copied()) {
                ("v2", _) => Layout::V2,
                ("v3", _) => Layout::V3,
                ("json", Some("v3")) if ext.json => Layout::Converter,
                _ => Layout::LegacyV2,
            };
            let up = out.rel.matches('/').count();
            // The family folder is 5 levels above the file in `rel` when the
            // scan root is above it; otherwise name it by its absolute path.
            out.base = if up >= 5 {
                out.rel.rsplitn(6, '/').nth(5).unwrap_or("").to_owned()
            } else {
                abs.iter()
                    .take(n - 5)
                    .collect::<std::path::PathBuf>()
                    .to_string_lossy()
                    .into_owned()
            };
        }
    }
    if out.layout == Layout::Unplaced {
        misfiled(&comps, family, &mut out);
    }
    out.name = match out.layout {
        Layout::V3 => {
            FileName::parse_v3(&out.stem).unwrap_or_else(|| FileName::parse_v2(&out.stem))
        }
        _ => FileName::parse_v2(&out.stem),
    };
    out
}

/// A data file under `{v2|v3}/{json|protobuf}/` but outside a valid
/// partition (directly in the family folder, under a day folder, in a
/// folder below an hour folder, …): its
/// era is known, so it is read as such, and the folders are reported.
fn misfiled(comps: &[&str], family: &str, out: &mut DataFile) {
    let n = comps.len();
    let Some(f) = (1..n.saturating_sub(1))
        .rev()
        .find(|&i| comps[i] == family && matches!(comps[i - 1], "v2" | "v3"))
    else {
        return;
    };
    out.layout = if comps[f - 1] == "v3" {
        Layout::V3
    } else {
        Layout::V2
    };
    let between = comps[f + 1..n - 1].join("/");
    out.misfiled = Some(if between.is_empty() {
        format!("directly in {}/{}", comps[f - 1], family)
    } else {
        format!("in {}/{}/{between}", comps[f - 1], family)
    });
    let depth = n - f - 1;
    let up = out.rel.matches('/').count();
    out.base = if up >= depth {
        out.rel
            .rsplitn(depth + 1, '/')
            .nth(depth)
            .unwrap_or("")
            .to_owned()
    } else {
        comps[..=f]
            .iter()
            .collect::<std::path::PathBuf>()
            .to_string_lossy()
            .into_owned()
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tick::TickType;

    fn c(p: &str) -> DataFile {
        let ext = Extension::from_path(Path::new(p)).unwrap();
        classify(Path::new(p), p.trim_start_matches("/s/").to_owned(), ext, 0)
    }

    #[test]
    fn eras() {
        let f = c("/s/v3/json/2025/08/01/01/711280073_bid_ask_1754010000.jsonl");
        assert_eq!(
            (f.layout, f.hour, f.base.as_str()),
            (Layout::V3, Some(1_754_010_000), "v3/json")
        );
        assert_eq!(
            f.name,
            FileName::V3 {
                cid: 711280073,
                tt: TickType::BidAsk,
                t: 1754010000
            }
        );
        assert_eq!(f.layout_format(), Some(Format::V3Json));
        assert!(!f.wrong_family);
        let f = c("/s/v3/protobuf/2025/08/01/01/711280073_bid_ask_1754010000.jsonl");
        assert_eq!(
            (f.layout, f.hour, f.base.as_str(), f.wrong_family),
            (Layout::V3, Some(1_754_010_000), "v3/protobuf", true)
        );
        assert_eq!(f.layout_format(), Some(Format::V3Json));
        let f = c("/s/v2/protobuf/2025/08/01/01/bg_1_last.pb.zst");
        assert_eq!(
            (f.layout, f.layout_format(), f.compressed()),
            (Layout::V2, Some(Format::V2Pb), true)
        );
        let f = c("/s/json/2025/07/10/17/test_stream_0.jsonl");
        assert_eq!((f.layout, f.base.as_str()), (Layout::LegacyV2, "json"));
        let f = c("/s/v3/json/json/2025/07/24/12/bg_711280073_bid_ask.jsonl");
        assert_eq!(
            (f.layout, f.layout_format()),
            (Layout::Converter, Some(Format::V3Json))
        );
        let f = c("/s/logs/time_drift_data.jsonl");
        assert_eq!((f.layout, f.hour), (Layout::Unplaced, None));
        let f = c("/s/v3/protobuf/2025/13/01/01/x.pb");
        assert_eq!(
            (f.layout, f.hour, f.misfiled.as_deref()),
            (Layout::V3, None, Some("in v3/protobuf/2025/13/01/01")),
            "month 13 is no partition"
        );
        let f = c("/s/v3/json/2025/08/01/01/x.pb");
        assert_eq!(
            (f.layout, f.wrong_family, f.layout_format()),
            (Layout::V3, true, Some(Format::V3Pb)),
            "a .pb file in a json family folder is placed, read as protobuf, and flagged"
        );
        let f = c("/s/v3/json/foo.jsonl");
        assert_eq!(
            (f.layout, f.base.as_str(), f.misfiled.as_deref()),
            (Layout::V3, "v3/json", Some("directly in v3/json"))
        );
        let f = c("/s/v3/protobuf/2025/08/01/7_last_1754010000.pb");
        assert_eq!(
            (f.layout, f.hour, f.misfiled.as_deref()),
            (Layout::V3, None, Some("in v3/protobuf/2025/08/01"))
        );
        assert_eq!(c("/s/logs/a.jsonl").misfiled, None);
    }
}
