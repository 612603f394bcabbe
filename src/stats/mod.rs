//! `ibstore stats`: what a store holds, from the catalog
//! ([`crate::index::Catalog`]): bytes, files, records, empty files, time
//! range, records per second, bytes per record and compression ratio,
//! grouped by day, hour, contract, tick type, format or layout era.

use crate::index::{Catalog, CatalogEntry};
use crate::time;
use serde::Serialize;
use std::collections::BTreeMap;

/// How to group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// UTC day of the partition (or of the first record).
    Day,
    /// UTC hour.
    Hour,
    /// Contract id.
    Contract,
    /// Tick type.
    TickType,
    /// Record format and compression.
    Format,
    /// Layout era.
    Era,
}

/// Totals of one group.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Group {
    /// The group's name.
    pub group: String,
    /// Data files.
    pub files: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// Decompressed bytes.
    pub decoded_bytes: u64,
    /// Good records.
    pub records: u64,
    /// Files with no bytes (or a compressed stream of nothing).
    pub empty_files: u64,
    /// Earliest ts, µs.
    pub first_ts: Option<i64>,
    /// Latest ts, µs.
    pub last_ts: Option<i64>,
    /// Records per second between first and last ts.
    pub records_per_second: f64,
    /// Bytes on disk per record.
    pub bytes_per_record: f64,
    /// Decompressed bytes / bytes on disk.
    pub compression_ratio: f64,
}

fn key(e: &CatalogEntry, by: By) -> String {
    let t = e.hour.or(e.first_ts.map(|us| us.div_euclid(time::US)));
    match by {
        By::Day => t.map_or("unplaced".into(), |s| {
            time::hour_folder(s)[..10].replace('/', "-")
        }),
        By::Hour => t.map_or("unplaced".into(), |s| {
            let h = time::hour_folder(s).replace('/', "-");
            format!("{}T{}", &h[..10], &h[11..])
        }),
        By::Contract => e.contract.map_or("unknown".into(), |c| c.to_string()),
        By::TickType => e.tick_type.clone().unwrap_or_else(|| "unknown".into()),
        By::Format => {
            let f = e.format.clone().unwrap_or_else(|| "no-tick-data".into());
            if e.zstd {
                format!("{f}+zstd")
            } else {
                f
            }
        }
        By::Era => e.era.clone(),
    }
}

/// Groups the catalog; the last group is the total (`group` = `total`).
pub fn groups(c: &Catalog, by: By) -> Vec<Group> {
    let mut m: BTreeMap<String, Group> = BTreeMap::new();
    let mut total = Group {
        group: "total".into(),
        ..Group::default()
    };
    for e in &c.files {
        let k = key(e, by);
        let g = m.entry(k.clone()).or_insert_with(|| Group {
            group: k,
            ..Group::default()
        });
        for g in [g, &mut total] {
            g.files += 1;
            g.bytes += e.size;
            g.decoded_bytes += e.decoded_bytes;
            g.records += e.records;
            g.empty_files += u64::from(e.decoded_bytes == 0);
            g.first_ts = g.first_ts.into_iter().chain(e.first_ts).min();
            g.last_ts = g.last_ts.into_iter().chain(e.last_ts).max();
        }
    }
    let mut out: Vec<Group> = m.into_values().collect();
    out.push(total);
    for g in &mut out {
        let span = match (g.first_ts, g.last_ts) {
            (Some(a), Some(b)) if b > a => (b - a) as f64 / time::US as f64,
            _ => 0.0,
        };
        g.records_per_second = if span > 0.0 {
            g.records as f64 / span
        } else {
            0.0
        };
        g.bytes_per_record = if g.records > 0 {
            g.bytes as f64 / g.records as f64
        } else {
            0.0
        };
        g.compression_ratio = if g.bytes > 0 {
            g.decoded_bytes as f64 / g.bytes as f64
        } else {
            0.0
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(hour: i64, size: u64, decoded: u64, records: u64, zstd: bool) -> CatalogEntry {
        CatalogEntry {
            file: format!("f{hour}"),
            era: "v3".into(),
            format: Some("v3-pb".into()),
            zstd,
            contract: Some(1),
            tick_type: Some("last".into()),
            hour: Some(hour),
            size,
            mtime_ns: 0,
            ctime_ns: 0,
            ino: 0,
            crc32: 0,
            decoded_bytes: decoded,
            records,
            first_ts: (records > 0).then_some(hour * time::US),
            last_ts: (records > 0).then_some((hour + 100) * time::US),
            sorted: true,
            appending: false,
            errors: 0,
            warnings: 0,
            infos: 0,
            index_bytes: 0,
            index_crc32: 0,
            streams: Vec::new(),
            streams_all: false,
        }
    }

    #[test]
    fn groups_and_ratios() {
        let c = Catalog {
            root: "/s".into(),
            written_us: 0,
            folders: Vec::new(),
            files: vec![
                e(1_754_006_400, 100, 400, 50, true),
                e(1_754_010_000, 200, 200, 100, false),
                e(1_754_092_800, 0, 0, 0, false),
            ],
        };
        let g = groups(&c, By::Day);
        assert_eq!(
            g.iter().map(|g| g.group.as_str()).collect::<Vec<_>>(),
            ["2025-08-01", "2025-08-02", "total"]
        );
        assert_eq!(
            (g[0].files, g[0].bytes, g[0].records, g[0].empty_files),
            (2, 300, 150, 0)
        );
        assert_eq!(g[0].bytes_per_record, 2.0);
        assert_eq!(g[0].compression_ratio, 2.0);
        assert_eq!(g[0].records_per_second, 150.0 / 3700.0);
        assert_eq!(g[1].empty_files, 1);
        let f = groups(&c, By::Format);
        assert_eq!(
            f.iter().map(|g| g.group.as_str()).collect::<Vec<_>>(),
            ["v3-pb", "v3-pb+zstd", "total"]
        );
        let h = groups(&c, By::Hour);
        assert_eq!(h[0].group, "2025-08-01T00");
    }
}
