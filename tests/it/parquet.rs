//! `ibstore convert --format parquet` through the binary: the dataset read
//! back with the `parquet` crate equals the source record by record (every
//! field, bit-exact doubles, nulls) for every source format and the real
//! samples; crash safety, a foreign or different DST, a full disk, damage;
//! and an independent engine (DuckDB) agreeing with `validate`.

use crate::common;

use common::*;
use ibstore::convert::parquet::file::{self, ReadBack};
use ibstore::scan::{self, Good, ScanOptions, Visit};
use ibstore::{Tick, TickType};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use tempfile::tempdir;

/// Runs `ibstore convert --json --format parquet`: (exit code, the
/// `convert` line, findings, stderr).
fn pq(
    src: &Path,
    dst: &Path,
    args: &[&str],
    crash: Option<u64>,
) -> (i32, Value, Vec<Value>, String) {
    let mut c = ibstore();
    c.args(["convert", "--json", "--format", "parquet", "--from"])
        .arg(src)
        .arg("--to")
        .arg(dst)
        .args(args);
    // The generated and real v2 stores hold extras the schema has no column
    // for (exchange, stream ids, metadata, ...): allowed unless the test
    // names its own `--allow-loss` (see `v2_extras_are_refused_...`).
    if !args.contains(&"--allow-loss") {
        c.args(["--allow-loss", V2_EXTRAS]);
    }
    if let Some(k) = crash {
        c.env("IBSTORE_CRASH_AT", k.to_string());
    }
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().unwrap_or(-1);
    if code != 0 && code != 1 {
        return (code, Value::Null, Vec::new(), stderr);
    }
    let lines = json_lines(&out.stdout);
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

/// Every v2 extra the Parquet schema has no column for.
const V2_EXTRAS: &str = "exchange,conditions,sequence,stream_id,metadata,data_timestamp,unknown";

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

/// Every good record of `src` (of format `only` when given), by
/// (file relative to SRC, byte offset).
struct Coll(Vec<(u64, Tick)>);

impl Visit for Coll {
    fn record(&mut self, r: &Good<'_>) {
        self.0.push((r.offset, *r.tick));
    }
}

fn source_records(src: &Path, only: Option<ibstore::Format>) -> BTreeMap<(String, u64), Tick> {
    let d = ibstore::store::discover::discover(src).unwrap();
    let mut out = BTreeMap::new();
    for f in &d.files {
        let s = scan::scan_with(f, &ScanOptions::default(), &|| Coll(Vec::new()));
        if s.scan.format.is_none() || (only.is_some() && s.scan.format != only) {
            continue;
        }
        for v in s.visits {
            for (off, t) in v.0 {
                assert!(out.insert((f.file.rel.clone(), off), t).is_none());
            }
        }
    }
    out
}

/// Every `.parquet` file of a dataset, relative path → what it holds.
fn dataset(dst: &Path) -> BTreeMap<String, ReadBack> {
    let mut out = BTreeMap::new();
    for (p, _) in data(dst) {
        let rel = p.strip_prefix(dst).unwrap().to_string_lossy().into_owned();
        if rel.ends_with(".parquet") {
            out.insert(rel, file::read(&p).unwrap());
        }
    }
    out
}

/// A record's fields with doubles as bits.
type Exact = (
    i64,
    i64,
    i64,
    TickType,
    i64,
    [Option<u64>; 7],
    [Option<bool>; 4],
);

/// Every field of a record, doubles as bits: equal means bit-exact, and
/// an absent value (null) differs from every present one.
fn exact(t: &Tick) -> Exact {
    let b = |v: Option<f64>| v.map(f64::to_bits);
    (
        t.ts,
        t.st,
        t.cid,
        t.tt,
        t.rid,
        [b(t.p), b(t.s), b(t.bp), b(t.bs), b(t.ap), b(t.as_), b(t.mp)],
        [t.bpl, t.aph, t.upt, t.past_limit],
    )
}

/// Converts and checks the dataset against the source record by record;
/// returns the number of records.
fn round_trip(src: &Path, dst: &Path, args: &[&str], only: Option<ibstore::Format>) -> u64 {
    let (code, c, f, err) = pq(src, dst, args, None);
    assert_eq!(code, 0, "{f:?} {err}");
    assert_eq!(n(&c, "mismatched_hours"), 0);
    let want = source_records(src, only);
    assert!(!want.is_empty());
    let mut seen = BTreeMap::new();
    let mut nulls = 0;
    for (rel, back) in dataset(dst) {
        let meta: BTreeMap<_, _> = back.meta.iter().cloned().collect();
        assert_eq!(meta["ibstore.version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(meta["ibstore.schema_version"], "1");
        let mut listed: Vec<String> = serde_json::from_str(&meta["ibstore.source_files"]).unwrap();
        listed.sort();
        let mut used = back.sources.clone();
        used.sort();
        assert_eq!(listed, used, "{rel}");
        let mut prev = (i64::MIN, i64::MIN);
        for r in &back.rows {
            let t = r.tick;
            assert!((t.ts, t.st) >= prev, "{rel}: rows in (ts, st) order");
            prev = (t.ts, t.st);
            // The partition path is the row's.
            let sec = t.ts.div_euclid(1_000_000);
            let day = ibstore::time::hour_folder(sec)[..10].replace('/', "-");
            let part = if rel.ends_with("part-day.parquet") {
                "part-day".to_owned()
            } else {
                format!("part-{:02}", sec.rem_euclid(86_400) / 3600)
            };
            assert_eq!(
                rel,
                format!(
                    "tick_type={}/date={day}/contract_id={}/{part}.parquet",
                    t.tt, t.cid
                )
            );
            let key = (back.sources[r.src as usize].clone(), r.offset);
            let w = want
                .get(&key)
                .unwrap_or_else(|| panic!("{rel}: no source record {key:?}"));
            assert_eq!(exact(&t), exact(w), "{rel} {key:?}");
            nulls += [t.p, t.s, t.bp, t.bs, t.ap, t.as_, t.mp]
                .iter()
                .filter(|v| v.is_none())
                .count();
            assert!(seen.insert(key, ()).is_none(), "a record written twice");
        }
    }
    assert_eq!(seen.len(), want.len(), "every source record, once");
    assert!(nulls > 0, "values the source did not have are null");
    assert_eq!(n(&c, "records_written"), want.len() as u64);
    want.len() as u64
}

#[test]
fn every_source_format_round_trips_exactly() {
    let d = tempdir().unwrap();
    for (i, fmt) in ["v2-json", "v2-pb", "v3-json", "v3-pb"].iter().enumerate() {
        for zstd in [false, true] {
            let src = d.path().join(format!("s{i}{zstd}"));
            let mut args = vec![
                "--format",
                fmt,
                "--records",
                "12",
                "--tick-types",
                "bid_ask,last,all_last,mid_point",
                "--hours",
                "2",
            ];
            if zstd {
                args.push("--zstd");
            }
            gen(&src, &args);
            let dst = d.path().join(format!("d{i}{zstd}"));
            let codec = if zstd { "zstd:9" } else { "snappy" };
            assert_eq!(
                round_trip(&src, &dst, &["--compress", codec], None),
                12 * 16,
                "{fmt}"
            );
        }
    }
    // Per day: one file per contract-day and tick type.
    let src = d.path().join("s3true");
    let dst = d.path().join("day");
    assert_eq!(
        round_trip(&src, &dst, &["--per", "day", "--compress", "none"], None),
        192
    );
    assert_eq!(dataset(&dst).len(), 8);
    assert!(dst
        .join("tick_type=mid_point/date=2025-08-01/contract_id=711280073/part-day.parquet")
        .is_file());
}

#[test]
fn real_samples_round_trip_exactly() {
    let Some(real) = real_fixtures() else { return };
    let d = tempdir().unwrap();
    let mut total = 0;
    for (i, (store, fmt)) in [
        ("test_storage_v3", None),
        ("test_storage_multi", None),
        ("ib-stream/test_storage", Some("v2-json")),
        ("ib-stream/test_storage", Some("v2-pb")),
    ]
    .into_iter()
    .enumerate()
    {
        let dst = d.path().join(format!("r{i}"));
        let mut args = vec![];
        if let Some(f) = fmt {
            args.extend(["--source-format", f]);
        }
        let only = fmt.map(|f| ibstore::Format::from_name(f).unwrap());
        total += round_trip(&real.join(store), &dst, &args, only);
    }
    assert!(total > 0);
}

#[test]
fn killed_at_every_step_then_rerun_equals_a_one_shot_run() {
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(
        &src,
        &["--format", "v2-json", "--records", "6", "--hours", "3"],
    );
    // A stray record far from its hour: its output is rewritten late.
    let early = src.join("v2/json/2025/08/01/00/bg_265598_last.jsonl");
    let line = fs::read_to_string(&early)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let late = src.join("v2/json/2025/08/01/02/bg_265598_last.jsonl");
    let mut t = fs::read_to_string(&late).unwrap();
    t.push_str(&line);
    t.push('\n');
    fs::write(&late, t).unwrap();
    let one = d.path().join("one");
    let (code, c, f, _) = pq(&src, &one, &[], None);
    assert_eq!(code, 0, "{f:?}");
    assert_eq!(n(&c, "records_written"), 6 * 4 * 3 + 1);
    let good = data(&one)
        .into_iter()
        .map(|(p, b)| (p.strip_prefix(&one).unwrap().to_path_buf(), b))
        .collect::<Vec<_>>();
    let tree = |dst: &PathBuf| {
        data(dst)
            .into_iter()
            .map(|(p, b)| (p.strip_prefix(dst).unwrap().to_path_buf(), b))
            .collect::<Vec<_>>()
    };
    let manifest = |dst: &Path| -> Value {
        let mut m: Value =
            serde_json::from_slice(&fs::read(dst.join(".ibstore/convert.json")).unwrap()).unwrap();
        // The signature names SRC, the same for all.
        m["options"] = Value::Null;
        m
    };
    let mut crashes = 0;
    for k in 1.. {
        let dst = d.path().join(format!("k{k}"));
        let (code, _, _, _) = pq(&src, &dst, &[], Some(k));
        let finished = code == 0;
        if !finished {
            assert_eq!(code, -1, "k={k}: killed by the crash point");
            crashes += 1;
            let (code, c, f, _) = pq(&src, &dst, &[], None);
            assert_eq!(code, 0, "k={k}: {f:?}");
            assert_eq!(n(&c, "mismatched_hours"), 0);
        }
        assert_eq!(tree(&dst), good, "k={k}");
        assert_eq!(manifest(&dst), manifest(&one), "k={k}");
        if finished {
            break;
        }
    }
    // 12 outputs (two steps each), the late rewrite, a manifest per batch.
    assert!(crashes >= 27, "{crashes}");
}

#[test]
fn a_dst_holding_another_dataset_is_refused_unless_overwrite() {
    let d = tempdir().unwrap();
    let a = d.path().join("a");
    let b = d.path().join("b");
    gen(&a, &["--format", "v3-json", "--records", "5"]);
    gen(
        &b,
        &["--format", "v3-pb", "--records", "7", "--contracts", "1"],
    );
    let dst = d.path().join("o");
    assert_eq!(pq(&a, &dst, &[], None).0, 0);
    let before = data(&dst);
    let (code, _, _, err) = pq(&b, &dst, &[], None);
    assert_eq!(code, 2);
    assert!(err.contains("holds a different dataset"), "{err}");
    assert!(err.contains("--overwrite"), "{err}");
    assert_eq!(data(&dst), before, "nothing written");
    // Other options are another dataset too.
    let (code, _, _, err) = pq(&a, &dst, &["--per", "day"], None);
    assert_eq!(code, 2, "{err}");
    // --overwrite replaces it: exactly b's dataset, nothing of a's left.
    let (code, c, _, _) = pq(&b, &dst, &["--overwrite"], None);
    assert_eq!(code, 0);
    assert_eq!(n(&c, "records_written"), 42);
    let fresh = d.path().join("fresh");
    assert_eq!(pq(&b, &fresh, &[], None).0, 0);
    assert_eq!(
        dataset(&dst).keys().collect::<Vec<_>>(),
        dataset(&fresh).keys().collect::<Vec<_>>()
    );
    // A folder that is not ibstore's is never written, even with --overwrite.
    let foreign = d.path().join("foreign");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("keep.txt"), b"x").unwrap();
    let (code, _, _, err) = pq(&a, &foreign, &["--overwrite"], None);
    assert_eq!(code, 2);
    assert!(
        err.contains("holds no Parquet dataset of ibstore's"),
        "{err}"
    );
    assert_eq!(fs::read_dir(&foreign).unwrap().count(), 1);
    // A store conversion is not a Parquet dataset either.
    let conv = d.path().join("conv");
    let out = ibstore()
        .args(["convert", "--format", "v3-pb", "--from"])
        .arg(&a)
        .arg("--to")
        .arg(&conv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(pq(&a, &conv, &["--overwrite"], None).0, 2);
    // Bad option values are usage errors.
    for bad in [["--compress", "gzip"], ["--per", "week"]] {
        let (code, _, _, err) = pq(&a, &d.path().join("x"), &bad, None);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(bad[0]), "{err}");
    }
}

#[test]
fn a_full_disk_leaves_no_half_file_under_a_final_name() {
    // RLIMIT_FSIZE stands for a full device (writes past it fail with EFBIG).
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(&src, &["--format", "v3-json", "--records", "400"]);
    let dst = d.path().join("o");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 24; exec \"$0\" \"$@\"")
        .arg(assert_cmd::cargo::cargo_bin("ibstore"))
        .args([
            "convert",
            "--format",
            "parquet",
            "--compress",
            "none",
            "--jobs",
            "1",
            "--from",
        ])
        .arg(&src)
        .arg("--to")
        .arg(&dst)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("Parquet") || err.contains("File too large"),
        "{err}"
    );
    let m: Value = fs::read(dst.join(".ibstore/convert.json"))
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap_or(Value::Null);
    for (p, b) in data(&dst) {
        let rel = p.strip_prefix(&dst).unwrap().to_string_lossy().into_owned();
        assert!(!rel.contains(".ibstore-tmp"), "{rel}");
        assert_eq!(m["outputs"][&rel]["size"], b.len() as u64, "{rel}");
        file::read(&p).unwrap();
    }
    // A re-run completes it.
    let (code, c, _, _) = pq(&src, &dst, &["--compress", "none"], None);
    assert_eq!(code, 0);
    assert_eq!(n(&c, "outputs_done") + n(&c, "outputs_written"), 12);
    assert_eq!(n(&c, "records_written"), 4800);
}

#[test]
fn damaged_sources_are_refused_with_the_list_or_skipped_and_recorded() {
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
    let (code, c, f, _) = pq(&src, &d.path().join("o"), &[], None);
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
    let dst = d.path().join("o2");
    let (code, c, f, _) = pq(&src, &dst, &["--skip-damaged"], None);
    assert_eq!(code, 0, "{f:?}");
    let skipped: Vec<_> = f
        .iter()
        .filter(|f| f["kind"] == "convert_skipped")
        .collect();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["offset"], inj[0].offset);
    assert_eq!(n(&c, "outputs_written"), 12);
    // The output made from the damaged file says so in its metadata.
    let mut marked = Vec::new();
    for (rel, back) in dataset(&dst) {
        if let Some((_, v)) = back
            .meta
            .iter()
            .find(|(k, _)| k == "ibstore.skipped_damaged")
        {
            let v: Value = serde_json::from_str(v).unwrap();
            assert_eq!(v[0]["file"], inj[0].file.as_str());
            assert_eq!(v[0]["spans"][0][0], inj[0].offset);
            assert_eq!(v[0]["spans"][0][1], inj[0].len);
            marked.push(rel);
        }
    }
    assert_eq!(marked.len(), 1, "{marked:?}");
}

/// The Python with DuckDB that `.ci/run` installs (or `IBSTORE_DUCKDB_PYTHON`).
fn duckdb_python() -> Option<PathBuf> {
    let p = std::env::var_os("IBSTORE_DUCKDB_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/duckdb-venv/bin/python")
        });
    let ok = std::process::Command::new(&p)
        .args(["-c", "import duckdb"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "skipped: DuckDB is absent ({} with the duckdb package; .ci/run installs it)",
            p.display()
        );
    }
    ok.then_some(p)
}

/// The README's per stream-hour statement, run by DuckDB on the dataset.
const DUCKDB_PER_STREAM_HOUR: &str = "
import duckdb, json, sys
q = '''
SELECT contract_id, tick_type,
       epoch_us(ts) // 3600000000 * 3600 AS hour,
       count(*) AS records,
       epoch_us(min(ts)) AS first_ts, epoch_us(max(ts)) AS last_ts,
       sum(source_offset)::BIGINT AS offsets,
       sum(coalesce(price, bid_price, mid_price)) AS prices
FROM read_parquet(? || '/**/*.parquet', hive_partitioning = true)
GROUP BY ALL ORDER BY ALL
'''
for r in duckdb.connect().execute(q, [sys.argv[1]]).fetchall():
    print(json.dumps(r))
";

#[test]
fn duckdb_reads_the_dataset_and_agrees_with_validate() {
    let Some(py) = duckdb_python() else { return };
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(
        &src,
        &[
            "--format",
            "v3-pb",
            "--zstd",
            "--records",
            "30",
            "--tick-types",
            "bid_ask,last,all_last,mid_point",
        ],
    );
    let dst = d.path().join("o");
    assert_eq!(pq(&src, &dst, &[], None).0, 0);
    let out = std::process::Command::new(&py)
        .args(["-c", DUCKDB_PER_STREAM_HOUR])
        .arg(&dst)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Per stream-hour: DuckDB's figures against the source records.
    type Agg = (u64, i64, i64, i64, f64);
    let mut want: BTreeMap<(i64, String, i64), Agg> = BTreeMap::new();
    for ((_, off), t) in source_records(&src, None) {
        let sec = t.ts.div_euclid(1_000_000);
        let e = want
            .entry((t.cid, t.tt.to_string(), sec - sec.rem_euclid(3600)))
            .or_insert((0, i64::MAX, i64::MIN, 0, 0.0));
        e.0 += 1;
        e.1 = e.1.min(t.ts);
        e.2 = e.2.max(t.ts);
        e.3 += off as i64;
        e.4 += t.p.or(t.bp).or(t.mp).unwrap_or(0.0);
    }
    let rows: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), want.len());
    assert_eq!(rows.len(), 24);
    let mut per_stream: BTreeMap<(i64, String), (u64, i64, i64)> = BTreeMap::new();
    for r in &rows {
        let key = (
            r[0].as_i64().unwrap(),
            r[1].as_str().unwrap().to_owned(),
            r[2].as_i64().unwrap(),
        );
        let w = want[&key];
        let got = (
            r[3].as_u64().unwrap(),
            r[4].as_i64().unwrap(),
            r[5].as_i64().unwrap(),
            r[6].as_i64().unwrap(),
        );
        assert_eq!(got, (w.0, w.1, w.2, w.3), "{key:?}");
        let sum = r[7].as_f64().unwrap();
        assert!(
            (sum - w.4).abs() <= 1e-9 * w.4.abs(),
            "{key:?}: {sum} vs {}",
            w.4
        );
        let s = per_stream
            .entry((key.0, key.1))
            .or_insert((0, i64::MAX, i64::MIN));
        s.0 += got.0;
        s.1 = s.1.min(got.1);
        s.2 = s.2.max(got.2);
    }
    // Per stream: the sums of DuckDB's hours against validate's stream lines.
    let v = validate(&src, &[]);
    let streams = v.of_type("stream");
    assert_eq!(streams.len(), per_stream.len());
    for s in streams {
        let key = (
            s["contract_id"].as_i64().unwrap(),
            s["tick_type"].as_str().unwrap().to_owned(),
        );
        assert_eq!(
            per_stream[&key],
            (
                s["records"].as_u64().unwrap(),
                s["first_ts"].as_i64().unwrap(),
                s["last_ts"].as_i64().unwrap()
            ),
            "{key:?}"
        );
    }
}

/// The reviewer's record: a v2 JSON tick with extras the Parquet schema has
/// no column for, and one unknown key.
const EXTRAS_LINE: &str = r#"{"type":"tick","stream_id":"711280073_last_1754006400000_ab12","timestamp":"2025-08-01T00:00:02.0002+00:00","data":{"type":"time_sales","tick_type":"Last","timestamp":"2025-07-31 19:00:01","unix_time":1754006401,"price":23260.5,"size":2.0,"exchange":"CME","conditions":"IT","past_limit":true,"foo":"bar"},"metadata":{"source":"stream_manager","request_id":"60001","contract_id":"711280073","tick_type":"last","sequence":7}}"#;

#[test]
fn v2_extras_are_refused_per_field_then_written_when_allowed() {
    let d = tempdir().unwrap();
    let src = d.path().join("P");
    let hour = src.join("v2/json/2025/08/01/00");
    fs::create_dir_all(&hour).unwrap();
    fs::write(
        hour.join("bg_711280073_last.jsonl"),
        format!("{EXTRAS_LINE}\n"),
    )
    .unwrap();
    let dst = d.path().join("Ppq");
    // `ts` is never lost from v2 JSON: allowing only it allows nothing here.
    let (code, c, f, _) = pq(
        &src,
        &dst,
        &["--compress", "none", "--allow-loss", "ts"],
        None,
    );
    assert_eq!(code, 1, "{c}");
    assert_eq!((n(&c, "outputs_written"), n(&c, "outputs_refused")), (0, 1));
    let lost = [
        "conditions",
        "data_timestamp",
        "exchange",
        "metadata",
        "stream_id",
        "unknown",
    ];
    let got: BTreeMap<String, Value> = c["losses"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(got.keys().cloned().collect::<Vec<_>>(), lost);
    for l in lost {
        assert_eq!(got[l]["records"], 1, "{l}");
        assert_eq!(got[l]["allowed"], false, "{l}");
    }
    let refused: Vec<&Value> = f
        .iter()
        .filter(|x| x["kind"] == "convert_refused")
        .collect();
    assert_eq!(refused.len(), 6, "{f:?}");
    // Each names the output file it refused (relative to DST).
    for r in &refused {
        assert_eq!(
            r["file"], "tick_type=last/date=2025-08-01/contract_id=711280073/part-00.parquet",
            "{r}"
        );
    }
    assert!(refused.iter().any(|x| x["message"]
        == "1 records would lose `exchange` (the Parquet schema has no exchange field); their output file is not written; pass --allow-loss exchange to convert them anyway"), "{refused:?}");
    assert!(fs::read_dir(&dst).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("tick_type=")));
    // Allowed: written, counted as allowed, and recorded in the file.
    let (code, c, f, _) = pq(
        &src,
        &d.path().join("ok"),
        &["--compress", "none", "--allow-loss", &lost.join(",")],
        None,
    );
    assert_eq!(code, 0, "{f:?}");
    assert_eq!(n(&c, "outputs_written"), 1);
    assert_eq!(n(&c, "records_written"), 1);
    assert_eq!(n(&c, "mismatched_hours"), 0);
    for l in lost {
        assert_eq!(c["losses"][l]["allowed"], true, "{l}");
    }
    assert_eq!(f.iter().filter(|x| x["kind"] == "convert_loss").count(), 6);
    let files = dataset(&d.path().join("ok"));
    assert_eq!(files.len(), 1);
    let back = files.values().next().unwrap();
    assert_eq!(back.rows.len(), 1);
    let meta: BTreeMap<_, _> = back.meta.iter().cloned().collect();
    assert_eq!(
        meta["ibstore.allowed_losses"],
        r#"["exchange","conditions","stream_id","metadata","data_timestamp","unknown"]"#
    );
}

#[test]
fn a_v3_source_loses_nothing_and_a_v2_pb_source_is_refused_too() {
    let d = tempdir().unwrap();
    let v3 = d.path().join("v3");
    gen(&v3, &["--format", "v3-pb", "--records", "5"]);
    let (code, c, _, _) = pq(&v3, &d.path().join("o3"), &["--allow-loss", "ts"], None);
    assert_eq!((code, n(&c, "outputs_refused")), (0, 0), "{c}");
    assert_eq!(c["losses"], serde_json::json!({}), "{c}");
    // The recorder's v2 protobuf sample: the test script's exchange,
    // stream ids and metadata have no column.
    let Some(real) = real_fixtures() else { return };
    let pb = real.join("ib-stream/test_storage");
    let args = ["--source-format", "v2-pb", "--allow-loss", "ts"];
    let (code, c, _, _) = pq(&pb, &d.path().join("o"), &args, None);
    assert_eq!((code, n(&c, "outputs_written")), (1, 0), "{c}");
    assert!(n(&c, "outputs_refused") > 0);
    let read = n(&c, "records_read");
    assert!(read > 0);
    for l in ["exchange", "stream_id", "metadata"] {
        assert_eq!(c["losses"][l]["records"], read, "{l}: {c}");
        assert_eq!(c["losses"][l]["allowed"], false, "{l}: {c}");
    }
    let (code, c, _, _) = pq(
        &pb,
        &d.path().join("o2"),
        &["--source-format", "v2-pb"],
        None,
    );
    assert_eq!((code, n(&c, "outputs_refused")), (0, 0), "{c}");
    assert_eq!(n(&c, "records_written"), read);
}
