//! Conformance with the recorder's real sample files (`../shared/fixtures-real`,
//! not committed here): exact record counts, v2 JSON and v2 protobuf decode to
//! the same records, and log files are recognised as not tick data.
#![allow(clippy::unwrap_used)]

use crate::common;
use common::*;
use ibstore::format::{Decoded, Format};
use ibstore::tick::TickType;
use std::fs;
use std::path::Path;

fn decode_file(path: &Path, format: Format) -> Vec<Decoded> {
    let bytes = fs::read(path).unwrap();
    format
        .decode_all(&bytes)
        .into_iter()
        .map(|(off, r)| r.unwrap_or_else(|e| panic!("{}@{off}: {e}", path.display())))
        .collect()
}

#[test]
fn v2_json_and_v2_protobuf_samples_hold_the_same_50_records() {
    let Some(real) = real_fixtures() else { return };
    let base = real.join("ib-stream/test_storage");
    let mut all = Vec::new();
    for i in 0..5 {
        let json = decode_file(
            &base.join(format!("json/2025/07/10/17/test_stream_{i}.jsonl")),
            Format::V2Json,
        );
        let pb = decode_file(
            &base.join(format!("protobuf/2025/07/10/17/test_stream_{i}.pb")),
            Format::V2Pb,
        );
        assert_eq!((json.len(), pb.len()), (10, 10), "test_stream_{i}");
        for (j, p) in json.iter().zip(&pb) {
            assert_eq!(j.tick, p.tick, "test_stream_{i}");
        }
        all.extend(json);
    }
    assert_eq!(all.len(), 50);
    // Spec §14: contract 265598, tick types cycling bid_ask / last / mid_point,
    // every envelope at 2025-07-10T17:52:50.039295Z.
    assert!(all.iter().all(|d| d.tick.cid == 265_598
        && d.tick.ts == 1_752_169_970_039_295
        && d.tick.st == d.tick.ts));
    let count = |tt| all.iter().filter(|d| d.tick.tt == tt).count();
    assert_eq!(
        (
            count(TickType::BidAsk),
            count(TickType::Last),
            count(TickType::MidPoint)
        ),
        (17, 17, 16)
    );
    let first = &all[0].tick;
    assert_eq!(
        (first.bp, first.bs, first.ap, first.as_),
        (Some(175.25), Some(100.0), Some(175.26), Some(150.0))
    );
    assert!(
        all.iter()
            .filter(|d| d.tick.tt == TickType::MidPoint)
            .all(|d| d.tick.mp.is_some()),
        "mid_price is the mid value"
    );
}

#[test]
fn v3_samples_decode_with_exact_counts_and_values() {
    let Some(real) = real_fixtures() else { return };
    let dir = real.join("test_storage_v3/json/2025/08/01/01");
    let mut n = 0;
    for sec in 1_754_010_291..=1_754_010_295 {
        let recs = decode_file(
            &dir.join(format!("711280073_bid_ask_{sec}.jsonl")),
            Format::V3Json,
        );
        assert_eq!(recs.len(), 1);
        assert_eq!(
            recs[0].tick.ts / 1_000_000,
            sec,
            "per-second file names hold their second"
        );
        n += 1;
    }
    assert_eq!(n, 5);
    let multi = real.join("test_storage_multi/v3/json/2025/08/01/01");
    let ba = decode_file(
        &multi.join("711280073_bid_ask_1754010291.jsonl"),
        Format::V3Json,
    );
    let last = decode_file(
        &multi.join("711280073_last_1754010291.jsonl"),
        Format::V3Json,
    );
    assert_eq!((ba.len(), last.len()), (1, 1));
    assert_eq!(
        (ba[0].tick.ts, ba[0].tick.st, ba[0].tick.rid),
        (1_754_010_291_910_988, 1_754_010_291_911_004, 1_014_076_394)
    );
    assert_eq!(
        (last[0].tick.tt, last[0].tick.p, last[0].tick.s),
        (TickType::Last, Some(23261.0), Some(10.0))
    );
}

#[test]
fn validate_over_the_real_samples_finds_no_errors_and_skips_the_logs() {
    let Some(real) = real_fixtures() else { return };
    let r = validate(&real, &[]);
    assert_eq!(r.code, 0, "{:?}", r.errors());
    assert!(r.errors().is_empty());
    assert_eq!(
        (
            r.summary()["files"].as_u64(),
            r.summary()["records"].as_u64()
        ),
        (Some(19), Some(107))
    );
    let logs: Vec<&str> = r
        .kind("not_tick_data")
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        logs,
        [
            "ib-stream/logs/time_drift_data.jsonl",
            "ib-stream/logs/time_drift_detailed.jsonl"
        ]
    );
    // The per-second v3 files under `{root}/json` are read as v3 (spec §2.3, §2.4).
    assert_eq!(r.kind("format_mismatch").len(), 5);
    assert!(r.kind("misplaced_record").is_empty());
}
