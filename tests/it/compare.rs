//! `ibstore compare` through the binary: clean format pairs, exact reports
//! of edits (with `--details` offsets), a property test with random edits
//! across format pairs, allowances, the real samples, and bad input.

use crate::common;

use common::*;
use proptest::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Runs `compare --json`: (exit code, JSON lines, stderr).
fn compare(old: &Path, new: &Path, args: &[&str]) -> (i32, Vec<Value>, String) {
    let out = ibstore()
        .args(["compare", "--json", "--old"])
        .arg(old)
        .arg("--new")
        .arg(new)
        .args(args)
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if code == 2 {
        assert!(out.stdout.is_empty(), "exit 2 prints no report");
        return (code, Vec::new(), stderr);
    }
    let lines = json_lines(&out.stdout);
    assert_eq!(lines[0]["type"], "begin");
    assert_eq!(lines.last().unwrap()["type"], "summary");
    assert_eq!(lines.last().unwrap()["exit_code"], code);
    (code, lines, stderr)
}

fn of_type<'a>(lines: &'a [Value], t: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["type"] == t).collect()
}

const GEN: [&str; 6] = ["--records", "50", "--ts-resolution", "us", "--hours", "3"];

/// Pristine stores, generated once: the same ticks in several formats.
struct Stores {
    _dir: tempfile::TempDir,
    v2_json: PathBuf,
    v2_pb: PathBuf,
    v3_json: PathBuf,
    v3_pb: PathBuf,
    v3_zst: PathBuf,
}

fn stores() -> &'static Stores {
    static S: OnceLock<Stores> = OnceLock::new();
    S.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mk = |name: &str, extra: &[&str]| {
            let p = dir.path().join(name);
            let mut a: Vec<&str> = GEN.to_vec();
            a.extend_from_slice(extra);
            gen(&p, &a);
            p
        };
        Stores {
            v2_json: mk("v2json", &["--format", "v2-json"]),
            v2_pb: mk("v2pb", &["--format", "v2-pb"]),
            v3_json: mk("v3json", &["--format", "v3-json"]),
            v3_pb: mk("v3pb", &["--format", "v3-pb"]),
            v3_zst: mk("v3zst", &["--format", "v3-json", "--zstd"]),
            _dir: dir,
        }
    })
}

fn summary(lines: &[Value]) -> &Value {
    lines.last().unwrap()
}

#[test]
fn the_same_ticks_in_any_two_formats_compare_clean() {
    let s = stores();
    for (old, new) in [
        (&s.v2_json, &s.v3_pb),
        (&s.v3_json, &s.v3_pb),
        (&s.v3_zst, &s.v3_pb),
        (&s.v2_pb, &s.v3_json),
        (&s.v3_pb, &s.v2_json),
    ] {
        let (code, lines, _) = compare(old, new, &[]);
        assert_eq!(code, 0, "{old:?} vs {new:?}: {lines:?}");
        let sm = summary(&lines);
        assert_eq!(sm["old"]["records"], 600);
        assert_eq!(sm["new"]["records"], 600);
        assert_eq!(sm["hours"], 12);
        for k in [
            "lost",
            "extra",
            "changed",
            "missing_hours",
            "differing_hours",
            "moved_hours",
            "damaged_hours",
            "new_gaps",
        ] {
            assert_eq!(sm[k], 0, "{k}");
        }
        assert!(of_type(&lines, "compare_hour").is_empty());
        let streams = of_type(&lines, "compare_stream");
        assert_eq!(streams.len(), 4);
        assert!(streams
            .iter()
            .all(|l| l["status"] == "same" && l["old_records"] == 150));
    }
    // v2 protobuf on the new side loses the IB time of every record: a loss
    // unless allowed, and then printed as allowed.
    let (code, lines, _) = compare(&s.v3_json, &s.v2_pb, &[]);
    assert_eq!(code, 1);
    let sm = summary(&lines);
    assert_eq!(sm["lost"], 0);
    assert_eq!(sm["not_compared"], serde_json::json!(["ts", "past_limit"]));
    assert_eq!(
        sm["allowances"],
        serde_json::json!([{"kind":"no-ib-time","what":"v2 protobuf holds no IB event time (ts)","records":600,"allowed":false}])
    );
    let (code, lines, _) = compare(&s.v3_json, &s.v2_pb, &["--allow", "no-ib-time"]);
    assert_eq!(code, 0);
    assert_eq!(summary(&lines)["allowances"][0]["allowed"], true);
    let out = ibstore()
        .args(["validate-migration", "--allow", "no-ib-time", "--old"])
        .arg(&s.v3_json)
        .arg("--new")
        .arg(&s.v2_pb)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(
            "  allowed no-ib-time: v2 protobuf holds no IB event time (ts) (600 old records)\n"
        ),
        "{text}"
    );
    assert!(text.contains("verdict: nothing lost or changed\n"));
}

/// Byte offsets of the records of a data file (decompressed for `.zst`).
fn offsets(path: &Path) -> Vec<u64> {
    let raw = std::fs::read(path).unwrap();
    let name = path.to_string_lossy();
    let bytes = if name.ends_with(".zst") {
        zstd::decode_all(&raw[..]).unwrap()
    } else {
        raw
    };
    let mut out = Vec::new();
    let mut at = 0usize;
    if name.contains(".jsonl") {
        for l in bytes.split_inclusive(|&b| b == b'\n') {
            out.push(at as u64);
            at += l.len();
        }
    } else {
        let le = name.contains("/v2/");
        while at + 4 <= bytes.len() {
            let p: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
            let n = if le {
                u32::from_le_bytes(p)
            } else {
                u32::from_be_bytes(p)
            } as usize;
            out.push(at as u64);
            at += 4 + n;
        }
    }
    out
}

#[derive(Debug, Clone, Copy)]
enum Edit {
    Keep,
    Remove(usize),
    Add(usize),
    Change(usize),
    Move(usize),
    DeleteHour,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        2 => Just(Edit::Keep),
        1 => (0..50usize).prop_map(Edit::Remove),
        1 => (0..50usize).prop_map(Edit::Add),
        1 => (0..50usize).prop_map(Edit::Change),
        1 => (0..50usize).prop_map(Edit::Move),
        1 => Just(Edit::DeleteHour),
    ]
}

/// The v3 JSON files of a store: (cid, tt, hour, path), sorted.
fn v3_files(store: &Path) -> Vec<(i64, String, i64, PathBuf)> {
    let mut v: Vec<_> = data(store)
        .into_iter()
        .map(|(p, _)| {
            let stem = p
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .trim_end_matches(".jsonl")
                .to_owned();
            let (cid, rest) = stem.split_once('_').unwrap();
            let (tt, hour) = rest.rsplit_once('_').unwrap();
            (
                cid.parse().unwrap(),
                tt.to_owned(),
                hour.parse().unwrap(),
                p,
            )
        })
        .collect();
    v.sort();
    v
}

/// The old side's file for a stream-hour, as gen names it.
fn old_rel(old: &Path, cid: i64, tt: &str, hour: i64) -> String {
    let part = {
        let secs = hour;
        let days = secs.div_euclid(86400);
        // 2025-08-01 is day 20301 since the epoch.
        let day = days - 20301 + 1;
        format!("2025/08/{day:02}/{:02}", secs.rem_euclid(86400) / 3600)
    };
    let name = old.file_name().unwrap().to_str().unwrap();
    match name {
        "v2json" => format!("v2/json/{part}/bg_{cid}_{tt}.jsonl"),
        "v2pb" => format!("v2/protobuf/{part}/bg_{cid}_{tt}.pb"),
        "v3pb" => format!("v3/protobuf/{part}/{cid}_{tt}_{hour}.pb"),
        "v3zst" => format!("v3/json/{part}/{cid}_{tt}_{hour}.jsonl.zst"),
        _ => format!("v3/json/{part}/{cid}_{tt}_{hour}.jsonl"),
    }
}

/// Applies edits to a copy of the v3 JSON store; returns the expected
/// `compare_hour` lines (without file lists) keyed by stream-hour, given
/// the old store the copy is compared against.
fn apply(new: &Path, edits: &[Edit], old: &Path) -> BTreeMap<(i64, String, i64), Value> {
    let mut want = BTreeMap::new();
    for ((cid, tt, hour, path), e) in v3_files(new).into_iter().zip(edits) {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<String> = text.lines().map(|l| format!("{l}\n")).collect();
        let rel = path.strip_prefix(new).unwrap().to_str().unwrap().to_owned();
        let orel = old_rel(old, cid, &tt, hour);
        let ooff = offsets(&old.join(&orel));
        let ts_of = |l: &str| {
            serde_json::from_str::<Value>(l).unwrap()["ts"]
                .as_i64()
                .unwrap()
        };
        let place = |file: &str, off: u64, k: usize| serde_json::json!({"file": file, "offset": off, "record": k + 1});
        let hour_line = |status: &str,
                         new_records: u64,
                         lost: u64,
                         extra: u64,
                         changed: u64,
                         details: Value| {
            serde_json::json!({"status": status, "old_records": 50, "new_records": new_records,
                "lost": lost, "extra": extra, "changed": changed, "new_gaps": 0, "details": details})
        };
        let line = match *e {
            Edit::Keep => None,
            Edit::Remove(k) => {
                let ts = ts_of(&lines[k]);
                lines.remove(k);
                Some(hour_line(
                    "differs",
                    49,
                    1,
                    0,
                    0,
                    serde_json::json!([
                    {"change": "lost", "ts": ts, "old": place(&orel, ooff[k], k), "new": null}]),
                ))
            }
            Edit::Add(k) => {
                let mut r: Value = serde_json::from_str(&lines[k]).unwrap();
                let ts = r["ts"].as_i64().unwrap() + 1;
                r["ts"] = ts.into();
                r["st"] = (r["st"].as_i64().unwrap() + 1).into();
                let at: u64 = lines[..=k].iter().map(|l| l.len() as u64).sum();
                lines.insert(k + 1, format!("{r}\n"));
                Some(hour_line(
                    "differs",
                    51,
                    0,
                    1,
                    0,
                    serde_json::json!([
                    {"change": "extra", "ts": ts, "old": null, "new": place(&rel, at, k + 1)}]),
                ))
            }
            Edit::Change(k) => {
                let mut r: Value = serde_json::from_str(&lines[k]).unwrap();
                r["rid"] = (r["rid"].as_i64().unwrap() + 1).into();
                let at: u64 = lines[..k].iter().map(|l| l.len() as u64).sum();
                lines[k] = format!("{r}\n");
                Some(hour_line(
                    "differs",
                    50,
                    0,
                    0,
                    1,
                    serde_json::json!([
                    {"change": "changed", "ts": r["ts"], "old": place(&orel, ooff[k], k),
                     "new": place(&rel, at, k), "fields": ["rid"]}]),
                ))
            }
            Edit::Move(k) => {
                let moved = lines.remove(k);
                let dest = path.with_file_name(format!("{cid}_{tt}_{}.jsonl", hour + 1));
                std::fs::write(dest, moved).unwrap();
                Some(hour_line("moved", 50, 0, 0, 0, Value::Null))
            }
            Edit::DeleteHour => {
                std::fs::remove_file(&path).unwrap();
                let lost: Vec<Value> = (0..3)
                    .map(|k| serde_json::json!({"change": "lost", "ts": ts_of(&lines[k]), "old": place(&orel, ooff[k], k), "new": null}))
                    .collect();
                want.insert(
                    (cid, tt.clone(), hour),
                    hour_line("missing", 0, 50, 0, 0, Value::Array(lost)),
                );
                continue;
            }
        };
        if !matches!(e, Edit::DeleteHour) {
            std::fs::write(&path, lines.concat()).unwrap();
        }
        if let Some(l) = line {
            want.insert((cid, tt, hour), l);
        }
    }
    want
}

/// The `compare_hour` lines, reduced to what [`apply`] predicts.
fn got_hours(lines: &[Value]) -> BTreeMap<(i64, String, i64), Value> {
    of_type(lines, "compare_hour")
        .into_iter()
        .map(|l| {
            let key = (
                l["contract_id"].as_i64().unwrap(),
                l["tick_type"].as_str().unwrap().to_owned(),
                l["hour"].as_i64().unwrap(),
            );
            let mut v = serde_json::Map::new();
            for k in [
                "status",
                "old_records",
                "new_records",
                "lost",
                "extra",
                "changed",
                "new_gaps",
                "details",
            ] {
                v.insert(k.into(), l[k].clone());
            }
            (key, Value::Object(v))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]
    #[test]
    fn compare_finds_exactly_the_edits(edits in proptest::collection::vec(edit(), 12)) {
        let s = stores();
        for old in [&s.v2_json, &s.v3_pb, &s.v3_zst] {
            let dir = tempfile::tempdir().unwrap();
            let new = dir.path().join("new");
            copy_store(&s.v3_json, &new);
            let want = apply(&new, &edits, old);
            let (code, lines, err) = compare(old, &new, &["--details", "3"]);
            prop_assert!(code != 2, "{}", err);
            let got = got_hours(&lines);
            prop_assert_eq!(&got, &want, "old {:?}, edits {:?}", old, edits);
            let loses = edits.iter().any(|e| matches!(e, Edit::Remove(_) | Edit::Change(_) | Edit::DeleteHour));
            prop_assert_eq!(code, i32::from(loses));
            prop_assert!(of_type(&lines, "finding").is_empty());
        }
    }
}

#[test]
fn a_run_of_lost_records_is_a_new_gap_and_the_text_report_says_where() {
    let s = stores();
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("new");
    copy_store(&s.v3_json, &new);
    let (cid, tt, hour, path) = v3_files(&new).remove(1);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let kept: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !(20..30).contains(i))
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    std::fs::write(&path, kept).unwrap();
    let (code, out, _) = compare(&s.v3_pb, &new, &[]);
    assert_eq!(code, 1);
    let h = of_type(&out, "compare_hour");
    assert_eq!(h.len(), 1);
    assert_eq!(
        (
            h[0]["contract_id"].as_i64(),
            h[0]["tick_type"].as_str(),
            h[0]["hour"].as_i64()
        ),
        (Some(cid), Some(tt.as_str()), Some(hour))
    );
    assert_eq!(
        (&h[0]["lost"], &h[0]["new_gaps"], &h[0]["status"]),
        (&Value::from(10), &Value::from(1), &Value::from("differs"))
    );
    let st = of_type(&out, "compare_stream");
    let st: Vec<_> = st.iter().filter(|l| l["status"] != "same").collect();
    assert_eq!(st.len(), 1);
    assert_eq!(st[0]["lost"], 10);
    assert_eq!(st[0]["differing_hours"], 1);

    let out = ibstore()
        .args(["compare", "--details", "1", "--old"])
        .arg(&s.v3_pb)
        .arg("--new")
        .arg(&new)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let orel = old_rel(&s.v3_pb, cid, &tt, hour);
    let off = offsets(&s.v3_pb.join(&orel))[20];
    let ts: i64 = serde_json::from_str::<Value>(lines[20]).unwrap()["ts"]
        .as_i64()
        .unwrap();
    let part = &orel["v3/protobuf/".len()..orel.rfind('/').unwrap()];
    assert!(text.contains("12 stream-hours: 0 missing, 0 added, 1 differing, 0 moved, 0 damaged\nrecords: 10 lost, 0 extra, 0 changed; 1 new gaps\n"), "{text}");
    let want = format!("\nhours:\n  {cid}_{tt} {part} differs: old 50, new 40, lost 10, extra 0, changed 0, new gaps 1\n    lost ts={ts} old {orel} @{off} #21\n");
    assert!(text.contains(&want), "{text}\nwant {want}");
}

#[test]
fn a_damaged_file_marks_its_hour_damaged_with_offsets() {
    let s = stores();
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("new");
    copy_store(&s.v3_json, &new);
    let (cid, tt, hour, path) = v3_files(&new).remove(0);
    let len = std::fs::metadata(&path).unwrap().len();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"ts\":17").unwrap();
    let rel = path
        .strip_prefix(&new)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    for (a, b) in [
        (s.v3_pb.as_path(), new.as_path()),
        (new.as_path(), s.v3_pb.as_path()),
    ] {
        let (code, out, _) = compare(a, b, &[]);
        assert_eq!(code, 1);
        let side = if a == s.v3_pb.as_path() { "new" } else { "old" };
        let f = of_type(&out, "finding");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0]["kind"], "truncated_tail");
        assert_eq!(f[0]["file"], format!("{side}:{rel}"));
        assert_eq!(f[0]["offset"], len);
        assert_eq!(f[0]["len"], 8);
        let h = of_type(&out, "compare_hour");
        assert_eq!(h.len(), 1);
        assert_eq!(
            (
                h[0]["contract_id"].as_i64(),
                h[0]["tick_type"].as_str(),
                h[0]["hour"].as_i64()
            ),
            (Some(cid), Some(tt.as_str()), Some(hour))
        );
        assert_eq!(h[0]["status"], "damaged");
        let sm = summary(&out);
        assert_eq!(
            (&sm["damaged_hours"], &sm["lost"], &sm["errors"]),
            (&Value::from(1), &Value::from(0), &Value::from(1))
        );
    }
}

#[test]
fn mixed_formats_are_refused_unless_one_is_picked() {
    let dir = tempfile::tempdir().unwrap();
    let both = dir.path().join("both");
    gen(&both, &["--records", "20", "--format", "v2-json,v2-pb"]);
    let s = stores();
    let (code, _, err) = compare(&both, &s.v3_pb, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("the old store holds several formats side by side: v2-json (12 files), v2-pb (12 files); pick one with --old-format"), "{err}");
    let (code, lines, _) = compare(&both, &s.v3_pb, &["--old-format", "v3-pb"]);
    assert_eq!(code, 2, "{lines:?}");
    // Picked: compared (other ticks than the stores above, so streams
    // differ in every hour but are in common).
    let (code, lines, err) = compare(&both, &s.v3_pb, &["--old-format", "v2-pb"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(summary(&lines)["old"]["format"], "v2-pb");
    assert_eq!(summary(&lines)["old"]["files"], 12);
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let s = stores();
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let missing = dir.path().join("nope");
    let cases: Vec<(PathBuf, PathBuf, &str)> = vec![
        (
            missing.clone(),
            s.v3_pb.clone(),
            "nope: no such file or folder",
        ),
        (
            s.v3_pb.clone(),
            missing.clone(),
            "nope: no such file or folder",
        ),
        (
            empty.clone(),
            s.v3_pb.clone(),
            "the old store holds no data files in a v2 or v3 layout",
        ),
        (
            s.v3_pb.clone(),
            empty.clone(),
            "the new store holds no data files in a v2 or v3 layout",
        ),
        (s.v3_pb.clone(), s.v3_pb.clone(), "are the same folder"),
        (
            s.v3_pb.clone(),
            s.v3_pb.join("v3"),
            "one store is inside the other",
        ),
        (
            s.v3_pb.join("v3/protobuf"),
            s.v3_pb.clone(),
            "one store is inside the other",
        ),
    ];
    for (old, new, msg) in cases {
        let (code, _, err) = compare(&old, &new, &[]);
        assert_eq!(code, 2, "{old:?} {new:?}");
        assert!(err.contains(msg), "{err} lacks {msg}");
        assert!(!err.contains("panicked"));
    }
    // The page is never written into a store.
    let out = ibstore()
        .args(["compare", "--old"])
        .arg(&s.v3_pb)
        .arg("--new")
        .arg(&s.v3_json)
        .arg("--html")
        .arg(s.v3_json.join("v3/report.html"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("compare never writes into a store"));
    assert!(!s.v3_json.join("v3/report.html").exists());
    // No stream in common.
    let other = dir.path().join("other");
    gen(
        &other,
        &["--records", "20", "--format", "v3-pb", "--contracts", "4"],
    );
    let only = dir.path().join("only");
    std::fs::create_dir_all(only.join("v3/protobuf/2025/08/01/00")).unwrap();
    let src = other.join("v3/protobuf/2025/08/01/00/637533641_last_1754006400.pb");
    std::fs::copy(
        &src,
        only.join("v3/protobuf/2025/08/01/00/637533641_last_1754006400.pb"),
    )
    .unwrap();
    let (code, _, err) = compare(&s.v3_pb, &only, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("the stores have no stream in common: old holds 265598_bid_ask, 265598_last, 711280073_bid_ask, 711280073_last; new holds 637533641_last"), "{err}");
}

#[test]
fn the_recorders_v2_samples_compare_as_the_spec_predicts() {
    let Some(real) = real_fixtures() else { return };
    // The test script wrote the same 50 messages as v2 JSON and v2
    // protobuf (spec §14): without unix_time the JSON's ts is the envelope
    // time, so the protobuf loses nothing and both hold the same ticks.
    let (code, lines, err) = compare(
        &real.join("ib-stream/test_storage/json"),
        &real.join("ib-stream/test_storage/protobuf"),
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let sm = summary(&lines);
    assert_eq!(
        (&sm["old"]["records"], &sm["new"]["records"], &sm["hours"]),
        (&Value::from(50), &Value::from(50), &Value::from(3))
    );
    assert_eq!(sm["allowances"][0]["kind"], "no-ib-time");
    assert_eq!(sm["allowances"][0]["records"], 0);
    // The v3 test samples (v3 records under a v2-era `{root}/json`) are
    // read as v3, by their content; the two sample sets are different
    // ticks of one contract.
    let (code, lines, _) = compare(
        &real.join("test_storage_v3"),
        &real.join("test_storage_multi"),
        &[],
    );
    assert_eq!(code, 1);
    let sm = summary(&lines);
    assert_eq!(
        (&sm["old"]["format"], &sm["new"]["format"]),
        (&Value::from("v3-json"), &Value::from("v3-json"))
    );
    assert_eq!(
        (&sm["lost"], &sm["extra"], &sm["added_hours"]),
        (&Value::from(5), &Value::from(2), &Value::from(1))
    );
}

#[test]
fn html_page_is_self_contained_and_marks_a_lost_hour() {
    let s = stores();
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("new");
    copy_store(&s.v3_json, &new);
    std::fs::remove_file(&v3_files(&new)[2].3).unwrap();
    let page = dir.path().join("report.html");
    let out = ibstore()
        .args(["compare", "--html"])
        .arg(&page)
        .arg("--old")
        .arg(&s.v3_pb)
        .arg("--new")
        .arg(&new)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for banned in ["http:", "https:", "src=", "<script", "@import", "url("] {
        assert!(!html.contains(banned), "page holds {banned}");
    }
    assert_eq!(html.matches("<rect class=\"lost\"").count(), 1);
    assert!(html.contains("fill=\"#d62728\""));
    assert_eq!(html.matches("<tr><td>").count(), 4, "4 streams");
    assert!(html.contains("<p>none needed or given</p>"));
}

#[test]
fn the_recorders_lossy_mappings_are_losses_until_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("old"), dir.path().join("new"));
    let shape = [
        "--records",
        "20",
        "--tick-types",
        "last,mid_point",
        "--contracts",
        "1",
        "--hours",
        "1",
    ];
    gen(&old, &[&shape[..], &["--format", "v2-json"]].concat());
    gen(&new, &[&shape[..], &["--format", "v3-json"]].concat());
    let part = "2025/08/01/00";
    // The old v2 trades carry past_limit on their first 3 records.
    let last = old.join(format!("v2/json/{part}/bg_711280073_last.jsonl"));
    let text = std::fs::read_to_string(&last).unwrap();
    let edited: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let l = if i < 3 {
                l.replacen("\"size\":", "\"past_limit\":true,\"size\":", 1)
            } else {
                l.to_owned()
            };
            format!("{l}\n")
        })
        .collect();
    std::fs::write(&last, edited).unwrap();
    // The converter: st is the conversion time, mid values are gone.
    for (tt, drop_mp) in [("last", false), ("mid_point", true)] {
        let p = new.join(format!("v3/json/{part}/711280073_{tt}_1754006400.jsonl"));
        let text = std::fs::read_to_string(&p).unwrap();
        let mut out = String::new();
        for (i, l) in text.lines().enumerate() {
            let mut r: Value = serde_json::from_str(l).unwrap();
            r["st"] = (1_754_100_000_000_000i64 + i as i64).into();
            if drop_mp {
                r.as_object_mut().unwrap().remove("mp");
            }
            out.push_str(&format!("{r}\n"));
        }
        std::fs::write(&p, out).unwrap();
    }
    let (code, lines, _) = compare(&old, &new, &["--details", "1"]);
    assert_eq!(code, 1);
    let hours = of_type(&lines, "compare_hour");
    let got: Vec<_> = hours
        .iter()
        .map(|h| {
            (
                h["tick_type"].as_str().unwrap(),
                h["changed"].as_u64().unwrap(),
                h["lost"].as_u64().unwrap(),
                h["details"][0]["fields"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("last", 20, 0, serde_json::json!(["st"])),
            ("mid_point", 20, 0, serde_json::json!(["st", "mp"])),
        ]
    );
    assert_eq!(
        summary(&lines)["allowances"],
        serde_json::json!([{"kind":"v3-drops","what":"v3 has no past_limit, exchange or conditions","records":3,"allowed":false}])
    );
    // Allowing the converter's st and mid values leaves the past_limit loss.
    let (code, lines, _) = compare(&old, &new, &["--allow", "st-replaced,mid-value"]);
    assert_eq!(code, 1);
    let sm = summary(&lines);
    assert_eq!(
        (&sm["changed"], &sm["lost"]),
        (&Value::from(0), &Value::from(0))
    );
    assert_eq!(
        sm["not_compared"],
        serde_json::json!(["st", "past_limit", "mp of mid_point"])
    );
    // All three allowed: clean, every allowance printed with its count.
    let (code, lines, _) = compare(
        &old,
        &new,
        &["--allow", "v3-drops", "--allow", "mid-value,st-replaced"],
    );
    assert_eq!(code, 0);
    let kinds: Vec<_> = summary(&lines)["allowances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap().to_owned(),
                a["records"].as_u64().unwrap(),
                a["allowed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("v3-drops".to_owned(), 3, true),
            ("mid-value".to_owned(), 20, true),
            ("st-replaced".to_owned(), 0, true),
        ]
    );
}

/// `--html report.html` (a bare file name, as the README shows) is written
/// in the current folder.
#[test]
fn html_to_a_bare_file_name() {
    let d = tempfile::tempdir().unwrap();
    common::gen(&d.path().join("a"), &["--hours", "1"]);
    common::gen(&d.path().join("b"), &["--hours", "1", "--format", "v3-pb"]);
    let out = common::ibstore()
        .current_dir(d.path())
        .args([
            "compare",
            "--old",
            "a",
            "--new",
            "b",
            "--html",
            "report.html",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(d.path().join("report.html")).unwrap();
    assert!(
        page.starts_with("<!DOCTYPE html>"),
        "{}",
        &page[..40.min(page.len())]
    );
    assert!(!d.path().join("report.html.ibstore-tmp").exists());
}
