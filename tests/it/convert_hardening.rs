//! `convert` hardening: one conversion per DST at a time (the lock), a
//! source whose content is another format than its name says, outputs whose
//! sources are gone (orphans, `--prune`, crash-safe), an empty time range.

use crate::common::*;
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::Output;
use tempfile::tempdir;

fn convert(src: &Path, dst: &Path, args: &[&str], crash_at: Option<u64>) -> Output {
    let mut c = ibstore();
    c.args(["convert", "--json", "--from"])
        .arg(src)
        .arg("--to")
        .arg(dst)
        .args(args);
    if let Some(k) = crash_at {
        c.env("IBSTORE_CRASH_AT", k.to_string());
    }
    c.output().unwrap()
}

fn findings(o: &Output, kind: &str) -> Vec<Value> {
    json_lines(&o.stdout)
        .into_iter()
        .filter(|l| l["type"] == "finding" && l["kind"] == kind)
        .collect()
}

fn conv(o: &Output) -> Value {
    json_lines(&o.stdout)
        .into_iter()
        .find(|l| l["type"] == "convert")
        .unwrap()
}

#[test]
fn a_second_conversion_into_the_same_dst_is_refused_as_locked() {
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(&src, &["--format", "v3-json", "--records", "5"]);
    let dst = d.path().join("o");
    let first = ibstore_std()
        .args(["convert", "--json", "--from"])
        .arg(&src)
        .arg("--to")
        .arg(&dst)
        .args(["--format", "v3-pb"])
        .env("IBSTORE_TEST_HOLD_MS", "5000")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first run holds the lock (it writes its holder line).
    let lock = dst.join(".ibstore/lock");
    while !fs::read_to_string(&lock).is_ok_and(|t| t.contains("run=convert")) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second = convert(&src, &dst, &["--format", "v3-pb"], None);
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert!(
        err.contains("/.ibstore/lock is locked: held by another repair or convert (pid=")
            && err.contains("run=convert"),
        "{err}"
    );
    let out = first.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(conv(&out)["outputs_written"], 12);
    // Released: the next run takes it and finds everything done.
    let again = convert(&src, &dst, &["--format", "v3-pb"], None);
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(conv(&again)["outputs_done"], 12);
}

#[test]
fn a_source_holding_another_format_than_its_name_says_is_refused() {
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(&src, &["--format", "v3-json", "--records", "5"]);
    let f = src.join("v3/json/2025/08/01/00/265598_last_1754006400.jsonl");
    fs::write(
        &f,
        "{\"type\":\"tick\",\"stream_id\":\"bg_265598_last\",\"timestamp\":\"2025-08-01T00:00:01+00:00\",\"data\":{\"type\":\"time_sales\",\"tick_type\":\"Last\",\"unix_time\":1754006401,\"price\":1.5,\"size\":2.0},\"metadata\":{\"source\":\"stream_manager\",\"request_id\":\"5\",\"contract_id\":\"265598\",\"tick_type\":\"last\"}}\n",
    )
    .unwrap();
    let o = convert(&src, &d.path().join("o"), &["--format", "v3-pb"], None);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("265598_last_1754006400.jsonl holds v2-json records, not v3-json as its name and folder say"),
        "{err}"
    );
    // --skip-damaged leaves it out, with a warning naming it.
    let o = convert(
        &src,
        &d.path().join("p"),
        &["--format", "v3-pb", "--skip-damaged"],
        None,
    );
    assert_eq!(o.status.code(), Some(0));
    let skipped = findings(&o, "convert_skipped");
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(
        skipped[0]["file"],
        "v3/json/2025/08/01/00/265598_last_1754006400.jsonl"
    );
    assert_eq!(conv(&o)["outputs_written"], 11);
    // The Parquet target takes the same rule (one shared check).
    let o = convert(&src, &d.path().join("q"), &["--format", "parquet"], None);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("265598_last_1754006400.jsonl holds v2-json records, not v3-json as its name and folder say"),
        "{err}"
    );
    assert!(!d.path().join("q/tick_type=last").exists());
}

#[test]
fn an_empty_time_range_is_a_usage_error() {
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(&src, &["--format", "v3-json", "--records", "2"]);
    for (since, until) in [
        ("1754006400", "1754006400"),
        ("2025-08-01T01:00:00Z", "1754006400"),
    ] {
        let o = convert(
            &src,
            &d.path().join("o"),
            &["--format", "v3-pb", "--since", since, "--until", until],
            None,
        );
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains("--since must be before --until"));
    }
    assert!(!d.path().join("o").exists());
}

#[test]
fn orphans_are_reported_and_pruned_only_when_asked_even_across_a_crash() {
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(&src, &["--format", "v3-json", "--records", "5"]);
    let dst = d.path().join("o");
    assert_eq!(
        convert(&src, &dst, &["--format", "v3-pb"], None)
            .status
            .code(),
        Some(0)
    );
    fs::remove_file(src.join("v3/json/2025/08/01/01/265598_last_1754010000.jsonl")).unwrap();
    let orphan = "v3/protobuf/2025/08/01/01/265598_last_1754010000.pb";
    let o = convert(&src, &dst, &["--format", "v3-pb"], None);
    assert_eq!(o.status.code(), Some(0));
    let f = findings(&o, "convert_orphan");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["file"], orphan);
    assert_eq!(f[0]["severity"], "warning");
    assert!(f[0]["message"]
        .as_str()
        .unwrap()
        .contains("kept, pass --prune"));
    assert_eq!(conv(&o)["outputs_orphaned"], 1);
    assert!(dst.join(orphan).is_file());
    let manifest = |p: &Path| -> Value {
        serde_json::from_slice(&fs::read(p.join(".ibstore/convert.json")).unwrap()).unwrap()
    };
    assert!(manifest(&dst)["outputs"].get(orphan).is_some());
    // --prune, killed at every step, then run again: the orphan is gone from
    // the folder and the manifest, the rest untouched.
    let kept: Vec<_> = data(&dst)
        .into_iter()
        .filter(|(p, _)| !p.ends_with("265598_last_1754010000.pb"))
        .map(|(p, b)| (p.strip_prefix(&dst).unwrap().to_path_buf(), b))
        .collect();
    assert_eq!(kept.len(), 11);
    for k in 1.. {
        let t = d.path().join(format!("k{k}"));
        copy_store(&dst, &t);
        let o = convert(&src, &t, &["--format", "v3-pb", "--prune"], Some(k));
        let finished = o.status.code() == Some(0);
        if finished {
            let f = findings(&o, "convert_orphan");
            assert_eq!(f.len(), 1);
            assert!(f[0]["message"]
                .as_str()
                .unwrap()
                .contains("removed (--prune)"));
        } else {
            assert_eq!(o.status.code(), None, "k={k}: killed by the crash point");
            let o = convert(&src, &t, &["--format", "v3-pb", "--prune"], None);
            assert_eq!(o.status.code(), Some(0), "k={k}");
        }
        let got: Vec<_> = data(&t)
            .into_iter()
            .map(|(p, b)| (p.strip_prefix(&t).unwrap().to_path_buf(), b))
            .collect();
        assert_eq!(got, kept, "k={k}");
        let m = manifest(&t);
        assert!(m["outputs"].get(orphan).is_none(), "k={k}");
        assert_eq!(m["outputs"].as_object().unwrap().len(), 11, "k={k}");
        // Nothing left to report.
        let o = convert(&src, &t, &["--format", "v3-pb"], None);
        assert!(findings(&o, "convert_orphan").is_empty(), "k={k}");
        if finished {
            assert!(k >= 2, "{k}");
            break;
        }
    }
}

#[test]
fn an_output_whose_every_record_was_dropped_is_not_written() {
    let d = tempdir().unwrap();
    let src = d.path().join("c");
    let hour = src.join("v3/json/2025/08/01/01");
    fs::create_dir_all(&hour).unwrap();
    fs::write(
        hour.join("3000000000_last_1754010000.jsonl"),
        "{\"ts\":1754010000000000,\"st\":1754010000000001,\"cid\":3000000000,\"tt\":\"last\",\"rid\":5,\"p\":1.5,\"s\":1.0}\n",
    )
    .unwrap();
    let dst = d.path().join("o");
    let o = convert(
        &src,
        &dst,
        &["--format", "v3-pb", "--allow-loss", "cid"],
        None,
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let c = conv(&o);
    assert_eq!(
        (c["outputs_written"].as_u64(), c["records_written"].as_u64()),
        (Some(0), Some(0)),
        "{c}"
    );
    assert_eq!(findings(&o, "convert_loss").len(), 1);
    // No empty file under a data name (validate would call it damage).
    assert!(!dst.join("v3").exists());
    let v = validate(&dst, &[]);
    assert_eq!(v.code, 0);
}

/// Folders under `dir` (not `.ibstore`), relative, sorted; and those empty.
fn folders(dir: &Path) -> (Vec<String>, Vec<String>) {
    fn walk(root: &Path, d: &Path, all: &mut Vec<String>, empty: &mut Vec<String>) {
        let mut n = 0;
        for e in fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            n += 1;
            if e.file_name() == ".ibstore" && d == root {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                let p = e.path();
                all.push(p.strip_prefix(root).unwrap().display().to_string());
                walk(root, &p, all, empty);
            }
        }
        if n == 0 {
            empty.push(d.strip_prefix(root).unwrap().display().to_string());
        }
    }
    let (mut all, mut empty) = (Vec::new(), Vec::new());
    walk(dir, dir, &mut all, &mut empty);
    all.sort();
    empty.sort();
    (all, empty)
}

#[test]
fn prune_removes_the_folders_it_empties_but_not_one_holding_a_users_file() {
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    // One stream, 26 hours: 2025-08-01T00 .. 2025-08-02T01.
    gen(
        &src,
        &[
            "--format",
            "v3-json",
            "--contracts",
            "1",
            "--tick-types",
            "last",
            "--hours",
            "26",
            "--records",
            "2",
        ],
    );
    let dst = d.path().join("o");
    assert_eq!(
        convert(&src, &dst, &["--format", "v3-pb"], None)
            .status
            .code(),
        Some(0)
    );
    let (before, empty) = folders(&dst);
    // v3, protobuf, 2025, 08, two days, 24 + 2 hours.
    assert_eq!(before.len(), 4 + 2 + 24 + 2, "{before:?}");
    assert!(empty.is_empty());
    // The sources of a whole day and of one hour of the other are deleted;
    // that hour's DST folder also holds a user's README.
    fs::remove_dir_all(src.join("v3/json/2025/08/02")).unwrap();
    fs::remove_file(src.join("v3/json/2025/08/01/05/711280073_last_1754024400.jsonl")).unwrap();
    fs::write(dst.join("v3/protobuf/2025/08/01/05/README"), "mine\n").unwrap();
    let want: Vec<String> = before
        .iter()
        .filter(|f| !f.starts_with("v3/protobuf/2025/08/02"))
        .cloned()
        .collect();
    assert_eq!(want.len(), before.len() - 3);
    // --prune, killed at every step, then run again: the emptied folders
    // are gone (bottom-up up to the month, which still holds a day), the
    // one holding the README stays with it, nothing is left empty.
    for k in 1.. {
        let t = d.path().join(format!("k{k}"));
        copy_store(&dst, &t);
        let o = convert(&src, &t, &["--format", "v3-pb", "--prune"], Some(k));
        let finished = o.status.code() == Some(0);
        if !finished {
            assert_eq!(o.status.code(), None, "k={k}: killed by the crash point");
            let o = convert(&src, &t, &["--format", "v3-pb", "--prune"], None);
            assert_eq!(o.status.code(), Some(0), "k={k}");
        } else {
            assert_eq!(findings(&o, "convert_orphan").len(), 3);
        }
        let (got, empty) = folders(&t);
        assert_eq!(got, want, "k={k}");
        assert!(empty.is_empty(), "k={k}: {empty:?}");
        assert_eq!(
            fs::read_to_string(t.join("v3/protobuf/2025/08/01/05/README")).unwrap(),
            "mine\n"
        );
        assert!(t.join(".ibstore/convert.json").is_file());
        let m: Value =
            serde_json::from_slice(&fs::read(t.join(".ibstore/convert.json")).unwrap()).unwrap();
        assert_eq!(m["outputs"].as_object().unwrap().len(), 23, "k={k}");
        if finished {
            // Three files and three folders removed, each a step.
            assert!(k > 6, "{k}");
            break;
        }
    }
}

#[test]
fn a_parquet_dataset_as_src_is_refused_as_output_only() {
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(&src, &["--format", "v3-json", "--records", "2"]);
    let pq = d.path().join("pq");
    assert_eq!(
        convert(&src, &pq, &["--format", "parquet"], None)
            .status
            .code(),
        Some(0)
    );
    let pq = fs::canonicalize(&pq).unwrap();
    for args in [
        &["--format", "v3-pb"][..],
        &["--format", "parquet"],
        &["--format", "v2-json", "--source-format", "v3-json"],
    ] {
        let o = convert(&pq, &d.path().join("o"), args, None);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            format!(
                "ibstore: error: refused: {} is a Parquet dataset (tick_type=bid_ask/date=2025-08-01/contract_id=265598/part-00.parquet, …): Parquet is an output-only format of convert (--format parquet), written and never read; SRC must be a store of tick data files (v2-json, v2-pb, v3-json, v3-pb)\n",
                pq.display()
            ),
            "{args:?}"
        );
        assert!(!d.path().join("o").exists());
    }
    // An empty SRC still says what it always said.
    fs::create_dir(d.path().join("empty")).unwrap();
    let o = convert(
        &d.path().join("empty"),
        &d.path().join("o"),
        &["--format", "v3-pb"],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "ibstore: error: SRC holds no tick data files\n"
    );
}

/// The `output:` line of a text report.
fn output_line(src: &Path, dst: &Path, args: &[&str]) -> (i32, String) {
    let o = ibstore()
        .args(["convert", "--from"])
        .arg(src)
        .arg("--to")
        .arg(dst)
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8(o.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("output:"))
        .unwrap_or_else(|| panic!("{text}"))
        .to_owned();
    (o.status.code().unwrap(), line)
}

#[test]
fn the_text_output_line_names_only_the_counts_that_are_not_zero() {
    let d = tempdir().unwrap();
    let src = d.path().join("s");
    gen(&src, &["--format", "v3-json", "--records", "5"]);
    let dst = d.path().join("o");
    assert_eq!(
        output_line(&src, &dst, &["--format", "v3-pb"]),
        (0, "output: 12 files written; 60 records".to_owned())
    );
    assert_eq!(
        output_line(&src, &dst, &["--format", "v3-pb"]),
        (
            0,
            "output: 0 files written, 12 already done; 60 records".to_owned()
        )
    );
    // One source changed: one file written, the rest kept.
    let f = src.join("v3/json/2025/08/01/00/265598_bid_ask_1754006400.jsonl");
    let text = fs::read_to_string(&f).unwrap();
    let cut = text.trim_end().rfind('\n').unwrap() + 1;
    fs::write(&f, &text[..cut]).unwrap();
    assert_eq!(
        output_line(&src, &dst, &["--format", "v3-pb"]),
        (
            0,
            "output: 1 file written, 11 already done; 59 records".to_owned()
        )
    );
    // Refused (a loss not allowed).
    let v2 = d.path().join("v2");
    gen(&v2, &["--format", "v2-json", "--records", "5"]);
    assert_eq!(
        output_line(&v2, &d.path().join("p"), &["--format", "v2-pb"]),
        (
            1,
            "output: 0 files written, 12 refused; 0 records".to_owned()
        )
    );
    // The JSON line keeps every count, zero or not.
    let o = convert(&src, &dst, &["--format", "v3-pb"], None);
    let c = conv(&o);
    assert_eq!(
        (
            &c["outputs_written"],
            &c["outputs_done"],
            &c["outputs_refused"],
            &c["outputs_orphaned"]
        ),
        (
            &Value::from(0),
            &Value::from(12),
            &Value::from(0),
            &Value::from(0)
        )
    );
}
