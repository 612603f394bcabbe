//! Live recorder data: whole-second `ts`, same-second repeats told apart
//! only by `st`, v2 write-time partitions, and the records the recorder's
//! own readers skip (spec §11). No false alarm, no lost tick, no unread
//! record called clean.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::*;
use ibstore::{Format, Tick};
use serde_json::Value;
use std::fs;
use std::path::Path;
use tempfile::tempdir;

fn lines_of<'a>(v: &'a [Value], ty: &str) -> Vec<&'a Value> {
    v.iter().filter(|l| l["type"] == ty).collect()
}

/// Records of a file: (offset, len, tick).
fn records(format: Format, bytes: &[u8]) -> Vec<(u64, u64, Tick)> {
    let mut out = Vec::new();
    format.walk(bytes, |p| {
        if let ibstore::format::piece::Piece::Record {
            offset, len, bytes, ..
        } = p
        {
            out.push((offset, len, format.decode(bytes).unwrap().tick));
        }
    });
    out
}

fn encode(format: Format, ticks: &[Tick]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in ticks {
        format.encode(t, &mut out).unwrap();
    }
    out
}

#[test]
fn same_second_repeats_survive_dedup_and_double_writes_and_rerun_blocks_do_not() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    gen(
        &store,
        &[
            "--format",
            "v3-json,v3-pb,v2-json,v2-pb",
            "--records",
            "300",
        ],
    );
    // Live-like data: same-second repeats everywhere, no duplicate.
    let r = validate(&store, &["--strict"]);
    assert_eq!((r.code, r.findings().len()), (0, 0), "{:?}", r.findings());
    let repeats: u64 = r
        .of_type("stream")
        .iter()
        .map(|s| s["repeats"].as_u64().unwrap())
        .sum();
    assert!(repeats > 100, "{repeats} same-second repeats");
    let before = data(&store);
    let (code, lines) = repair(&store, &["--apply", "--dedup", "--include-active"]);
    assert_eq!(
        (code, lines_of(&lines, "repair").len()),
        (0, 0),
        "{lines:?}"
    );
    assert_eq!(data(&store), before, "every repeat kept, byte for byte");

    // A double write (same st) and a converter re-run (the first 10 records
    // again, with the conversion time as st), in a v3 JSON and a v3 pb file.
    for (format, rel) in [
        (
            Format::V3Json,
            "v3/json/2025/08/01/01/265598_last_1754010000.jsonl",
        ),
        (
            Format::V3Pb,
            "v3/protobuf/2025/08/01/01/265598_last_1754010000.pb",
        ),
    ] {
        let path = store.join(rel);
        let orig = fs::read(&path).unwrap();
        let recs = records(format, &orig);
        let (k_off, k_len, _) = recs[40];
        let mut b = orig[..(k_off + k_len) as usize].to_vec();
        let double_at = b.len() as u64;
        b.extend_from_slice(&orig[k_off as usize..(k_off + k_len) as usize]);
        b.extend_from_slice(&orig[(k_off + k_len) as usize..]);
        let block_at = b.len() as u64;
        let rerun: Vec<Tick> = recs[..10]
            .iter()
            .map(|r| Tick {
                st: 1_754_200_000_000_000 + r.2.st % 1_000_000,
                ..r.2
            })
            .collect();
        b.extend_from_slice(&encode(format, &rerun));
        fs::write(&path, &b).unwrap();
        let r = validate(&store, &[]);
        let dups = r.kind("duplicate");
        let dup = dups.iter().find(|f| f["file"] == rel).unwrap();
        assert_eq!(
            (dup["offset"].as_u64(), dup["count"].as_u64()),
            (Some(double_at), Some(11)),
            "{format}"
        );
        let (code, lines) = repair(&store, &["--apply", "--dedup", "--include-active"]);
        assert_eq!(code, 0, "{format}: {lines:?}");
        let l = lines_of(&lines, "repair");
        assert_eq!(l.len(), 1, "{format}");
        let cuts = l[0]["cuts"].as_array().unwrap();
        assert_eq!(cuts.len(), 11, "{format}");
        assert_eq!(
            (cuts[0]["offset"].as_u64(), cuts[0]["len"].as_u64()),
            (Some(double_at), Some(k_len))
        );
        assert_eq!(cuts[1]["offset"].as_u64(), Some(block_at));
        assert!(cuts.iter().all(|c| c["kind"] == "duplicate"));
        assert!(l[0]["repeats_kept"].as_u64().unwrap() > 0);
        assert_eq!(
            fs::read(&path).unwrap(),
            orig,
            "{format}: exactly the copies removed"
        );
        let (code, _) = repair(&store, &["--undo", &run_id(&lines)]);
        assert_eq!(code, 0);
        assert_eq!(fs::read(&path).unwrap(), b, "{format}: undo restores them");
        fs::write(&path, &orig).unwrap();
    }
}

/// Writes lines (each without its newline) and returns their offsets.
fn write_lines(path: &Path, lines: &[String]) -> Vec<u64> {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut out = Vec::new();
    let mut offs = Vec::new();
    for l in lines {
        offs.push(out.len() as u64);
        out.extend_from_slice(l.as_bytes());
        out.push(b'\n');
    }
    fs::write(path, out).unwrap();
    offs
}

#[test]
fn every_record_the_recorders_readers_skip_is_a_finding_and_quarantined() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    // v2 JSON (spec §11: JSON error, missing timestamp, bad ISO, not a tick).
    let meta = r#""metadata":{"source":"stream_manager","request_id":"60001","contract_id":"7","tick_type":"last"}"#;
    let data = r#""data":{"type":"time_sales","tick_type":"Last","unix_time":1754010005,"price":1.5,"size":2.0}"#;
    let good = format!(
        r#"{{"type":"tick","stream_id":"bg_7_last","timestamp":"2025-08-01T01:00:05.5+00:00",{data},{meta}}}"#
    );
    let v2 = "v2/json/2025/08/01/01/bg_7_last.jsonl";
    let v2_lines = vec![
        good.clone(),
        format!(r#"{{"type":"tick","stream_id":"bg_7_last",{data},{meta}}}"#),
        format!(
            r#"{{"type":"tick","stream_id":"bg_7_last","timestamp":"01/08/2025 01:00:06",{data},{meta}}}"#
        ),
        format!(
            r#"{{"type":"tick","stream_id":"bg_7_last","timestamp":1754010006,{data},{meta}}}"#
        ),
        format!(
            r#"{{"type":"info","stream_id":"bg_7_last","timestamp":"2025-08-01T01:00:07+00:00","data":{{}},{meta}}}"#
        ),
        good.replace("05.5", "08.5"),
    ];
    let v2_offs = write_lines(&store.join(v2), &v2_lines);
    // v3 JSON (KeyError, TypeError, JSONDecodeError).
    let rec = |ts: i64| {
        format!(
            r#"{{"ts":{ts},"st":{},"cid":7,"tt":"last","rid":1,"p":1.5,"s":2.0}}"#,
            ts + 300
        )
    };
    let v3 = "v3/json/2025/08/01/01/7_last_1754010000.jsonl";
    let v3_lines = vec![
        rec(1_754_010_001_000_000),
        rec(1_754_010_002_000_000).replace(r#","rid":1"#, ""),
        rec(1_754_010_003_000_000).replace(r#""cid":7"#, r#""cid":"7""#),
        r#"{"ts":1754010004000000,"st":"#.to_owned(),
        rec(1_754_010_005_000_000),
    ];
    let v3_offs = write_lines(&store.join(v3), &v3_lines);
    // v3 protobuf (a frame that does not parse, a record without tt) and v2
    // protobuf (a frame that does not parse: its reader stops there; no
    // envelope time; a non-tick message).
    let t = Tick {
        ts: 1_754_010_001_000_000,
        st: 1_754_010_001_000_300,
        cid: 7,
        tt: ibstore::TickType::Last,
        rid: 1,
        p: Some(1.5),
        s: Some(2.0),
        ..Tick::default()
    };
    let later = |s: i64| Tick {
        ts: t.ts + s * 1_000_000,
        st: t.st + s * 1_000_000,
        ..t
    };
    let frame = |order_be: bool, body: &[u8]| {
        let mut f = if order_be {
            (body.len() as u32).to_be_bytes().to_vec()
        } else {
            (body.len() as u32).to_le_bytes().to_vec()
        };
        f.extend_from_slice(body);
        f
    };
    let v3pb = "v3/protobuf/2025/08/01/01/7_last_1754010000.pb";
    let mut b = encode(Format::V3Pb, &[t]);
    let v3pb_bad = b.len() as u64;
    b.extend(frame(true, &[0x0f, 0xff, 0xff]));
    let v3pb_no_tt = b.len() as u64;
    b.extend(frame(true, &[0x08, 0x01, 0x10, 0x01, 0x18, 0x07]));
    b.extend(encode(
        Format::V3Pb,
        &[later(2), later(3), later(4), later(5)],
    ));
    fs::create_dir_all(store.join(v3pb).parent().unwrap()).unwrap();
    fs::write(store.join(v3pb), &b).unwrap();
    let v2pb = "v2/protobuf/2025/08/01/01/bg_7_last.pb";
    let mut b = encode(Format::V2Pb, &[t]);
    let v2pb_bad = b.len() as u64;
    b.extend(frame(false, &[0x0f, 0xff, 0xff]));
    let v2pb_no_time = b.len() as u64;
    // type "tick", stream id, no timestamp, tick data.
    b.extend(frame(
        false,
        b"\x0a\x04tick\x12\x09bg_7_last\x22\x02\x08\x07",
    ));
    let v2pb_info = b.len() as u64;
    b.extend(frame(false, b"\x0a\x04info\x12\x09bg_7_last"));
    b.extend(encode(
        Format::V2Pb,
        &[later(2), later(3), later(4), later(5)],
    ));
    fs::create_dir_all(store.join(v2pb).parent().unwrap()).unwrap();
    fs::write(store.join(v2pb), &b).unwrap();

    let r = validate(&store, &[]);
    let at = |kind: &str, file: &str| -> Vec<(u64, String)> {
        r.kind(kind)
            .iter()
            .filter(|f| f["file"] == file)
            .map(|f| {
                (
                    f["offset"].as_u64().unwrap(),
                    f["severity"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let e = |o: u64| vec![(o, "error".to_owned())];
    let w = |o: u64| vec![(o, "warning".to_owned())];
    assert_eq!(at("missing_field", v2), e(v2_offs[1]), "no timestamp");
    assert_eq!(
        at("invalid_value", v2),
        e(v2_offs[2]),
        "unparseable timestamp"
    );
    assert_eq!(
        at("wrong_type", v2),
        e(v2_offs[3]),
        "timestamp not a string"
    );
    assert_eq!(at("not_tick_record", v2), w(v2_offs[4]), "type info");
    assert_eq!(at("missing_field", v3), e(v3_offs[1]), "KeyError");
    assert_eq!(at("wrong_type", v3), e(v3_offs[2]), "TypeError");
    assert_eq!(at("invalid_json", v3), e(v3_offs[3]), "JSONDecodeError");
    assert_eq!(at("invalid_protobuf", v3pb), e(v3pb_bad));
    assert_eq!(at("missing_field", v3pb), e(v3pb_no_tt), "empty tt");
    assert_eq!(at("invalid_protobuf", v2pb), e(v2pb_bad));
    assert!(r.kind("invalid_protobuf").iter().any(|f| f["file"] == v2pb
        && f["message"]
            .as_str()
            .unwrap()
            .contains("the recorder's v2 protobuf reader stops at this frame")));
    assert_eq!(
        at("missing_field", v2pb),
        e(v2pb_no_time),
        "no envelope time"
    );
    assert_eq!(at("not_tick_record", v2pb), w(v2pb_info), "type info");

    // Repair quarantines exactly those records.
    let (code, lines) = repair(&store, &["--apply", "--include-active"]);
    assert_eq!(code, 0, "{lines:?}");
    let cuts = |file: &str| -> Vec<u64> {
        lines_of(&lines, "repair")
            .iter()
            .find(|l| l["file"] == file)
            .unwrap()["cuts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["offset"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(cuts(v2), v2_offs[1..5].to_vec());
    assert_eq!(cuts(v3), v3_offs[1..4].to_vec());
    assert_eq!(cuts(v3pb), [v3pb_bad, v3pb_no_tt]);
    assert_eq!(cuts(v2pb), [v2pb_bad, v2pb_no_time, v2pb_info]);
    let run = run_id(&lines);
    let q = store.join(".ibstore/quarantine").join(&run);
    assert_eq!(
        fs::read(q.join(format!("{v2}.{}", v2_offs[1]))).unwrap(),
        format!("{}\n", v2_lines[1]).into_bytes()
    );
    let v = validate(&store, &[]);
    assert!(v.errors().is_empty(), "{:?}", v.errors());
}

#[test]
fn sort_restores_records_swapped_inside_same_second_runs() {
    for format in ["v3-pb", "v3-json"] {
        let d = tempdir().unwrap();
        let store = d.path().join("s");
        gen(&store, &["--format", format, "--records", "400"]);
        let fmt = Format::from_name(format).unwrap();
        let rel = if fmt.is_json() {
            "v3/json/2025/08/01/01/711280073_bid_ask_1754010000.jsonl"
        } else {
            "v3/protobuf/2025/08/01/01/711280073_bid_ask_1754010000.pb"
        };
        let path = store.join(rel);
        let orig = fs::read(&path).unwrap();
        let recs = records(fmt, &orig);
        // Reverse every run of equal ts (the recorder's order is (ts, st)).
        let mut out = Vec::new();
        let mut runs = 0;
        for run in recs.chunk_by(|a, b| a.2.ts == b.2.ts) {
            runs += usize::from(run.len() > 1);
            for (o, l, _) in run.iter().rev() {
                out.extend_from_slice(&orig[*o as usize..(*o + *l) as usize]);
            }
        }
        assert!(runs > 50, "{runs} runs of one second");
        assert_ne!(out, orig);
        fs::write(&path, &out).unwrap();
        // Equal ts: nothing is out of order for validate ...
        let v = validate(&store, &["--strict"]);
        assert_eq!(v.findings().len(), 0, "{:?}", v.findings());
        // ... but --sort restores the arrival order, byte for byte.
        let (code, lines) = repair(&store, &["--apply", "--sort", "--include-active"]);
        assert_eq!(code, 0, "{lines:?}");
        assert_eq!(lines_of(&lines, "repair").len(), 1);
        assert_eq!(fs::read(&path).unwrap(), orig, "{format}");
    }
}

#[test]
fn relocate_moves_a_v2_spillover_record_into_its_hour_and_undo_moves_it_back() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    gen(
        &store,
        &[
            "--format",
            "v2-json",
            "--contracts",
            "1",
            "--tick-types",
            "last",
        ],
    );
    let h0 = store.join("v2/json/2025/08/01/00/bg_711280073_last.jsonl");
    let h1 = store.join("v2/json/2025/08/01/01/bg_711280073_last.jsonl");
    let before = data(&store);
    // Written at 00:59:59.95 by the envelope clock, flushed into hour 01.
    let spill = r#"{"type":"tick","stream_id":"bg_711280073_last","timestamp":"2025-08-01T00:59:59.950000+00:00","data":{"type":"time_sales","tick_type":"Last","timestamp":"2025-07-31 19:59:59","unix_time":1754009999,"price":23261.0,"size":3.0,"exchange":"","conditions":"","past_limit":false,"unreported":false},"metadata":{"source":"stream_manager","request_id":"60000","contract_id":"711280073","tick_type":"last"}}"#;
    let mut b = spill.as_bytes().to_vec();
    b.push(b'\n');
    let h1_orig = fs::read(&h1).unwrap();
    b.extend_from_slice(&h1_orig);
    fs::write(&h1, &b).unwrap();
    let with_spill = data(&store);
    let v = validate(&store, &[]);
    assert_eq!(v.kind("v2_spillover").len(), 1);
    assert_eq!(v.kind("v2_spillover")[0]["offset"], 0);
    // A warning for validate, not repaired by default ...
    let (code, lines) = repair(&store, &["--apply", "--include-active"]);
    assert_eq!((code, lines_of(&lines, "repair").len()), (0, 0));
    // ... but --relocate puts every record in its own hour.
    let (code, lines) = repair(&store, &["--apply", "--relocate", "--include-active"]);
    assert_eq!(code, 0, "{lines:?}");
    let l = lines_of(&lines, "repair");
    assert_eq!(l.len(), 1);
    assert_eq!(
        l[0]["moved"],
        serde_json::json!([[0, "v2/json/2025/08/01/00/bg_711280073_last.jsonl"]])
    );
    assert_eq!(fs::read(&h1).unwrap(), h1_orig);
    let h0_now = fs::read(&h0).unwrap();
    assert!(h0_now.ends_with(format!("{spill}\n").as_bytes()));
    assert_eq!(
        h0_now.len(),
        before.iter().find(|(p, _)| p == &h0).unwrap().1.len() + spill.len() + 1
    );
    assert!(validate(&store, &["--strict"]).findings().is_empty());
    let (code, _) = repair(&store, &["--undo", &run_id(&lines)]);
    assert_eq!(code, 0);
    assert_eq!(data(&store), with_spill);
}

#[test]
fn jobs_far_beyond_the_cores_are_capped_with_a_note() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/store");
    let started = std::time::Instant::now();
    let out = ibstore()
        .args(["validate", "--jobs", "100000", "--path"])
        .arg(&fixture)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--jobs 100000 is more than 4 per core on this machine; using "),
        "{err}"
    );
    // Not a timing assertion on the work: 100,000 threads would take minutes.
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}
