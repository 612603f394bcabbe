//! `ibstore index` through the binary: incremental refresh, stale and
//! corrupt indices detected, rebuilt and reported, crash safety, and
//! `--index-dir` leaving the store untouched.

use crate::common;

use common::{gen, ibstore, json_lines, snapshot};
use serde_json::Value;
use std::path::Path;

fn index(store: &Path, args: &[&str]) -> (i32, Vec<Value>) {
    let o = ibstore()
        .args(["index", "--json", "--path"])
        .arg(store)
        .args(args)
        .output()
        .unwrap();
    (o.status.code().unwrap_or(-1), json_lines(&o.stdout))
}

fn summary(lines: &[Value]) -> (u64, u64, u64, u64) {
    let s = lines.last().unwrap();
    assert_eq!(s["type"], "summary");
    let n = |k: &str| s[k].as_u64().unwrap();
    (n("built"), n("rebuilt"), n("unchanged"), n("failed"))
}

fn findings(lines: &[Value]) -> Vec<(String, String, String)> {
    lines
        .iter()
        .filter(|l| l["type"] == "finding")
        .map(|l| {
            (
                l["kind"].as_str().unwrap().into(),
                l["file"].as_str().unwrap().into(),
                l["message"].as_str().unwrap().into(),
            )
        })
        .collect()
}

const F: &str = "v3/json/2025/08/01/01/711280073_bid_ask_1754010000.jsonl";
const IDX: &str =
    ".ibstore/index/files/v3/json/2025/08/01/01/711280073_bid_ask_1754010000.jsonl.idx";

fn store(dir: &Path) -> std::path::PathBuf {
    let s = dir.join("s");
    gen(
        &s,
        &[
            "--format",
            "v3-json,v3-pb",
            "--hours",
            "3",
            "--records",
            "400",
        ],
    );
    s
}

#[test]
fn build_then_refresh_only_what_changed() {
    let t = tempfile::tempdir().unwrap();
    let s = store(t.path());
    let (code, l) = index(&s, &[]);
    assert_eq!((code, summary(&l)), (0, (24, 0, 0, 0)));
    assert!(findings(&l).is_empty());
    let (code, l) = index(&s, &[]);
    assert_eq!((code, summary(&l)), (0, (0, 0, 24, 0)));
    let (code, l) = index(&s, &["--check"]);
    assert_eq!((code, summary(&l)), (0, (0, 0, 24, 0)));
    let (code, l) = index(&s, &["--rebuild"]);
    assert_eq!((code, summary(&l)), (0, (0, 24, 0, 0)));
    // Index size: a small fraction of the data.
    let sum = l.last().unwrap();
    assert!(
        sum["index_bytes"].as_u64().unwrap() * 20 < sum["data_bytes"].as_u64().unwrap(),
        "{sum}"
    );
    // A removed data file: its index is removed as an orphan.
    std::fs::remove_file(s.join(F)).unwrap();
    let (_, l) = index(&s, &[]);
    assert_eq!(summary(&l), (0, 0, 23, 0));
    assert_eq!(l.last().unwrap()["orphans"], 1);
    assert!(!s.join(IDX).exists());
}

/// Each way an index goes stale or corrupt: detected by --check (exit 1,
/// nothing written), then rebuilt and reported by the next run.
#[test]
fn stale_and_corrupt_indices_are_detected_rebuilt_and_reported() {
    let t = tempfile::tempdir().unwrap();
    let s = store(t.path());
    assert_eq!(index(&s, &[]).0, 0);
    let data = s.join(F);
    let idx = s.join(IDX);
    let orig = std::fs::read(&data).unwrap();
    type Harm = Box<dyn Fn(&Path, &Path)>;
    let same_mtime = |p: &Path, bytes: &[u8]| {
        let m = std::fs::metadata(p).unwrap().modified().unwrap();
        std::fs::write(p, bytes).unwrap();
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(m)
            .unwrap();
    };
    let o2 = orig.clone();
    let o3 = orig.clone();
    let cases: Vec<(&str, &str, Harm)> = vec![
        (
            "stale_index",
            "index is stale: data appended (",
            Box::new(|d, _| {
                let mut b = std::fs::read(d).unwrap();
                b.extend_from_slice(b"{\"ts\":1754013599000000,\"st\":1754013599000000,\"cid\":711280073,\"tt\":\"bid_ask\",\"rid\":60000,\"bp\":1.0,\"bs\":1.0,\"ap\":2.0,\"as\":1.0}\n");
                std::fs::write(d, b).unwrap();
            }),
        ),
        (
            "stale_index",
            "index is stale: data truncated (",
            Box::new(move |d, _| {
                std::fs::write(d, &o2[..o2.len() / 2]).unwrap();
            }),
        ),
        (
            "stale_index",
            "index is stale: data rewritten (same size and mtime, CRC-32 differs)",
            Box::new(move |d, _| {
                let mut b = o3.clone();
                let at = b.len() / 2;
                b[at] = if b[at] == b'7' { b'8' } else { b'7' };
                same_mtime(d, &b);
            }),
        ),
        (
            "corrupt_index",
            "is unusable: body checksum mismatch",
            Box::new(|_, i| {
                let mut b = std::fs::read(i).unwrap();
                let n = b.len() - 5;
                b[n] ^= 0x40;
                std::fs::write(i, b).unwrap();
            }),
        ),
        (
            "corrupt_index",
            "is unusable: truncated",
            Box::new(|_, i| {
                let b = std::fs::read(i).unwrap();
                std::fs::write(i, &b[..b.len() - 9]).unwrap();
            }),
        ),
        (
            "corrupt_index",
            "is unusable: not an ibstore index (wrong magic)",
            Box::new(|_, i| {
                std::fs::write(i, b"2025-08-01 some log line that landed here\n").unwrap();
            }),
        ),
        (
            "corrupt_index",
            "is unusable: format version 7, expected 2",
            Box::new(|_, i| {
                let mut b = std::fs::read(i).unwrap();
                b[8] = 7;
                std::fs::write(i, b).unwrap();
            }),
        ),
    ];
    for (kind, msg, harm) in cases {
        std::fs::write(&data, &orig).unwrap();
        assert_eq!(index(&s, &[]).0, 0);
        harm(&data, &idx);
        let before = snapshot(&s.join(".ibstore"));
        let (code, l) = index(&s, &["--check"]);
        assert_eq!(code, 1, "{msg}: {l:?}");
        assert_eq!(
            snapshot(&s.join(".ibstore")),
            before,
            "--check wrote nothing"
        );
        let f = findings(&l);
        let mine: Vec<_> = f.iter().filter(|x| x.1 == F).collect();
        assert_eq!(mine.len(), 1, "{msg}: {f:?}");
        assert_eq!(mine[0].0, kind);
        assert!(
            mine[0].2.contains(msg) && mine[0].2.ends_with("not rebuilt (--check)"),
            "{:?}",
            mine[0]
        );
        let (code, l) = index(&s, &[]);
        assert_eq!((code, summary(&l)), (0, (0, 1, 23, 0)), "{msg}");
        let f = findings(&l);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].0.as_str(), f[0].1.as_str()), (kind, F));
        assert!(
            f[0].2.contains(msg) && f[0].2.ends_with("; rebuilt"),
            "{:?}",
            f[0]
        );
        assert_eq!(
            index(&s, &["--check"]).0,
            0,
            "{msg}: clean after the rebuild"
        );
    }
    // A foreign file where the catalog goes.
    std::fs::write(s.join(".ibstore/index/catalog.bin"), b"PK\x03\x04 not ours").unwrap();
    let (code, l) = index(&s, &[]);
    assert_eq!(code, 0);
    let f = findings(&l);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].0, "corrupt_index");
    assert_eq!(f[0].1, ".ibstore/index/catalog.bin", "relative to --path");
    assert!(
        f[0].2
            .starts_with("catalog is unusable: not an ibstore index (wrong magic); rebuilt"),
        "{f:?}"
    );
    assert_eq!(index(&s, &["--check"]).0, 0);
}

#[test]
fn a_killed_index_run_leaves_no_corrupt_index_and_the_next_run_completes() {
    let t = tempfile::tempdir().unwrap();
    let s = store(t.path());
    let mut crashes = 0;
    for k in 1.. {
        // From no index at all each time, so run k dies at its k-th step.
        let _ = std::fs::remove_dir_all(s.join(".ibstore"));
        let o = ibstore()
            .args(["index", "--path"])
            .arg(&s)
            .env("IBSTORE_CRASH_AT", k.to_string())
            .output()
            .unwrap();
        if o.status.success() {
            break;
        }
        assert_eq!(o.status.code(), None, "k={k}: killed by the crash point");
        crashes += 1;
        // Every index under its final name opens: none is corrupt.
        let (code, l) = index(&s, &["--check"]);
        assert_eq!(code, 1, "k={k}");
        assert!(
            findings(&l).iter().all(|f| f.0 != "corrupt_index"),
            "k={k}: {l:?}"
        );
        // The next run completes.
        if k % 6 == 1 {
            assert_eq!(index(&s, &[]).0, 0);
            assert_eq!(index(&s, &["--check"]).0, 0, "k={k}");
        }
    }
    // 24 index files and the catalog: one crash point each.
    assert_eq!(crashes, 25);
    assert_eq!(index(&s, &["--check"]).0, 0);
    let tmp: Vec<_> = common::snapshot(&s.join(".ibstore"))
        .into_iter()
        .filter(|(p, _, _)| p.to_string_lossy().ends_with(".ibstore-tmp"))
        .collect();
    assert!(tmp.is_empty(), "{tmp:?}");
}

#[test]
fn index_dir_writes_nothing_into_the_store() {
    let t = tempfile::tempdir().unwrap();
    let s = store(t.path());
    let before = snapshot(&s);
    let dir = t.path().join("elsewhere");
    let (code, l) = index(&s, &["--index-dir", dir.to_str().unwrap()]);
    assert_eq!((code, summary(&l)), (0, (24, 0, 0, 0)));
    let o = ibstore()
        .args([
            "query",
            "--contract",
            "711280073",
            "--tick-type",
            "bid_ask",
            "--from",
            "2025-08-01T00:10Z",
            "--to",
            "2025-08-01T00:15Z",
            "--source-format",
            "v3-pb",
            "--index-dir",
        ])
        .arg(&dir)
        .arg("--path")
        .arg(&s)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(" 0 scanned"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = ibstore()
        .args(["stats", "--index-dir"])
        .arg(&dir)
        .arg("--path")
        .arg(&s)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(snapshot(&s), before);
    assert!(!s.join(".ibstore").exists());
    assert!(dir.join("catalog.bin").is_file());
}

#[test]
fn an_index_folder_that_cannot_be_written_is_a_clear_error() {
    let t = tempfile::tempdir().unwrap();
    let s = store(t.path());
    let blocker = t.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let o = ibstore()
        .args(["index", "--index-dir"])
        .arg(blocker.join("idx"))
        .arg("--path")
        .arg(&s)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(
        err.starts_with(&format!(
            "ibstore: error: cannot write the index folder {}",
            blocker.join("idx").display()
        )),
        "{err}"
    );
    assert!(
        err.trim_end()
            .ends_with("give a writable folder with --index-dir"),
        "{err}"
    );
    assert!(!s.join(".ibstore").exists());
}

#[test]
fn stats_from_the_catalog_built_when_absent() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    gen(&s, &["--hours", "2", "--records", "50", "--contracts", "1"]);
    let bytes: u64 = common::data(&s).iter().map(|(_, b)| b.len() as u64).sum();
    let o = ibstore()
        .args(["stats", "--json", "--by", "tick-type", "--path"])
        .arg(&s)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(o.stderr).unwrap(),
        format!(
            "ibstore: note: no catalog; building it in {}\n",
            s.canonicalize().unwrap().join(".ibstore/index").display()
        )
    );
    let l = json_lines(&o.stdout);
    let g: Vec<(String, String, u64, u64)> = l[1..]
        .iter()
        .map(|v| {
            (
                v["type"].as_str().unwrap().into(),
                v["group"].as_str().unwrap().into(),
                v["files"].as_u64().unwrap(),
                v["records"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        g,
        [
            ("group".into(), "bid_ask".into(), 2, 100),
            ("group".into(), "last".into(), 2, 100),
            ("summary".into(), "total".into(), 4, 200)
        ]
    );
    assert_eq!(l[3]["bytes"].as_u64(), Some(bytes));
    assert_eq!(l[3]["empty_files"].as_u64(), Some(0));
    assert_eq!(l[3]["compression_ratio"].as_f64(), Some(1.0));
    // Second time: from the catalog, no note.
    let o = ibstore()
        .args(["stats", "--by", "day", "--path"])
        .arg(&s)
        .output()
        .unwrap();
    assert!(o.stderr.is_empty());
    let text = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[1].starts_with("group "));
    assert!(
        lines[2].starts_with("2025-08-01            4 "),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].starts_with("total                 4 "),
        "{}",
        lines[3]
    );
}

#[test]
fn a_file_still_being_appended_is_indexed_to_its_last_complete_record() {
    let t = tempfile::tempdir().unwrap();
    let s = store(t.path());
    let data = s.join(F);
    let whole = std::fs::metadata(&data).unwrap().len();
    let mut b = std::fs::read(&data).unwrap();
    b.extend_from_slice(br#"{"ts":1754013599000000,"st":175401"#);
    std::fs::write(&data, &b).unwrap();
    assert_eq!(index(&s, &[]).0, 0);
    let dir = s.canonicalize().unwrap().join(".ibstore/index");
    let ix = ibstore::index::load(&dir, F).unwrap().unwrap();
    assert!(ix.appending);
    assert_eq!(
        (ix.complete_end, ix.size, ix.records),
        (whole, b.len() as u64, 400)
    );
    assert_eq!(ix.entries[0].offset, 0);
    assert_eq!(ix.entries[0].record, 1);
    assert!(ix
        .entries
        .windows(2)
        .all(|w| w[1].offset >= w[0].offset + 4096 && w[1].ts >= w[0].ts));
    let cat = ibstore::index::Catalog::load(&dir).unwrap().unwrap();
    assert_eq!(cat.files.len(), 24);
    assert_eq!(
        cat.files
            .iter()
            .filter(|e| e.appending)
            .map(|e| e.file.as_str())
            .collect::<Vec<_>>(),
        [F]
    );
    let e = cat.files.iter().find(|e| e.file == F).unwrap();
    assert_eq!((e.records, e.errors, e.size), (400, 1, b.len() as u64));
}

#[derive(Default)]
struct Keep(Vec<ibstore::Tick>);
impl ibstore::scan::Visit for Keep {
    fn record(&mut self, r: &ibstore::scan::Good<'_>) {
        self.0.push(*r.tick);
    }
}

#[test]
fn bench_measures_without_writing_into_the_store() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    gen(&s, &["--format", "v3-json,v2-pb", "--records", "500"]);
    let before = snapshot(&s);
    let o = ibstore()
        .args(["bench", "--json", "--sample", "1000", "--path"])
        .arg(&s)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(snapshot(&s), before);
    let l = json_lines(&o.stdout);
    let read: Vec<(String, u64, u64)> = l
        .iter()
        .filter(|v| v["type"] == "read")
        .map(|v| {
            (
                v["format"].as_str().unwrap().into(),
                v["files"].as_u64().unwrap(),
                v["records"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        read,
        [("v2-pb".into(), 12, 6000), ("v3-json".into(), 12, 6000)]
    );
    let sizes: Vec<&Value> = l.iter().filter(|v| v["type"] == "size").collect();
    assert_eq!(sizes.len(), 16);
    // The plain v3-json sample is exactly the store's first 1000 records re-encoded.
    let v3 = sizes
        .iter()
        .find(|v| v["format"] == "v3-json" && v["zstd_level"].is_null())
        .unwrap();
    let d = ibstore::store::discover::discover(&s).unwrap();
    let mut ticks = Vec::new();
    for f in &d.files {
        let r = ibstore::scan::scan_with(f, &ibstore::ScanOptions::default(), &Keep::default);
        ticks.extend(r.visits.into_iter().flat_map(|v| v.0));
    }
    let mut want = Vec::new();
    for t in &ticks[..1000] {
        ibstore::Format::V3Json.encode(t, &mut want).unwrap();
    }
    assert_eq!(v3["bytes"].as_u64(), Some(want.len() as u64));
    for v in &sizes {
        if !v["zstd_level"].is_null() {
            let plain = sizes
                .iter()
                .find(|p| p["format"] == v["format"] && p["zstd_level"].is_null())
                .unwrap();
            assert!(v["bytes"].as_u64() < plain["bytes"].as_u64());
        }
    }
    let q = l.iter().find(|v| v["type"] == "query").unwrap();
    let o = ibstore()
        .args([
            "query",
            "--contract",
            &q["contract"].to_string(),
            "--tick-type",
            q["tick_type"].as_str().unwrap(),
        ])
        .args([
            "--from",
            &q["from"].to_string(),
            "--to",
            &q["to"].to_string(),
            // bench's query reads every copy (the store holds two formats).
            "--source-format",
            "all",
            "--path",
        ])
        .arg(&s)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(o.stdout).unwrap().lines().count() as u64,
        q["records"].as_u64().unwrap()
    );
    for (args, want) in [
        (
            &["bench", "--gen", "10XB"][..],
            "ibstore: error: --gen \"10XB\" is not a size (such as 50MB or 1GB)\n",
        ),
        (
            &["bench", "--gen", "1KB"][..],
            "ibstore: error: --gen \"1KB\": give a size between 100KB and 64GB\n",
        ),
    ] {
        let o = ibstore().args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(2));
        assert_eq!(String::from_utf8(o.stderr).unwrap(), want);
    }
    assert_eq!(
        ibstore().arg("bench").output().unwrap().status.code(),
        Some(2)
    );
}

#[test]
fn validate_incremental_skips_clean_unchanged_files_with_the_same_report() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    gen(
        &s,
        &[
            "--format",
            "v3-json,v3-pb",
            "--records",
            "300",
            "--damage",
            "truncated-tail,gap",
        ],
    );
    let run = |inc: bool| {
        let mut c = ibstore();
        c.args(["validate", "--json", "--path"]).arg(&s);
        if inc {
            c.arg("--incremental");
        }
        let o = c.output().unwrap();
        (
            o.status.code(),
            o.stdout,
            String::from_utf8(o.stderr).unwrap(),
        )
    };
    let (code, full, _) = run(false);
    assert_eq!(code, Some(1));
    let note = |n: u32| {
        format!("ibstore: note: --incremental: {n} of 24 files unchanged and clean since they were indexed; not read again\n")
    };
    // No index yet: nothing skipped.
    assert_eq!(run(true), (Some(1), full.clone(), note(0)));
    assert_eq!(index(&s, &[]).0, 0);
    // The two damaged files are read again; the report is the same.
    assert_eq!(run(true), (Some(1), full.clone(), note(22)));
    // A clean file changed since it was indexed is read again.
    let f = s.join("v3/protobuf/2025/08/01/02/265598_last_1754013600.pb");
    let mut b = std::fs::read(&f).unwrap();
    let cut = b.len() - 3;
    b.truncate(cut);
    std::fs::write(&f, &b).unwrap();
    let (code, full2, _) = run(false);
    assert_ne!(full2, full);
    assert_eq!(run(true), (code, full2, note(21)));
    let o = ibstore()
        .args(["validate", "--incremental", "--path"])
        .arg(s.join("v3"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// What a hostile review broke: an index folder that is a symbolic link out
/// of the store, and `--index-dir` inside the store.
#[test]
fn index_folders_through_links_or_inside_the_store_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("s");
    common::gen(&store, &["--hours", "1"]);
    let outside = d.path().join("out");
    std::fs::create_dir_all(outside.join("files")).unwrap();
    std::fs::write(outside.join("files/keep.idx"), b"x").unwrap();
    std::fs::create_dir_all(store.join(".ibstore")).unwrap();
    std::os::unix::fs::symlink(&outside, store.join(".ibstore/index")).unwrap();
    let out = common::ibstore()
        .args(["index", "--path"])
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("a symbolic link inside the store; ibstore never writes through one"));
    assert_eq!(std::fs::read_dir(outside.join("files")).unwrap().count(), 1);
    std::fs::remove_file(store.join(".ibstore/index")).unwrap();
    for inside in [store.clone(), store.join("v3/json/ix")] {
        let out = common::ibstore()
            .args(["index", "--path"])
            .arg(&store)
            .arg("--index-dir")
            .arg(&inside)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", inside.display());
        assert!(String::from_utf8_lossy(&out.stderr).contains("inside the store"));
    }
    assert!(!store.join("v3/json/ix").exists());
}
