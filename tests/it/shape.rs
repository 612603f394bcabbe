//! The shape every command stands on: each data file opened once per run,
//! one repair at a time per store (an OS lock), and no destructive decision
//! on a hash alone.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{data, gen, ibstore, json_lines};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tempfile::tempdir;

fn repair(store: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, Vec<Value>) {
    let mut c = ibstore();
    c.args(["repair", "--json", "--path"]).arg(store).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (out.status.code().unwrap(), json_lines(&out.stdout))
}

#[test]
fn a_repair_opens_each_data_file_once() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    // Damaged, misplaced and unsorted files, and their relocation targets.
    let inj = gen(
        &store,
        &[
            "--damage",
            "truncated-tail,garbage-line,misplaced,out-of-order,duplicate",
            "--contracts",
            "5",
        ],
    );
    // A record of one clean file appended to another clean file of the same
    // hour: its home exists, so the move reads that file too.
    let hour = store.join("v3/json/2025/08/01/01");
    let damaged: Vec<String> = inj.iter().map(|i| i.file.clone()).collect();
    let mut clean: Vec<_> = fs::read_dir(&hour)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let rel = p.strip_prefix(&store).unwrap().to_str().unwrap().to_owned();
            !damaged.contains(&rel) && rel.contains("_last_")
        })
        .collect();
    clean.sort();
    let (home, stray_in) = (&clean[0], &clean[1]);
    let first = fs::read_to_string(home)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let mut b = fs::read(stray_in).unwrap();
    b.extend_from_slice(first.as_bytes());
    b.push(b'\n');
    fs::write(stray_in, b).unwrap();
    let home_before = fs::read(home).unwrap();
    let files = data(&store).len();
    let log = d.path().join("opens.log");
    let (code, lines) = repair(
        &store,
        &[
            "--apply",
            "--sort",
            "--relocate",
            "--dedup",
            "--include-active",
        ],
        &[("IBSTORE_TRACE_OPENS", log.to_str().unwrap())],
    );
    assert_eq!(code, 0, "{lines:?}");
    let changed = lines.iter().filter(|l| l["type"] == "repair").count();
    assert!(changed >= 5, "{changed} files changed: {lines:?}");
    let mut opens: BTreeMap<String, u32> = BTreeMap::new();
    for l in fs::read_to_string(&log).unwrap().lines() {
        *opens.entry(l.to_owned()).or_default() += 1;
    }
    assert!(
        opens.len() >= files,
        "{} of {files} files opened",
        opens.len()
    );
    for (f, n) in &opens {
        assert_eq!(*n, 1, "{f} opened {n} times");
    }
    // The stray went home (which already held it: it is not appended twice).
    assert_eq!(fs::read(home).unwrap(), home_before);
    assert!(!fs::read_to_string(stray_in).unwrap().contains(&first));
}

fn round_store(dir: &Path) -> std::path::PathBuf {
    let store = dir.join("s");
    gen(&store, &["--damage", "truncated-tail", "--hours", "3"]);
    store
}

#[test]
fn two_repairs_started_together_one_applies_the_other_names_the_holder() {
    let bin = assert_cmd::cargo::cargo_bin("ibstore");
    for round in 0..20 {
        let d = tempdir().unwrap();
        let store = round_store(d.path());
        let start = || {
            Command::new(&bin)
                .args(["repair", "--apply", "--json", "--path"])
                .arg(&store)
                .env("IBSTORE_TEST_HOLD_MS", "300")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (start(), start());
        let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
        let mut codes: Vec<i32> = outs.iter().map(|o| o.status.code().unwrap()).collect();
        codes.sort();
        assert_eq!(codes, [0, 2], "round {round}");
        let loser = outs.iter().find(|o| o.status.code() == Some(2)).unwrap();
        let err = String::from_utf8_lossy(&loser.stderr);
        assert!(
            err.contains("is locked: held by another repair or convert (pid=")
                && err.contains("run=repair"),
            "round {round}: {err}"
        );
    }
}

#[test]
fn a_killed_holder_never_blocks_the_next_run() {
    let bin = assert_cmd::cargo::cargo_bin("ibstore");
    let d = tempdir().unwrap();
    let store = round_store(d.path());
    let before = data(&store);
    let mut holder = Command::new(&bin)
        .args(["repair", "--apply", "--path"])
        .arg(&store)
        .env("IBSTORE_TEST_HOLD_MS", "20000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until it holds the lock (its holder line is written), then kill -9.
    let lock = store.join(".ibstore/lock");
    for _ in 0..200 {
        if fs::read(&lock).is_ok_and(|b| !b.is_empty()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(data(&store), before, "killed before it changed anything");
    let (code, lines) = repair(&store, &["--apply"], &[]);
    assert_eq!(code, 0, "{lines:?}");
    assert!(lines.iter().any(|l| l["kind"] == "stale_lock"));
    assert_eq!(lines.iter().filter(|l| l["status"] == "done").count(), 1);
}

#[test]
fn dedup_keeps_distinct_records_whose_keys_collide() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    let inj = gen(&store, &["--damage", "duplicate", "--hours", "3"]);
    let dup = &inj[0];
    // Every record gets the same 64-bit key: only the real copy may go.
    let (code, lines) = repair(
        &store,
        &["--apply", "--dedup", "--include-active"],
        &[("IBSTORE_TEST_COLLIDE", "1")],
    );
    assert_eq!(code, 0, "{lines:?}");
    let l: Vec<&Value> = lines.iter().filter(|l| l["type"] == "repair").collect();
    assert_eq!(l.len(), 1, "{lines:?}");
    assert_eq!(l[0]["file"], dup.file.as_str());
    assert_eq!(
        l[0]["cuts"],
        serde_json::json!([{"offset": dup.offset, "len": dup.len, "kind": "duplicate"}])
    );
    assert_eq!(l[0]["records_lost"], 1);
    let v = common::validate(&store, &["--strict"]);
    assert_eq!((v.code, v.findings().len()), (0, 0), "{:?}", v.findings());
}

/// Every good record of a scan, as decoded.
#[derive(Default)]
struct Ticks(Vec<ibstore::Tick>);
impl ibstore::scan::Visit for Ticks {
    fn record(&mut self, r: &ibstore::scan::Good<'_>) {
        self.0.push(*r.tick);
    }
}

/// Convert's scan leaves out validate's record checks (`record_checks:
/// false`): the same records and the same damage at the same offsets, and
/// none of the time facts.
#[test]
fn a_scan_without_record_checks_finds_the_same_records_and_damage() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    let damage = gen(
        &s,
        &[
            "--format",
            "v3-json,v2-json,v3-pb,v2-pb",
            "--records",
            "300",
            "--damage",
            "bad-record,truncated-tail,duplicate,gap,misplaced,out-of-order,garbage-line,bad-prefix",
        ],
    );
    let d = ibstore::store::discover::discover(&s).unwrap();
    let on = ibstore::ScanOptions::default();
    let off = ibstore::ScanOptions {
        record_checks: false,
        ..on
    };
    let (mut spans, mut dups, mut gaps, mut strays) = (0, 0, 0, 0);
    for f in &d.files {
        let a = ibstore::scan::scan_with(f, &on, &Ticks::default);
        let b = ibstore::scan::scan_with(f, &off, &Ticks::default);
        let ticks = |v: Vec<Ticks>| v.into_iter().flat_map(|t| t.0).collect::<Vec<_>>();
        assert_eq!(a.scan.records, b.scan.records, "{}", f.file.rel);
        assert_eq!(a.scan.spans, b.scan.spans, "{}", f.file.rel);
        assert_eq!(a.scan.read_problem, b.scan.read_problem);
        assert_eq!(a.scan.format, b.scan.format);
        assert_eq!(ticks(a.visits), ticks(b.visits), "{}", f.file.rel);
        assert_eq!((b.scan.first_ts, b.scan.last_ts), (None, None));
        assert_eq!((b.scan.gaps, b.scan.repeats), (0, 0));
        assert!(b.scan.duplicates.is_empty() && b.scan.strays.is_empty());
        assert!(a.scan.first_ts.is_some() || a.scan.records == 0);
        spans += a.scan.spans.len();
        dups += a.scan.duplicates.len();
        gaps += a.scan.gaps;
        strays += a.scan.strays.len();
    }
    // Each injected fault is found with the checks on.
    assert_eq!(damage.len(), 8, "{damage:?}");
    // Four damaged spans (bad record, cut tail, garbage line, bad prefix),
    // one duplicate, one gap and one misplaced record.
    assert_eq!((spans, dups, gaps, strays), (4, 1, 1, 1), "{damage:?}");
}
