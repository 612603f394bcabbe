//! `ibstore convert` through the binary: exact counts, bytes and report
//! lines; round trips; resume and crash safety; bad inputs.

use crate::common;

use common::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use tempfile::tempdir;

/// Runs `ibstore convert --json --from SRC --to DST ARGS…`: (exit code,
/// the `convert` line, findings, stderr).
fn convert(src: &Path, dst: &Path, args: &[&str]) -> (i32, Value, Vec<Value>, String) {
    convert_env(src, dst, args, None)
}

fn convert_env(
    src: &Path,
    dst: &Path,
    args: &[&str],
    crash_at: Option<u64>,
) -> (i32, Value, Vec<Value>, String) {
    let mut c = ibstore();
    c.args(["convert", "--json", "--from"])
        .arg(src)
        .arg("--to")
        .arg(dst)
        .args(args);
    if let Some(k) = crash_at {
        c.env("IBSTORE_CRASH_AT", k.to_string());
    }
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().unwrap_or(-1);
    if code != 0 && code != 1 {
        return (code, Value::Null, Vec::new(), stderr);
    }
    let lines = json_lines(&out.stdout);
    assert_eq!(lines[0]["type"], "begin");
    assert_eq!(lines.last().unwrap()["type"], "summary");
    assert_eq!(lines.last().unwrap()["exit_code"], code);
    let conv = lines
        .iter()
        .find(|l| l["type"] == "convert")
        .unwrap()
        .clone();
    let findings = lines
        .iter()
        .filter(|l| l["type"] == "finding")
        .cloned()
        .collect();
    (code, conv, findings, stderr)
}

/// Data files under `dir` (not `.ibstore`), relative path → bytes.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    data(dir)
        .into_iter()
        .map(|(p, b)| (p.strip_prefix(dir).unwrap().to_path_buf(), b))
        .collect()
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

#[test]
fn v3_json_to_pb_and_back_is_byte_identical_and_verified() {
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(
        &src,
        &[
            "--format",
            "v3-json",
            "--records",
            "25",
            "--tick-types",
            "bid_ask,last,all_last,mid_point",
        ],
    );
    let pb = d.path().join("pb");
    let (code, c, f, _) = convert(&src, &pb, &["--format", "v3-pb"]);
    assert_eq!((code, f.len()), (0, 0), "{f:?}");
    assert_eq!(
        (
            n(&c, "files_read"),
            n(&c, "records_read"),
            n(&c, "records_written"),
            n(&c, "outputs_written"),
            n(&c, "verified_hours"),
            n(&c, "mismatched_hours")
        ),
        (24, 600, 600, 24, 24, 0)
    );
    assert!(pb
        .join("v3/protobuf/2025/08/01/00/265598_bid_ask_1754006400.pb")
        .is_file());
    let back = d.path().join("back");
    let (code, _, _, _) = convert(&pb, &back, &["--format", "v3-json"]);
    assert_eq!(code, 0);
    assert_eq!(tree(&back), tree(&src));
    // The output is a store every command reads.
    assert_eq!(validate(&pb, &[]).errors().len(), 0);
}

#[test]
fn v2_pb_to_v2_json_and_back_is_byte_identical() {
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(&src, &["--format", "v2-pb", "--records", "40"]);
    let js = d.path().join("js");
    let (code, c, _, _) = convert(&src, &js, &["--format", "v2-json"]);
    assert_eq!(code, 0);
    assert_eq!(n(&c, "records_written"), 480);
    assert_eq!(c["corrections"]["envelope_ts"], 480);
    let back = d.path().join("back");
    let (code, _, _, _) = convert(&js, &back, &["--format", "v2-pb"]);
    assert_eq!(code, 0);
    assert_eq!(tree(&back), tree(&src));
}

#[test]
fn v2_json_to_v3_maps_per_spec_and_twice_gives_identical_bytes() {
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(&src, &["--format", "v2-json", "--records", "30"]);
    let a = d.path().join("a");
    let b = d.path().join("b");
    let (code, c, _, _) = convert(&src, &a, &["--format", "v3-json"]);
    assert_eq!(code, 0, "{c}");
    assert_eq!(c["corrections"]["st_from_envelope"], 360);
    let (code, _, _, _) = convert(&src, &b, &["--format", "v3-json"]);
    assert_eq!(code, 0);
    let ta = tree(&a);
    assert_eq!(ta, tree(&b));
    // Every v3 record: st is the v2 envelope time, ts the IB time, sorted.
    let first =
        fs::read_to_string(src.join("v2/json/2025/08/01/00/bg_265598_bid_ask.jsonl")).unwrap();
    let l: Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    let out: Vec<Value> = ta
        .iter()
        .filter(|(p, _)| p.to_string_lossy().contains("265598_bid_ask"))
        .flat_map(|(_, b)| {
            std::str::from_utf8(b)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(out.len(), 90);
    let unix = l["data"]["unix_time"].as_i64().unwrap();
    let want_ts = if unix < 1_000_000_000_000 {
        unix * 1_000_000
    } else {
        unix
    };
    assert!(out
        .iter()
        .any(|r| r["ts"] == want_ts && r["cid"] == 265598 && r["bp"] == l["data"]["bid_price"]));
    for w in out.windows(2) {
        let k = |r: &Value| (r["ts"].as_i64().unwrap(), r["st"].as_i64().unwrap());
        assert!(k(&w[0]) <= k(&w[1]));
    }
}

#[test]
fn real_v3_samples_round_trip_byte_for_byte() {
    let Some(real) = real_fixtures() else { return };
    let d = tempdir().unwrap();
    let src = real.join("test_storage_multi");
    let pb = d.path().join("pb");
    let (code, c, _, _) = convert(&src, &pb, &["--format", "v3-pb"]);
    assert_eq!((code, n(&c, "records_written")), (0, 2));
    let back = d.path().join("back");
    assert_eq!(convert(&pb, &back, &["--format", "v3-json"]).0, 0);
    for (name, out) in [
        (
            "711280073_last_1754010291.jsonl",
            "711280073_last_1754010000.jsonl",
        ),
        (
            "711280073_bid_ask_1754010291.jsonl",
            "711280073_bid_ask_1754010000.jsonl",
        ),
    ] {
        let want = fs::read(src.join("v3/json/2025/08/01/01").join(name)).unwrap();
        let got = fs::read(back.join("v3/json/2025/08/01/01").join(out)).unwrap();
        assert_eq!(got, want, "{name}");
    }
    // Per-second files (legacy json/ folder, v3 content) merge into one hour file.
    let v3 = real.join("test_storage_v3");
    let o = d.path().join("o");
    let (code, c, f, _) = convert(&v3, &o, &["--format", "v3-json"]);
    assert_eq!(
        (code, n(&c, "files_read"), n(&c, "records_written")),
        (0, 5, 5),
        "{f:?}"
    );
    let mut want: Vec<String> = Vec::new();
    for e in fs::read_dir(v3.join("json/2025/08/01/01")).unwrap() {
        want.extend(
            fs::read_to_string(e.unwrap().path())
                .unwrap()
                .lines()
                .map(String::from),
        );
    }
    want.sort();
    let got =
        fs::read_to_string(o.join("v3/json/2025/08/01/01/711280073_bid_ask_1754010000.jsonl"))
            .unwrap();
    let mut got: Vec<String> = got.lines().map(String::from).collect();
    got.sort();
    assert_eq!(got, want);
}

#[test]
fn real_v2_store_with_both_formats_needs_source_format() {
    let Some(real) = real_fixtures() else { return };
    let d = tempdir().unwrap();
    let src = real.join("ib-stream/test_storage");
    let (code, _, _, err) = convert(&src, &d.path().join("o"), &["--format", "v3-json"]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "several formats: v2-json (5 files), v2-pb (5 files); choose one with --source-format"
        ),
        "{err}"
    );
    assert!(!d.path().join("o/v3").exists());
    // The test script's `exchange`, stream ids and metadata have no v3
    // place: refused, counted, then converted when allowed.
    let (code, c, _, _) = convert(
        &src,
        &d.path().join("o"),
        &["--format", "v3-json", "--source-format", "v2-json"],
    );
    assert_eq!((code, n(&c, "outputs_written")), (1, 0));
    for f in ["exchange", "stream_id", "metadata"] {
        assert_eq!(c["losses"][f]["records"], 50, "{f}: {c}");
    }
    let (code, c, _, _) = convert(
        &src,
        &d.path().join("o"),
        &[
            "--format",
            "v3-json",
            "--source-format",
            "v2-json",
            "--allow-loss",
            "exchange,stream_id,metadata",
        ],
    );
    assert_eq!(code, 0);
    // The test script's records: no request id (rid 0 kept), mid under `mid_price`.
    assert_eq!(
        (
            n(&c, "records_written"),
            &c["corrections"]["rid_zero"],
            &c["corrections"]["mid_key"]
        ),
        (50, &Value::from(50), &Value::from(16))
    );
}

#[test]
fn rerun_skips_what_is_done_and_redoes_what_changed() {
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(&src, &["--format", "v3-json", "--records", "20"]);
    let dst = d.path().join("o");
    assert_eq!(convert(&src, &dst, &["--format", "v3-pb"]).0, 0);
    let before = tree(&dst);
    let (code, c, _, _) = convert(&src, &dst, &["--format", "v3-pb"]);
    assert_eq!(code, 0);
    assert_eq!((n(&c, "outputs_written"), n(&c, "outputs_done")), (0, 12));
    assert_eq!(tree(&dst), before);
    let m: Value =
        serde_json::from_slice(&fs::read(dst.join(".ibstore/convert.json")).unwrap()).unwrap();
    let out = &m["outputs"]["v3/protobuf/2025/08/01/00/265598_bid_ask_1754006400.pb"];
    assert_eq!(out["records"], 20);
    assert_eq!(
        out["sources"][0]["file"],
        "v3/json/2025/08/01/00/265598_bid_ask_1754006400.jsonl"
    );
    // One source drops its last record: only its output is redone.
    let f = src.join("v3/json/2025/08/01/00/265598_bid_ask_1754006400.jsonl");
    let text = fs::read_to_string(&f).unwrap();
    let cut = text.trim_end().rfind('\n').unwrap() + 1;
    fs::write(&f, &text[..cut]).unwrap();
    let (code, c, _, _) = convert(&src, &dst, &["--format", "v3-pb"]);
    assert_eq!(code, 0);
    assert_eq!(
        (
            n(&c, "outputs_written"),
            n(&c, "outputs_done"),
            n(&c, "records_written")
        ),
        (1, 11, 239)
    );
    // A damaged output is caught by verification, not trusted.
    let o = dst.join("v3/protobuf/2025/08/01/01/265598_last_1754010000.pb");
    let orig = fs::read(&o).unwrap();
    let mut b = orig.clone();
    let last = b.len() - 1;
    b[last] ^= 0x55;
    fs::write(&o, &b).unwrap();
    let (code, c, f, _) = convert(&src, &dst, &["--format", "v3-pb"]);
    assert_eq!((code, n(&c, "mismatched_hours")), (1, 1), "{f:?}");
    let mism: Vec<&str> = f
        .iter()
        .filter(|f| {
            f["kind"] == "verify_mismatch"
                && f["file"] == "v3/protobuf/2025/08/01/01/265598_last_1754010000.pb"
        })
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(mism.len(), 2, "{f:?}");
    assert!(mism[0].starts_with("CRC-32 "), "{mism:?}");
    // Times in UTC, as a person reads them (not `Some(1754010033000000)`).
    assert_eq!(
        mism[1],
        "stream-hour 265598 last 2025/08/01/01: input 20 records (first 2025-08-01T01:00:33Z, last 2025-08-01T01:57:36Z), output 20 records (first 2025-08-01T01:00:33Z, last 2025-08-01T01:57:36Z), fingerprints differ"
    );
    // ... and is redone by the next run.
    let (code, c, _, _) = convert(&src, &dst, &["--format", "v3-pb"]);
    assert_eq!(
        (code, n(&c, "outputs_written"), n(&c, "mismatched_hours")),
        (0, 1, 0)
    );
    assert_eq!(fs::read(&o).unwrap(), orig);
}

#[test]
fn filters_pick_contract_tick_type_and_time() {
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(&src, &["--format", "v3-json", "--records", "20"]);
    let (code, c, _, _) = convert(
        &src,
        &d.path().join("o"),
        &[
            "--format",
            "v3-pb",
            "--contract",
            "265598",
            "--tick-type",
            "last",
            "--since",
            "2025-08-01T01:00:00Z",
            "--until",
            "1754013600",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(
        (
            n(&c, "records_read"),
            n(&c, "records_filtered"),
            n(&c, "records_written"),
            n(&c, "outputs_written")
        ),
        (240, 220, 20, 1)
    );
    let files: Vec<_> = tree(&d.path().join("o"))
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(
        files,
        vec![PathBuf::from(
            "v3/protobuf/2025/08/01/01/265598_last_1754010000.pb"
        )]
    );
}

#[test]
fn since_until_integers_are_read_by_magnitude_and_overflow_is_refused() {
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(&src, &["--format", "v3-json", "--records", "20"]);
    // The same hour, 01:00 to 02:00 UTC, spelled in s, ms, µs, ns and with units.
    for (i, (since, until)) in [
        ("1754010000", "1754013600"),
        ("1754010000000", "1754013600000"),
        ("1754010000000000", "1754013600000000"),
        ("1754010000000000000", "1754013600000000000"),
        ("1754010000000ms", "2025-08-01T02:00Z"),
    ]
    .into_iter()
    .enumerate()
    {
        let (code, c, _, e) = convert(
            &src,
            &d.path().join(format!("o{i}")),
            &["--format", "v3-pb", "--since", since, "--until", until],
        );
        assert_eq!(code, 0, "{since} {until}: {e}");
        assert_eq!(
            (n(&c, "records_filtered"), n(&c, "records_written")),
            (160, 80),
            "{since} {until}"
        );
    }
    for bad in [
        "99999999999999999999",
        "9223372036854775807s",
        "9223372036854775807ms",
    ] {
        let (code, _, _, e) = convert(
            &src,
            &d.path().join("bad"),
            &["--format", "v3-pb", "--since", bad],
        );
        assert_eq!(code, 2, "{bad}: {e}");
        assert!(e.contains("--since") && e.contains("is not a time"), "{e}");
        assert!(!e.contains("panicked"), "{e}");
        assert!(!d.path().join("bad").exists());
    }
}

#[test]
fn a_dst_made_from_another_src_is_refused_and_left_alone() {
    let d = tempdir().unwrap();
    let (ga, gb, m1) = (
        d.path().join("ga"),
        d.path().join("gb"),
        d.path().join("m1"),
    );
    gen(
        &ga,
        &["--format", "v3-json", "--records", "20", "--seed", "1"],
    );
    gen(
        &gb,
        &[
            "--format",
            "v3-json",
            "--records",
            "20",
            "--seed",
            "2",
            "--start",
            "2025-08-01T01",
        ],
    );
    let (code, _, _, e) = convert(&ga, &m1, &["--format", "v3-pb"]);
    assert_eq!(code, 0, "{e}");
    let before = tree(&m1);
    let (code, _, _, e) = convert(&gb, &m1, &["--format", "v3-pb"]);
    assert_eq!(code, 2, "{e}");
    let ga_c = std::fs::canonicalize(&ga).unwrap();
    assert!(
        e.contains(&format!("holds the conversion of {}", ga_c.display()))
            && e.contains("convert into a new folder"),
        "{e}"
    );
    assert_eq!(tree(&m1), before);
    // The same SRC again is a resumed conversion, not a refusal.
    let (code, _, _, e) = convert(&ga, &m1, &["--format", "v3-pb"]);
    assert_eq!(code, 0, "{e}");
}

#[test]
fn losses_are_refused_unless_allowed() {
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(&src, &["--format", "v2-json", "--records", "10"]);
    let dst = d.path().join("o");
    let (code, c, f, _) = convert(&src, &dst, &["--format", "v2-pb"]);
    assert_eq!(code, 1);
    assert_eq!(c["losses"]["ts"]["records"], 120);
    assert_eq!(c["losses"]["ts"]["allowed"], false);
    assert_eq!(
        (n(&c, "outputs_written"), n(&c, "outputs_refused")),
        (0, 12)
    );
    let refused: Vec<_> = f
        .iter()
        .filter(|f| f["kind"] == "convert_refused")
        .collect();
    assert_eq!(refused.len(), 1);
    // Named by the first output file it refused (relative to DST), with the
    // count of the others.
    assert_eq!(
        refused[0]["file"],
        "v2/protobuf/2025/08/01/00/bg_265598_bid_ask.pb"
    );
    assert_eq!(
        refused[0]["message"],
        "120 records would lose `ts` (v2 protobuf has no IB event time: ts becomes the envelope time); their 12 output files are not written (this one and 11 more); pass --allow-loss ts to convert them anyway"
    );
    assert!(tree(&dst).is_empty());
    let (code, c, _, _) = convert(&src, &dst, &["--format", "v2-pb", "--allow-loss", "ts"]);
    assert_eq!(code, 0);
    assert_eq!(c["losses"]["ts"]["allowed"], true);
    assert_eq!(n(&c, "outputs_written"), 12);
    // Run again without the allowance: the 12 files the allowed run wrote
    // are not this run's; each is reported as an orphan (kept), and
    // removed with --prune, so DST never silently holds what the last run
    // refused.
    let (code, c, f, _) = convert(&src, &dst, &["--format", "v2-pb"]);
    assert_eq!(code, 1);
    assert_eq!(
        (n(&c, "outputs_refused"), n(&c, "outputs_orphaned")),
        (12, 12)
    );
    let orphans: Vec<_> = f.iter().filter(|f| f["kind"] == "convert_orphan").collect();
    assert_eq!(orphans.len(), 12);
    assert_eq!(
        orphans[0]["file"],
        "v2/protobuf/2025/08/01/00/bg_265598_bid_ask.pb"
    );
    assert_eq!(tree(&dst).len(), 12);
    let (code, c, _, _) = convert(&src, &dst, &["--format", "v2-pb", "--prune"]);
    assert_eq!((code, n(&c, "outputs_orphaned")), (1, 12));
    assert!(tree(&dst).is_empty());
}

#[test]
fn damaged_sources_are_refused_or_skipped_span_by_span() {
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    let inj = gen(
        &src,
        &[
            "--format",
            "v3-json",
            "--records",
            "20",
            "--damage",
            "garbage-line",
        ],
    );
    assert_eq!(inj.len(), 1);
    let dst = d.path().join("o");
    let (code, c, f, _) = convert(&src, &dst, &["--format", "v3-pb"]);
    assert_eq!(code, 1);
    let refused: Vec<_> = f
        .iter()
        .filter(|f| f["kind"] == "convert_refused")
        .collect();
    assert_eq!(refused.len(), 1, "{f:?}");
    assert_eq!(refused[0]["file"], inj[0].file.as_str());
    assert_eq!(refused[0]["offset"], inj[0].offset);
    assert_eq!(
        (n(&c, "outputs_written"), n(&c, "outputs_refused")),
        (11, 1)
    );
    let (code, c, f, _) = convert(
        &src,
        &d.path().join("o2"),
        &["--format", "v3-pb", "--skip-damaged"],
    );
    assert_eq!(code, 0);
    let skipped: Vec<_> = f
        .iter()
        .filter(|f| f["kind"] == "convert_skipped")
        .collect();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["file"], inj[0].file.as_str());
    assert_eq!(skipped[0]["offset"], inj[0].offset);
    assert_eq!(skipped[0]["severity"], "warning");
    assert_eq!(
        (n(&c, "outputs_written"), n(&c, "records_written")),
        (12, 240)
    );
}

#[test]
fn bad_paths_are_refused_before_anything_is_written() {
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(&src, &["--format", "v3-json", "--records", "5"]);
    let (code, _, _, err) = convert(
        &d.path().join("nope"),
        &d.path().join("o"),
        &["--format", "v3-pb"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("nope: no such file or folder"), "{err}");
    for (dst, why) in [
        (src.clone(), "DST is SRC"),
        (src.join("v3/out"), "DST is inside SRC"),
        (d.path().to_path_buf(), "SRC is inside DST"),
    ] {
        let (code, _, _, err) = convert(&src, &dst, &["--format", "v3-pb"]);
        assert_eq!(code, 2);
        assert!(err.contains(why), "{err}");
    }
    assert!(!src.join("v3/out").exists() && !src.join("v3/protobuf").exists());
    // The same checks by identity (st_dev, st_ino): SRC reached through a
    // bind mount, which no path comparison can see.
    let bm = d.path().join("bm");
    let outside = tempdir().unwrap();
    let up = outside.path().join("up");
    std::fs::create_dir_all(&bm).unwrap();
    std::fs::create_dir_all(&up).unwrap();
    match (mount_bind(&src, &bm), mount_bind(d.path(), &up)) {
        (Some(_m1), Some(_m2)) => {
            for (dst, why) in [
                (bm.clone(), "DST is SRC (by another path"),
                (bm.join("v3/out"), "DST is inside SRC (by another path"),
                (up.clone(), "SRC is inside DST (by another path"),
            ] {
                let (code, _, _, err) = convert(&src, &dst, &["--format", "v3-pb"]);
                assert_eq!(code, 2, "{}: {err}", dst.display());
                assert!(err.contains(why), "{err}");
            }
        }
        _ => eprintln!("skipped the bind-mount part: mount --bind needs root"),
    }
    assert!(!src.join("v3/out").exists() && !src.join("v3/protobuf").exists());
    let (code, _, _, err) = convert(&src, &d.path().join("o"), &["--format", "v4-pb"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--format \"v4-pb\": expected v2-json, v2-pb, v3-json, v3-pb or parquet"),
        "{err}"
    );
    let (code, _, _, err) = convert(
        &src,
        &d.path().join("o"),
        &["--format", "v3-pb", "--compress", "zstd:99"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("zstd level must be 1 to 22"), "{err}");
}

#[test]
fn unwritable_dst_is_a_clear_error_and_leaves_no_output() {
    use std::os::unix::fs::PermissionsExt as _;
    if unsafe { libc_geteuid() } == 0 {
        // root writes anyway; the permission test says nothing there.
        let _ = std::io::Write::write_all(&mut std::io::stderr(), b"skipped: running as root\n");
        return;
    }
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(&src, &["--format", "v3-json", "--records", "5"]);
    let dst = d.path().join("o");
    fs::create_dir(&dst).unwrap();
    fs::set_permissions(&dst, fs::Permissions::from_mode(0o555)).unwrap();
    let (code, _, _, err) = convert(&src, &dst, &["--format", "v3-pb"]);
    fs::set_permissions(&dst, fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(code, 2);
    assert!(err.contains("Permission denied"), "{err}");
    assert!(tree(&dst).is_empty());
}

#[test]
fn a_file_where_dst_needs_a_folder_is_a_clear_error_and_the_manifest_stays_true() {
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(&src, &["--format", "v3-json", "--records", "5"]);
    let dst = d.path().join("o");
    fs::create_dir_all(dst.join("v3/protobuf/2025/08/01")).unwrap();
    fs::write(dst.join("v3/protobuf/2025/08/01/01"), b"in the way").unwrap();
    // An earlier conversion's folder (a foreign one is refused outright).
    fs::create_dir_all(dst.join(".ibstore")).unwrap();
    fs::write(dst.join(".ibstore/convert.claim"), b"").unwrap();
    let (code, _, _, err) = convert(&src, &dst, &["--format", "v3-pb"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("v3/protobuf/2025/08/01/01: refused: not a folder"),
        "{err}"
    );
    // Hour 00 was finished and recorded before hour 01 failed; nothing else.
    let m: Value =
        serde_json::from_slice(&fs::read(dst.join(".ibstore/convert.json")).unwrap()).unwrap();
    let done: Vec<&String> = m["outputs"].as_object().unwrap().keys().collect();
    assert_eq!(done.len(), 4, "{done:?}");
    assert!(done
        .iter()
        .all(|k| k.starts_with("v3/protobuf/2025/08/01/00/")));
    fs::remove_file(dst.join("v3/protobuf/2025/08/01/01")).unwrap();
    let (code, c, _, _) = convert(&src, &dst, &["--format", "v3-pb"]);
    assert_eq!(
        (code, n(&c, "outputs_done"), n(&c, "outputs_written")),
        (0, 4, 8)
    );
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

#[test]
fn disk_full_leaves_no_output_under_its_final_name() {
    // A 64 KiB tmpfs would need root; a full device is simulated with
    // RLIMIT_FSIZE instead (writes past the limit fail with EFBIG).
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(&src, &["--format", "v3-json", "--records", "400"]);
    let dst = d.path().join("o");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 16; exec \"$0\" \"$@\"")
        .arg(assert_cmd::cargo::cargo_bin("ibstore"))
        .args(["convert", "--from"])
        .arg(&src)
        .arg("--to")
        .arg(&dst)
        .args(["--format", "v3-json", "--jobs", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("write temp file") || err.contains("File too large"),
        "{err}"
    );
    // Every output under its final name is complete (it is in the manifest).
    let m: Value = fs::read(dst.join(".ibstore/convert.json"))
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap_or(Value::Null);
    for (p, b) in tree(&dst) {
        let rel = p.to_string_lossy().into_owned();
        assert!(!rel.ends_with(".ibstore-tmp"), "{rel}");
        assert_eq!(m["outputs"][&rel]["size"], b.len() as u64, "{rel}");
    }
    // The rest is done by a re-run.
    let (code, c, _, _) = convert(&src, &dst, &["--format", "v3-json"]);
    assert_eq!(code, 0);
    assert_eq!(tree(&dst), tree(&src));
    assert_eq!(n(&c, "outputs_done") + n(&c, "outputs_written"), 12);
}

#[test]
fn killed_at_every_step_then_rerun_equals_a_one_shot_run() {
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(
        &src,
        &["--format", "v2-json", "--records", "8", "--hours", "4"],
    );
    // A stray record far from its hour: its output is rewritten late.
    let early = src.join("v2/json/2025/08/01/00/bg_265598_last.jsonl");
    let line = fs::read_to_string(&early)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let late = src.join("v2/json/2025/08/01/03/bg_265598_last.jsonl");
    let mut t = fs::read_to_string(&late).unwrap();
    t.push_str(&line);
    t.push('\n');
    fs::write(&late, t).unwrap();
    let one = d.path().join("one");
    let (code, c, f, _) = convert(&src, &one, &["--format", "v3-pb", "--compress", "zstd:5"]);
    assert_eq!(code, 0, "{f:?}");
    assert_eq!(n(&c, "records_written"), 8 * 4 * 4 + 1);
    let good = tree(&one);
    let mut crashes = 0;
    for k in 1.. {
        let dst = d.path().join(format!("k{k}"));
        let (code, _, _, _) = convert_env(
            &src,
            &dst,
            &["--format", "v3-pb", "--compress", "zstd:5"],
            Some(k),
        );
        let finished = code == 0;
        if !finished {
            assert_eq!(code, -1, "k={k}: killed by the crash point");
            crashes += 1;
            let (code, c, f, _) =
                convert(&src, &dst, &["--format", "v3-pb", "--compress", "zstd:5"]);
            assert_eq!(code, 0, "k={k}: {f:?}");
            assert_eq!(n(&c, "mismatched_hours"), 0);
        }
        assert_eq!(tree(&dst), good, "k={k}");
        assert_eq!(
            fs::read(dst.join(".ibstore/convert.json")).unwrap(),
            fs::read(one.join(".ibstore/convert.json")).unwrap(),
            "k={k}"
        );
        if finished {
            break;
        }
    }
    // 16 outputs (temp + rename each), the late rewrite, a manifest per batch.
    assert!(crashes >= 33, "{crashes}");
}

#[test]
fn v2_json_recompressed_and_back_is_byte_identical_with_a_text_report() {
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(
        &src,
        &[
            "--format",
            "v2-json",
            "--records",
            "20",
            "--tick-types",
            "bid_ask,last,all_last,mid_point",
        ],
    );
    let z = d.path().join("z");
    assert_eq!(
        convert(&src, &z, &["--format", "v2-json", "--compress", "zstd:7"]).0,
        0
    );
    assert!(z
        .join("v2/json/2025/08/01/00/bg_265598_mid_point.jsonl.zst")
        .is_file());
    let back = d.path().join("b");
    let out = ibstore()
        .args(["convert", "--from"])
        .arg(&z)
        .arg("--to")
        .arg(&back)
        .args(["--format", "v2-json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let z = fs::canonicalize(&z).unwrap();
    let back_abs = fs::canonicalize(&back).unwrap();
    assert_eq!(
        text,
        format!(
            "ibstore convert: {z}\n{z} -> {b} (v2-json -> v2-json)\nread 24 files, 12633 bytes, 480 records\noutput: 24 files written; 480 records\nverified: 24 stream-hours match, 0 differ\n",
            z = z.display(),
            b = back_abs.display()
        )
    );
    assert_eq!(tree(&back), tree(&src));
}

#[test]
fn values_a_target_cannot_hold_are_counted_refused_and_mapped_when_allowed() {
    let d = tempdir().unwrap();
    // v3 JSON with the MD5-derived rid of spec §10 (beyond int32).
    let v3 = d.path().join("v3s");
    let dir = v3.join("v3/json/2025/08/01/00");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("7_last_1754006400.jsonl"),
        "{\"ts\":1754006401000000,\"st\":1754006401000100,\"cid\":7,\"tt\":\"last\",\"rid\":2147483648,\"p\":1.5,\"s\":2.0}\n\
         {\"ts\":1754006402000000,\"st\":1754006402000100,\"cid\":7,\"tt\":\"last\",\"rid\":5,\"p\":1.5,\"s\":3.0}\n",
    )
    .unwrap();
    let (code, c, f, _) = convert(&v3, &d.path().join("a"), &["--format", "v3-pb"]);
    assert_eq!(code, 1);
    assert_eq!(c["losses"]["rid"]["records"], 1);
    assert_eq!((n(&c, "outputs_written"), n(&c, "outputs_refused")), (0, 1));
    assert!(
        f[0]["message"]
            .as_str()
            .unwrap()
            .contains("--allow-loss rid"),
        "{f:?}"
    );
    let (code, c, _, _) = convert(
        &v3,
        &d.path().join("b"),
        &["--format", "v3-pb", "--allow-loss", "rid"],
    );
    assert_eq!((code, n(&c, "verified_hours")), (0, 1));
    let (code, _, _, _) = convert(
        &d.path().join("b"),
        &d.path().join("c"),
        &["--format", "v3-json"],
    );
    assert_eq!(code, 0);
    assert_eq!(
        fs::read_to_string(d.path().join("c/v3/json/2025/08/01/00/7_last_1754006400.jsonl")).unwrap(),
        "{\"ts\":1754006401000000,\"st\":1754006401000100,\"cid\":7,\"tt\":\"last\",\"rid\":0,\"p\":1.5,\"s\":2.0}\n\
         {\"ts\":1754006402000000,\"st\":1754006402000100,\"cid\":7,\"tt\":\"last\",\"rid\":5,\"p\":1.5,\"s\":3.0}\n"
    );

    // A live v2 trade with past_limit: v3 has no field for it.
    let v2 = d.path().join("v2s");
    let dir = v2.join("v2/json/2025/08/01/00");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("bg_7_last.jsonl"),
        "{\"type\":\"tick\",\"stream_id\":\"bg_7_last\",\"timestamp\":\"2025-08-01T00:00:01.500000+00:00\",\"data\":{\"type\":\"time_sales\",\"tick_type\":\"Last\",\"unix_time\":1754006401,\"price\":1.5,\"size\":2,\"past_limit\":true,\"unreported\":false},\"metadata\":{\"source\":\"stream_manager\",\"request_id\":\"5\",\"contract_id\":\"7\",\"tick_type\":\"last\"}}\n",
    )
    .unwrap();
    let (code, c, _, _) = convert(&v2, &d.path().join("d"), &["--format", "v3-json"]);
    assert_eq!(code, 1);
    assert_eq!(c["losses"]["past_limit"]["records"], 1);
    let (code, _, _, _) = convert(
        &v2,
        &d.path().join("e"),
        &["--format", "v3-json", "--allow-loss", "past_limit"],
    );
    assert_eq!(code, 0);
    // Spec §9.3 with the corrections: ts from unix_time, st the envelope time,
    // the integral size as a float, the false flag kept.
    assert_eq!(
        fs::read_to_string(d.path().join("e/v3/json/2025/08/01/00/7_last_1754006400.jsonl")).unwrap(),
        "{\"ts\":1754006401000000,\"st\":1754006401500000,\"cid\":7,\"tt\":\"last\",\"rid\":5,\"p\":1.5,\"s\":2.0,\"upt\":false}\n"
    );
}

#[test]
fn a_store_with_two_formats_is_refused_with_the_list() {
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(&src, &["--format", "v3-json,v2-pb", "--records", "5"]);
    let (code, _, _, err) = convert(&src, &d.path().join("o"), &["--format", "v3-pb"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("SRC holds several formats: v2-pb (12 files), v3-json (12 files); choose one with --source-format"),
        "{err}"
    );
    let (code, c, _, _) = convert(
        &src,
        &d.path().join("o"),
        &[
            "--format",
            "v3-pb",
            "--source-format",
            "v2-pb",
            "--allow-loss",
            "ts",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!((n(&c, "files_read"), n(&c, "records_written")), (12, 60));
    let (code, _, _, err) = convert(
        &src,
        &d.path().join("x"),
        &["--format", "v3-pb", "--tick-type", "trades"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("--tick-type \"trades\""), "{err}");
}
