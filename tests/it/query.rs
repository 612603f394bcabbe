//! `ibstore query` through the binary: results equal a full scan filtered by
//! hand over many windows (hour boundaries, unsorted files, v2 spill-over,
//! damage, zstd, files with and without an index); bad input exits 2.

use crate::common;

use common::{gen, ibstore};
use ibstore::scan::{self, Good, ScanOptions, Visit};
use ibstore::{Format, Tick, TickType};
use std::path::Path;

const C: i64 = 711_280_073;
const H0: i64 = 1_754_006_400; // 2025-08-01T00:00Z

#[derive(Default)]
struct All(Vec<Tick>);
impl Visit for All {
    fn record(&mut self, r: &Good<'_>) {
        self.0.push(*r.tick);
    }
}

/// Every good record of the store, file by file in path order, each with
/// the contract its file name promises.
fn everything(store: &Path) -> Vec<(Tick, i64)> {
    let d = ibstore::store::discover::discover(store).unwrap();
    let mut out = Vec::new();
    for f in &d.files {
        let cid = ibstore::query::contract_of(f).map_or(0, |c| c.0);
        let s = scan::scan_with(f, &ScanOptions::default(), &All::default);
        for v in s.visits {
            out.extend(v.0.into_iter().map(|t| (t, cid)));
        }
    }
    out
}

/// The expected output, filtered and ordered by hand.
fn by_hand(all: &[(Tick, i64)], tt: TickType, from: i64, to: i64) -> Vec<u8> {
    let mut v: Vec<Tick> = all
        .iter()
        .filter(|(t, c)| {
            let cid = if t.cid != 0 { t.cid } else { *c };
            cid == C && t.tt == tt && t.ts >= from && t.ts < to
        })
        .map(|(t, _)| *t)
        .collect();
    v.sort_by_key(|t| (t.ts, t.st));
    let mut b = Vec::new();
    for t in &v {
        Format::V3Json.encode(t, &mut b).unwrap();
    }
    b
}

fn query(store: &Path, tt: &str, from: &str, to: &str, extra: &[&str]) -> (i32, Vec<u8>, String) {
    let o = ibstore()
        .args([
            "query",
            "--contract",
            &C.to_string(),
            "--tick-type",
            tt,
            "--from",
            from,
            "--to",
            to,
            "--path",
        ])
        .arg(store)
        .args(extra)
        // The mixed store holds hours in several formats on purpose: every
        // copy is read (the reference scan reads them all too).
        .args(if extra.contains(&"--source-format") {
            &[][..]
        } else {
            &["--source-format", "all"][..]
        })
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        o.stdout,
        String::from_utf8(o.stderr).unwrap(),
    )
}

/// A store of every kind of file a query must merge.
fn mixed(dir: &Path) -> std::path::PathBuf {
    let store = dir.join("s");
    gen(
        &store,
        &[
            "--format",
            "v3-pb,v2-json",
            "--hours",
            "3",
            "--records",
            "1500",
            "--contracts",
            "1",
        ],
    );
    let z = dir.join("z");
    gen(
        &z,
        &[
            "--format",
            "v3-pb",
            "--hours",
            "3",
            "--records",
            "400",
            "--contracts",
            "1",
            "--zstd",
            "--seed",
            "7",
            "--tick-types",
            "last",
        ],
    );
    let dmg = dir.join("d");
    gen(
        &dmg,
        &[
            "--format",
            "v3-json",
            "--hours",
            "3",
            "--records",
            "800",
            "--contracts",
            "1",
            "--seed",
            "3",
            "--damage",
            "out-of-order,garbage-line",
        ],
    );
    for src in [&z, &dmg] {
        for e in walk(src) {
            let rel = e.strip_prefix(src).unwrap();

            let target = store.join(rel);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            if !target.exists() {
                std::fs::copy(&e, &target).unwrap();
            }
        }
    }
    // A cut last record (the recorder killed mid-write).
    let cut = store.join("v3/json/2025/08/01/02/711280073_last_1754013600.jsonl");
    let mut b = std::fs::read(&cut).unwrap();
    b.extend_from_slice(br#"{"ts":1754017000000000,"st":17540"#);
    std::fs::write(&cut, b).unwrap();
    // A v2 spill-over record: written at the end of hour 00, stored in hour 01's file.
    let v2 = store.join("v2/json/2025/08/01/01/bg_711280073_bid_ask.jsonl");
    let spill = format!(
        r#"{{"type":"tick","stream_id":"bg_{C}_bid_ask","timestamp":"2025-08-01T01:00:00.100000+00:00","data":{{"type":"bid_ask","unix_time":{},"bid_price":23000.25,"ask_price":23000.5,"bid_size":3.0,"ask_size":4.0}},"metadata":{{"source":"stream_manager","request_id":"60000","contract_id":"{C}","tick_type":"bid_ask"}}}}"#,
        H0 + 3599
    );
    let mut b = spill.into_bytes();
    b.push(b'\n');
    b.extend(std::fs::read(&v2).unwrap());
    std::fs::write(&v2, b).unwrap();
    store
}

fn walk(d: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn query_equals_a_filtered_full_scan_over_many_windows() {
    let t = tempfile::tempdir().unwrap();
    let store = mixed(t.path());
    let all = everything(&store);
    // Before any index: every candidate file is scanned, with a note.
    let (code, out, err) = query(
        &store,
        "bid_ask",
        "2025-08-01T00:59Z",
        "2025-08-01T01:01Z",
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        by_hand(
            &all,
            TickType::BidAsk,
            (H0 + 3540) * 1_000_000,
            (H0 + 3660) * 1_000_000
        )
    );
    assert!(err.contains("no index; scanned"), "{err}");
    let st = ibstore()
        .args(["index", "--path"])
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(0));
    // Half the indices of the last-trade files removed: those files are scanned.
    let idx = store.join(".ibstore/index/files/v3/json/2025/08/01/02");
    if idx.exists() {
        std::fs::remove_dir_all(&idx).unwrap();
    }
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut nonempty = 0;
    let mut seeked = 0;
    for i in 0..40 {
        let tt = if i % 2 == 0 {
            TickType::BidAsk
        } else {
            TickType::Last
        };
        // Windows from 1 s to 90 min, many of them across an hour boundary.
        let from = if i % 4 == 0 {
            (H0 + 3600 * (1 + next(2) as i64)) * 1_000_000 - next(120_000_000) as i64
        } else {
            H0 * 1_000_000 - 60_000_000 + next(3 * 3600 * 1_000_000 + 120_000_000) as i64
        };
        let to = from + 1_000_000 + next(90 * 60 * 1_000_000) as i64;
        let (code, out, err) = query(&store, tt.as_str(), &from.to_string(), &to.to_string(), &[]);
        assert_eq!(code, 0, "window {i}: {err}");
        let want = by_hand(&all, tt, from, to);
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&want),
            "window {i} [{from}, {to}) {tt}: {err}"
        );
        nonempty += u32::from(!want.is_empty());
        seeked += u32::from(!err.contains(" 0 read between index entries"));
    }
    assert!(nonempty >= 30, "{nonempty}");
    assert!(seeked >= 20, "{seeked}");
    // The spill-over record is found in hour 01's file by a window in hour 00.
    let (_, out, _) = query(
        &store,
        "bid_ask",
        "2025-08-01T00:59:59Z",
        "2025-08-01T01:00Z",
        &["--format", "csv"],
    );
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains(&format!("{},", (H0 + 3599) * 1_000_000)) && text.contains("23000.25"),
        "{text}"
    );
    // Damaged spans inside a scanned window are reported on stderr.
    let (code, _, err) = query(
        &store,
        "last",
        "2025-08-01T01:00Z",
        "2025-08-01T03:00Z",
        &[],
    );
    assert_eq!(code, 0);
    assert!(err.contains("v3/json/2025/08/01/01/711280073_last_1754010000.jsonl: 20 bytes at offset 42634 skipped"), "{err}");
    assert!(err.contains("v3/json/2025/08/01/02/711280073_last_1754013600.jsonl: 33 bytes at offset 85324 skipped (truncated_tail)"), "{err}");
}

#[test]
fn output_formats_and_exact_lines() {
    let t = tempfile::tempdir().unwrap();
    let store = t.path().join("s");
    gen(
        &store,
        &[
            "--contracts",
            "1",
            "--hours",
            "1",
            "--records",
            "5",
            "--tick-types",
            "bid_ask",
            "--ts-resolution",
            "us",
        ],
    );
    let all = everything(&store);
    let (code, out, _) = query(&store, "bid_ask", "2025-08-01", "2025-08-02", &[]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        by_hand(
            &all,
            TickType::BidAsk,
            H0 * 1_000_000,
            (H0 + 86400) * 1_000_000
        )
    );
    assert_eq!(String::from_utf8(out.clone()).unwrap().lines().count(), 5);
    let (_, csv, _) = query(
        &store,
        "bid_ask",
        "2025-08-01",
        "2025-08-02",
        &["--format", "csv"],
    );
    let csv = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "ts,st,cid,tt,rid,p,s,bp,bs,ap,as,mp,bpl,aph,upt");
    assert_eq!(lines.len(), 6);
    let t0 = &all[0].0;
    assert!(
        lines[1].starts_with(&format!("{},{},{C},bid_ask,", t0.ts, t0.st)),
        "{}",
        lines[1]
    );
    let (_, pb, _) = query(
        &store,
        "bid_ask",
        "2025-08-01",
        "2025-08-02",
        &["--format", "v3-pb"],
    );
    let mut n = 0;
    Format::V3Pb.walk(&pb, |p| {
        if let ibstore::format::piece::Piece::Record { bytes, .. } = p {
            assert_eq!(Format::V3Pb.decode(bytes).unwrap().tick, all[n].0);
            n += 1;
        }
    });
    assert_eq!(n, 5);
    let (_, v2, _) = query(
        &store,
        "bid_ask",
        "2025-08-01",
        "2025-08-02",
        &["--format", "v2-json"],
    );
    assert!(String::from_utf8(v2)
        .unwrap()
        .starts_with(r#"{"type":"tick","stream_id":"bg_711280073_bid_ask""#));
    // Offsets: 02:00+02:00 is 00:00Z.
    let (_, same, _) = query(
        &store,
        "bid_ask",
        "2025-08-01T02:00+02:00",
        "2025-08-02T00:00:00Z",
        &[],
    );
    assert_eq!(same, out);
    // --pace replays (100000× is fast, the output is the same).
    let (_, paced, _) = query(
        &store,
        "bid_ask",
        "2025-08-01",
        "2025-08-02",
        &["--pace", "100000"],
    );
    assert_eq!(paced, out);
}

#[test]
fn index_entries_that_disagree_with_the_data_are_not_trusted() {
    let t = tempfile::tempdir().unwrap();
    let store = t.path().join("s");
    gen(
        &store,
        &[
            "--contracts",
            "1",
            "--hours",
            "1",
            "--records",
            "3000",
            "--tick-types",
            "bid_ask",
        ],
    );
    assert_eq!(
        ibstore()
            .args(["index", "--path"])
            .arg(&store)
            .output()
            .unwrap()
            .status
            .code(),
        Some(0)
    );
    let f = store.join("v3/json/2025/08/01/00/711280073_bid_ask_1754006400.jsonl");
    let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
    // Same size, same mtime, every ts 100000 s later.
    let text = String::from_utf8(std::fs::read(&f).unwrap()).unwrap();
    std::fs::write(&f, text.replace("\"ts\":17540", "\"ts\":17541")).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let all = everything(&store);
    let (code, out, err) = query(
        &store,
        "bid_ask",
        "2025-08-01T00:20Z",
        "2025-08-01T00:25Z",
        &[],
    );
    assert_eq!(code, 0);
    assert_eq!(
        out,
        by_hand(
            &all,
            TickType::BidAsk,
            (H0 + 1200) * 1_000_000,
            (H0 + 1500) * 1_000_000
        )
    );
    // The rewrite moved the file's ctime: the index is not trusted.
    assert!(
        err.contains(
            "index is stale (data file status changed since indexed (ctime or inode)); scanned"
        ),
        "{err}"
    );
    // index finds it by CRC-32 and rebuilds it.
    let o = ibstore()
        .args(["index", "--path"])
        .arg(&store)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout)
        .contains("index is stale: data rewritten (same size and mtime, CRC-32 differs); rebuilt"));
}

#[test]
fn bad_input_is_refused_with_exit_2() {
    let t = tempfile::tempdir().unwrap();
    let store = t.path().join("s");
    gen(
        &store,
        &[
            "--contracts",
            "1",
            "--hours",
            "1",
            "--records",
            "5",
            "--tick-types",
            "bid_ask",
        ],
    );
    let cases: [(&[&str], &str); 8] = [
        (&["--contract", "711280073", "--tick-type", "bid_ask", "--from", "2025-08-01T01:00Z", "--to", "2025-08-01T00:00Z"], "ibstore: error: --from must be before --to (the window is [from, to))\n"),
        (&["--contract", "711280073", "--tick-type", "bid_ask", "--from", "2025-08-01T01:00Z", "--to", "2025-08-01T01:00Z"], "ibstore: error: --from must be before --to (the window is [from, to))\n"),
        (&["--contract", "5", "--tick-type", "bid_ask", "--from", "2025-08-01", "--to", "2025-08-02"], "ibstore: error: unknown contract 5: the store holds 711280073\n"),
        (&["--contract", "abc", "--tick-type", "bid_ask", "--from", "2025-08-01", "--to", "2025-08-02"], "ibstore: error: --contract \"abc\" is not a contract id (an integer such as 711280073)\n"),
        (&["--contract", "711280073", "--tick-type", "quotes", "--from", "2025-08-01", "--to", "2025-08-02"], "ibstore: error: --tick-type \"quotes\" is not a tick type (bid_ask, last, all_last or mid_point)\n"),
        (&["--contract", "711280073", "--tick-type", "last", "--from", "2025-08-01", "--to", "2025-08-02"], "ibstore: error: contract 711280073 has no last files (it has bid_ask)\n"),
        (&["--contract", "711280073", "--tick-type", "bid_ask", "--from", "2025-08-01T14:30", "--to", "2025-08-02"], "ibstore: error: --from \"2025-08-01T14:30\" has no zone: add Z for UTC or an offset such as +02:00\n"),
        (&["--contract", "711280073", "--tick-type", "bid_ask", "--from", "2025-08-01", "--to", "noon"], "ibstore: error: --to \"noon\" is not a time: give an ISO time with a zone (2025-08-05T14:30Z, 2025-08-05T16:30:00+02:00), a date (2025-08-05) or an integer since the epoch with a unit (1754404200s, ms, us, ns; bare: s below 1e11, ms below 1e14, µs below 1e17, else ns)\n"),
    ];
    for (args, want) in cases {
        let o = ibstore()
            .arg("query")
            .arg("--path")
            .arg(&store)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8(o.stderr).unwrap(), want);
        assert!(o.stdout.is_empty());
    }
}
