//! What a hostile tester broke: files that shrink mid-run, symlinks swapped
//! in after a repair, file names with control bytes or no UTF-8, paths that
//! are not store roots, one failing file among many, misfiled data, man
//! pages, undo edge cases, and the wording of reports.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::*;
use std::fs;
use std::path::Path;
use tempfile::tempdir;

/// A one-file store whose file is larger than a read window.
fn big_store(dir: &Path) -> std::path::PathBuf {
    let store = dir.join("s");
    gen(
        &store,
        &[
            "--contracts",
            "1",
            "--tick-types",
            "bid_ask",
            "--hours",
            "1",
            "--records",
            "20000",
        ],
    );
    store
}

#[test]
fn a_file_that_shrinks_mid_read_is_a_finding_not_a_crash() {
    let d = tempdir().unwrap();
    let store = big_store(d.path());
    let rel = "v3/json/2025/08/01/00/711280073_bid_ask_1754006400.jsonl";
    assert!(fs::metadata(store.join(rel)).unwrap().len() > 2 << 20);
    // The debug build truncates the file to 1000 bytes after its first
    // window, as another process would.
    let out = ibstore()
        .args(["validate", "--json", "--jobs", "1", "--path"])
        .arg(&store)
        .env("IBSTORE_TEST_SHRINK", "1000")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "no signal, a finding");
    let lines = json_lines(&out.stdout);
    let f: Vec<_> = lines
        .iter()
        .filter(|l| l["kind"] == "changed_during_run")
        .collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["file"], rel);
    assert!(f[0]["message"]
        .as_str()
        .unwrap()
        .starts_with("the file shrank from "));
    // repair --apply on a file that shrinks: skipped, nothing half-done.
    let store = big_store(&d.path().join("r"));
    let abs = store.join(rel);
    let mut b = fs::read(&abs).unwrap();
    b.extend_from_slice(b"{\"ts\":17540\n");
    fs::write(&abs, &b).unwrap();
    let out = ibstore()
        .args(["repair", "--apply", "--include-active", "--json", "--path"])
        .arg(&store)
        .env("IBSTORE_TEST_SHRINK", "1000")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out.stdout);
    let l = repair_lines(&lines);
    assert_eq!(
        (l[0]["file"].as_str(), l[0]["status"].as_str()),
        (Some(rel), Some("skipped"))
    );
    assert_eq!(l[0]["reason"], "changed since it was examined");
    assert!(!ibstore::fsutil::temp_path(&abs).exists());
}

#[test]
fn undo_never_writes_through_a_symlink_swapped_in_after_the_repair() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    let inj = gen(&store, &["--damage", "garbage-line"]);
    let (code, lines) = repair(&store, &["--apply"]);
    assert_eq!(code, 0);
    let hour = store.join(Path::new(&inj[0].file).parent().unwrap());
    let outside = d.path().join("outside");
    fs::rename(&hour, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &hour).unwrap();
    let outside_before = snapshot(&outside);
    let (code, undo) = repair(&store, &["--undo", &run_id(&lines)]);
    assert_eq!(code, 1);
    let refused: Vec<_> = undo
        .iter()
        .filter(|l| l["kind"] == "undo_refused")
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["file"], inj[0].file.as_str());
    assert!(refused[0]["message"]
        .as_str()
        .unwrap()
        .contains("a symbolic link inside the store; ibstore never writes through one"));
    assert_eq!(
        snapshot(&outside),
        outside_before,
        "nothing written outside"
    );
}

#[test]
fn control_bytes_and_non_utf8_in_names_stay_in_their_line_and_are_repaired() {
    use std::os::unix::ffi::OsStrExt as _;
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    gen(
        &store,
        &["--contracts", "1", "--tick-types", "last", "--hours", "1"],
    );
    let dir = store.join("v3/json/2025/08/01/00");
    let good = fs::read(dir.join("711280073_last_1754006400.jsonl")).unwrap();
    let mut bad = good.clone();
    bad.extend_from_slice(b"{\"ts\":17540,garbage\n");
    let evil = "evil\nname\x1b[31m.jsonl";
    fs::write(dir.join(evil), &bad).unwrap();
    let raw: &[u8] = b"raw\xffname.jsonl";
    fs::write(dir.join(std::ffi::OsStr::from_bytes(raw)), &bad).unwrap();
    let out = ibstore()
        .args(["validate", "--path"])
        .arg(&store)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains('\x1b'),
        "no escape sequence reaches the terminal"
    );
    let evil_lines: Vec<&str> = text.lines().filter(|l| l.contains("evil")).collect();
    assert_eq!(evil_lines.len(), 3, "{text}");
    assert!(
        evil_lines
            .iter()
            .all(|l| l.contains("evil\\nname\\x1b[31m")),
        "{evil_lines:?}"
    );
    // The non-UTF-8 name is a data file like any other, exact in JSON.
    let r = validate(&store, &[]);
    let f: Vec<_> = r
        .kind("invalid_json")
        .into_iter()
        .filter(|f| f["file_bytes"].is_array())
        .collect();
    assert_eq!(f.len(), 1);
    let bytes: Vec<u8> = f[0]["file_bytes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap() as u8)
        .collect();
    assert_eq!(bytes, [b"v3/json/2025/08/01/00/".as_slice(), raw].concat());
    assert_eq!(f[0]["file"], "v3/json/2025/08/01/00/raw\u{fffd}name.jsonl");
    assert!(r.kind("unknown_file").is_empty());
    let (code, lines) = repair(&store, &["--apply", "--include-active"]);
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(repair_lines(&lines).len(), 2);
    assert_eq!(
        fs::read(dir.join(std::ffi::OsStr::from_bytes(raw))).unwrap(),
        good
    );
    assert_eq!(fs::read(dir.join(evil)).unwrap(), good);
    let (code, undo) = repair(&store, &["--undo", &run_id(&lines)]);
    assert_eq!(code, 0, "{undo:?}");
    assert_eq!(
        fs::read(dir.join(std::ffi::OsStr::from_bytes(raw))).unwrap(),
        bad
    );
}

#[test]
fn repair_wants_a_store_root_and_says_which() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    gen(&store, &["--damage", "truncated-tail"]);
    let root = store.canonicalize().unwrap();
    let out = ibstore()
        .args(["repair", "--apply", "--path"])
        .arg(store.join("v3"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "not a store root (it is inside the store {}; use --path {})",
            root.display(),
            root.display()
        )),
        "{err}"
    );
    assert!(!store.join("v3/.ibstore").exists());
    assert!(!store.join(".ibstore").exists());
    // A folder holding two stores.
    gen(&d.path().join("t"), &[]);
    let out = ibstore()
        .args(["repair", "--path"])
        .arg(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("it holds 2 stores (s, t); give one of them")
    );
    // A path that does not exist.
    let out = ibstore()
        .args(["repair", "--path"])
        .arg(d.path().join("nope"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).ends_with("nope: no such file or folder\n"));
}

#[test]
fn one_failing_file_does_not_stop_the_others() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    let inj = gen(
        &store,
        &[
            "--damage",
            "truncated-tail,garbage-line",
            "--contracts",
            "2",
        ],
    );
    let (a, b) = (store.join(&inj[0].file), store.join(&inj[1].file));
    let a_before = fs::read(&a).unwrap();
    // A folder where a's temp file must go: that step fails, even as root.
    fs::create_dir(ibstore::fsutil::temp_path(&a)).unwrap();
    let (code, lines) = repair(&store, &["--apply"]);
    assert_eq!(code, 1);
    let l = repair_lines(&lines);
    let status = |f: &str| {
        l.iter()
            .find(|x| x["file"] == f)
            .map(|x| x["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(status(&inj[0].file).as_deref(), Some("failed"));
    assert_eq!(status(&inj[1].file).as_deref(), Some("done"));
    assert_eq!(fs::read(&a).unwrap(), a_before);
    assert!(validate(&store, &[])
        .errors()
        .iter()
        .all(|e| e["file"] == inj[0].file.as_str()));
    let journal = fs::read_to_string(
        store
            .join(".ibstore/journal")
            .join(format!("{}.jsonl", run_id(&lines))),
    )
    .unwrap();
    assert!(journal.contains(&format!(
        "{{\"step\":\"failed\",\"file\":\"{}\"",
        inj[0].file
    )));
    assert!(journal.ends_with("{\"step\":\"end\"}\n"));
    let _ = b;
}

#[test]
fn misfiled_data_files_are_reported_and_still_read() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    gen(
        &store,
        &["--contracts", "1", "--tick-types", "last", "--hours", "1"],
    );
    let f = store.join("v3/json/2025/08/01/00/711280073_last_1754006400.jsonl");
    let body = fs::read(&f).unwrap();
    fs::write(store.join("v3/json/foo.jsonl"), &body).unwrap();
    fs::write(
        store.join("v3/json/2025/08/01/711280073_last_1754006400.jsonl"),
        &body,
    )
    .unwrap();
    fs::create_dir_all(store.join("v3/json/2025/08/01/00/old/x")).unwrap();
    fs::write(
        store.join("v3/json/2025/08/01/00/old/x/711280073_last_1754006400.jsonl"),
        &body,
    )
    .unwrap();
    let r = validate(&store, &[]);
    let mut bp: Vec<(String, String)> = r
        .kind("bad_partition")
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap().to_owned(),
                f["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    bp.sort();
    assert_eq!(
        bp,
        [
            (
                "v3/json/2025/08/01/00/old/x/711280073_last_1754006400.jsonl".to_owned(),
                "a data file in v3/json/2025/08/01/00/old/x, not inside a YYYY/MM/DD/HH partition folder; read all the same".to_owned()
            ),
            (
                "v3/json/2025/08/01/711280073_last_1754006400.jsonl".to_owned(),
                "a data file in v3/json/2025/08/01, not inside a YYYY/MM/DD/HH partition folder; read all the same".to_owned()
            ),
            (
                "v3/json/foo.jsonl".to_owned(),
                "a data file directly in v3/json, not inside a YYYY/MM/DD/HH partition folder; read all the same".to_owned()
            ),
        ]
    );
    assert_eq!(r.kind("bad_file_name").len(), 1, "foo is no v3 name");
    assert_eq!(r.summary()["records"].as_u64(), Some(400), "all four read");
    assert!(r.of_type("stream").iter().all(|s| s["base"] == "v3/json"));
}

#[test]
fn a_man_page_per_command_with_every_option() {
    let out = ibstore().args(["man", "validate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH ibstore-validate"), "{page}");
    for opt in ["max\\-gap", "strict", "repair", "jobs", "json"] {
        assert!(page.contains(opt), "{opt} in the validate page");
    }
    let d = tempdir().unwrap();
    let out = ibstore()
        .args(["man", "--out"])
        .arg(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let mut pages: Vec<String> = fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for p in [
        "ibstore.1",
        "ibstore-validate.1",
        "ibstore-repair.1",
        "ibstore-config-check.1",
        "ibstore-config-show.1",
        "ibstore-gen.1",
    ] {
        assert!(pages.contains(&p.to_owned()), "{p} in {pages:?}");
    }
    let repair = fs::read_to_string(d.path().join("ibstore-repair.1")).unwrap();
    for opt in [
        "apply",
        "undo",
        "include\\-active",
        "sort",
        "dedup",
        "normalize\\-eol",
        "relocate",
    ] {
        assert!(repair.contains(opt), "{opt} in the repair page");
    }
    let out = ibstore().args(["man", "nosuch"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("no man page for \"nosuch\"; pages: validate, repair"));
    // -h and --help tell the same story, of commands that exist.
    let short = String::from_utf8(ibstore().arg("-h").output().unwrap().stdout).unwrap();
    let long = String::from_utf8(ibstore().arg("--help").output().unwrap().stdout).unwrap();
    assert_eq!(
        short.lines().next(),
        long.lines().next().map(|l| l.trim_end_matches('.'))
    );
}

#[test]
fn undo_edge_cases() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    gen(
        &store,
        &[
            "--damage",
            "garbage-line,truncated-tail",
            "--contracts",
            "2",
        ],
    );
    let before = data(&store);
    let (_, lines) = repair(&store, &["--apply"]);
    let run = run_id(&lines);
    let (code, _) = repair(&store, &["--undo", &run]);
    assert_eq!(code, 0);
    assert_eq!(data(&store), before);
    // Twice: said, nothing changed, exit 0.
    let out = ibstore()
        .args(["repair", "--undo", &run, "--path"])
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains(&format!("run {run} was already undone: nothing to restore")));
    assert_eq!(data(&store), before);
    // Rewrite flags make no sense with --undo.
    let out = ibstore()
        .args(["repair", "--undo", &run, "--sort", "--path"])
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
    // A run killed after writing a temp file: undo removes it, says the
    // journal was incomplete, and exits 1.
    let mut killed = None;
    for k in 1..40 {
        let s = d.path().join(format!("k{k}"));
        copy_store(&store, &s);
        let _ = fs::remove_dir_all(s.join(".ibstore"));
        let out = ibstore()
            .args(["repair", "--apply", "--path"])
            .arg(&s)
            .env("IBSTORE_CRASH_AT", k.to_string())
            .output()
            .unwrap();
        let temps = snapshot(&s)
            .into_iter()
            .filter(|(p, _, _)| p.to_string_lossy().ends_with(".ibstore-tmp"))
            .count();
        if out.status.code().is_none() && temps == 1 {
            killed = Some(s);
            break;
        }
    }
    let s = killed.expect("a crash point after a temp file was written");
    let run = fs::read_dir(s.join(".ibstore/journal"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .to_string_lossy()
        .trim_end_matches(".jsonl")
        .to_owned();
    let (code, lines) = repair(&s, &["--undo", &run]);
    assert_eq!(code, 1, "{lines:?}");
    assert!(lines.iter().any(|l| l["kind"] == "journal_incomplete"));
    let rel = |root: &Path| -> Vec<(std::path::PathBuf, Vec<u8>)> {
        data(root)
            .into_iter()
            .map(|(p, b)| (p.strip_prefix(root).unwrap().to_owned(), b))
            .collect()
    };
    let (a, b) = (rel(&s), rel(&store));
    let differ: Vec<_> = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x != y)
        .map(|(x, y)| (x.0.clone(), x.1.len(), y.1.len()))
        .collect();
    assert!(
        a.len() == b.len() && differ.is_empty(),
        "temp file gone, data as before: {} vs {} files, differ {differ:?}",
        a.len(),
        b.len()
    );
}

#[test]
fn report_wording() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    gen(
        &store,
        &["--contracts", "1", "--tick-types", "last", "--hours", "1"],
    );
    let f = store.join("v3/json/2025/08/01/00/711280073_last_1754006400.jsonl");
    let mut b = fs::read(&f).unwrap();
    b.extend_from_slice(b"{\"ts\":1754006500000000,\"st\":1754006500000100,\"cid\":711280073,\"tt\":\"last\",\"rid\":1,\"p\":1.5,\"s\":1.0,\"zz\":3}\n");
    for _ in 0..25 {
        b.extend_from_slice(b"garbage\n");
    }
    fs::write(&f, &b).unwrap();
    let r = validate(&store, &[]);
    let k = r.kind("unknown_key");
    assert_eq!(
        k[0]["message"],
        "record has a key or field the format does not define: \"zz\""
    );
    // Record errors say what, the location says where (no "line N" twice).
    let j = r.kind("invalid_json");
    assert_eq!(j[0]["message"], "invalid JSON at column 1");
    let out = ibstore()
        .args(["validate", "--path"])
        .arg(&store)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[1].starts_with("1 data file, 101 records, ")
            && lines[1].ends_with(" bytes, 1 stream"),
        "{text}"
    );
    let more = lines
        .iter()
        .position(|l| l.contains("5 more invalid_json findings in this file not listed"))
        .unwrap();
    let last_json = lines
        .iter()
        .rposition(|l| l.starts_with("error[invalid_json]"))
        .unwrap();
    assert_eq!(more, last_json, "the 'more' line ends its file's list");
    assert!(text.contains(" @"), "{text}");
    assert!(!text.contains("line 3"), "{text}");
}

/// A repair run writes its lock, journal and quarantine only into real
/// folders of the store: a symbolic link planted at `.ibstore`, at its
/// lock, or at its journal or quarantine folder is refused before any data
/// file changes, and nothing outside the store is written or emptied.
#[test]
fn state_folders_and_lock_planted_as_symlinks_are_refused() {
    for planted in [
        ".ibstore",
        ".ibstore/lock",
        ".ibstore/journal",
        ".ibstore/quarantine",
    ] {
        let d = tempdir().unwrap();
        let store = d.path().join("s");
        gen(&store, &["--damage", "garbage-line"]);
        let outside = d.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        let victim = outside.join("victim");
        fs::write(&victim, b"precious\n").unwrap();
        fs::create_dir_all(store.join(".ibstore")).unwrap();
        let link = store.join(planted);
        if link.exists() {
            fs::remove_dir_all(&link).unwrap();
        }
        let target = if planted.ends_with("lock") {
            &victim
        } else {
            &outside
        };
        std::os::unix::fs::symlink(target, &link).unwrap();
        let data_before = data(&store);
        let outside_before = snapshot(&outside);
        let out = ibstore()
            .args(["repair", "--apply", "--path"])
            .arg(&store)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{planted}: {err}");
        assert!(
            err.contains("a symbolic link inside the store; ibstore never writes through one"),
            "{planted}: {err}"
        );
        assert_eq!(data(&store), data_before, "{planted}: no data file changed");
        assert_eq!(
            snapshot(&outside),
            outside_before,
            "{planted}: nothing outside written"
        );
        assert_eq!(fs::read(&victim).unwrap(), b"precious\n");
        assert_eq!(
            fs::read_dir(&outside).unwrap().count(),
            1,
            "{planted}: no folder made outside"
        );
    }
}

/// Only ibstore's own temp files (`NAME.ibstore-tmp` beside a data file
/// name) are stale temps, and repair moves them into the quarantine, never
/// deletes them; any other `*.ibstore-tmp` is an unknown file, left alone.
#[test]
fn stale_temps_are_quarantined_and_foreign_ones_left_alone() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    gen(&store, &[]);
    let first = data(&store)[0].0.clone();
    let ours = first.with_file_name(format!(
        "{}.ibstore-tmp",
        first.file_name().unwrap().to_string_lossy()
    ));
    let ours_rel = ours
        .strip_prefix(&store)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let foreign = store.join("notes.ibstore-tmp");
    fs::write(&ours, b"half a rewrite\n").unwrap();
    fs::write(&foreign, b"someone's notes\n").unwrap();

    let v = validate(&store, &[]);
    let stale = v.kind("stale_temp");
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0]["file"], ours_rel.as_str());
    let unknown: Vec<_> = v
        .kind("unknown_file")
        .iter()
        .map(|f| f["file"].clone())
        .collect();
    assert_eq!(unknown, vec![serde_json::json!("notes.ibstore-tmp")]);

    let (code, lines) = repair(&store, &[]);
    assert_eq!(code, 1, "a dry run with work to do exits 1");
    let dry: Vec<_> = lines.iter().filter(|l| l["kind"] == "stale_temp").collect();
    assert_eq!(dry.len(), 1);
    assert_eq!(dry[0]["file"], ours_rel.as_str());
    assert!(ours.exists(), "a dry run moves nothing");

    let (_, lines) = repair(&store, &["--apply"]);
    let run = run_id(&lines);
    let moved: Vec<_> = lines.iter().filter(|l| l["kind"] == "stale_temp").collect();
    assert_eq!(moved.len(), 1);
    let q = format!("quarantine/{run}/{ours_rel}.stale");
    assert_eq!(
        moved[0]["message"],
        format!("temp file of an interrupted ibstore write moved to .ibstore/{q}").as_str()
    );
    assert!(!ours.exists());
    assert_eq!(
        fs::read(store.join(".ibstore").join(&q)).unwrap(),
        b"half a rewrite\n"
    );
    assert_eq!(fs::read(&foreign).unwrap(), b"someone's notes\n");
}

/// A `.zst` file cut short by another process while it is read is a
/// change (`changed_during_run`), not a corrupt stream (`compression`).
#[test]
fn a_zstd_file_that_shrinks_mid_read_is_changed_not_corrupt() {
    let d = tempdir().unwrap();
    let store = big_store(d.path());
    let rel = "v3/json/2025/08/01/00/711280073_bid_ask_1754006400.jsonl";
    let plain = fs::read(store.join(rel)).unwrap();
    fs::write(
        store.join(format!("{rel}.zst")),
        zstd::encode_all(plain.as_slice(), 1).unwrap(),
    )
    .unwrap();
    fs::remove_file(store.join(rel)).unwrap();
    let out = ibstore()
        .args(["validate", "--json", "--jobs", "1", "--path"])
        .arg(&store)
        .env("IBSTORE_TEST_SHRINK", "1000")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out.stdout);
    let kinds: Vec<_> = lines
        .iter()
        .filter(|l| l["type"] == "finding" && l["severity"] == "error")
        .map(|l| (l["kind"].as_str().unwrap(), l["file"].as_str().unwrap()))
        .collect();
    let zrel = format!("{rel}.zst");
    assert_eq!(kinds, vec![("changed_during_run", zrel.as_str())]);
}

/// Undo restores nothing over a file that changed after the repair, and
/// says so in a finding that names the file once.
#[test]
fn undo_refuses_a_file_changed_after_the_repair() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    let inj = gen(&store, &["--damage", "garbage-line"]);
    let (code, lines) = repair(&store, &["--apply"]);
    assert_eq!(code, 0);
    let abs = store.join(&inj[0].file);
    let mut b = fs::read(&abs).unwrap();
    b.extend_from_slice(&b.clone()[..b.iter().position(|&c| c == b'\n').unwrap() + 1]);
    fs::write(&abs, &b).unwrap();
    let (code, undo) = repair(&store, &["--undo", &run_id(&lines)]);
    assert_eq!(code, 1);
    let refused: Vec<_> = undo
        .iter()
        .filter(|l| l["kind"] == "undo_refused")
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["file"], inj[0].file.as_str());
    assert_eq!(
        refused[0]["message"],
        "refused: the file changed after the repair (appended to or edited); not restored, to lose nothing"
    );
    assert_eq!(
        fs::read(&abs).unwrap(),
        b,
        "the changed file is left as it is"
    );
}

/// A data file in the other family's partition (`.jsonl` under
/// `protobuf/`, `.pb` under `json/`) is a warning naming both, and is read
/// by its extension.
#[test]
fn data_files_in_the_other_family_folder_are_warned_and_read() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    gen(
        &store,
        &["--contracts", "1", "--tick-types", "last", "--hours", "1"],
    );
    let name = "711280073_last_1754006400.jsonl";
    let body = fs::read(store.join("v3/json/2025/08/01/00").join(name)).unwrap();
    fs::create_dir_all(store.join("v3/protobuf/2025/08/01/00")).unwrap();
    fs::write(store.join("v3/protobuf/2025/08/01/00").join(name), &body).unwrap();
    let r = validate(&store, &[]);
    let f: Vec<_> = r.findings();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (
            f[0]["kind"].as_str(),
            f[0]["severity"].as_str(),
            f[0]["file"].as_str()
        ),
        (
            Some("format_mismatch"),
            Some("warning"),
            Some("v3/protobuf/2025/08/01/00/711280073_last_1754006400.jsonl")
        )
    );
    assert_eq!(f[0]["message"], "a file named .jsonl in the v3/protobuf folder, where .pb files belong: the recorder's readers of that folder skip it");
    assert_eq!(r.summary()["records"].as_u64(), Some(200));
}

/// A 0-byte `.zst` file is an empty file like any other: `empty_file`,
/// removed by repair, brought back by undo.
#[test]
fn a_zero_byte_zst_file_is_empty_not_corrupt() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    gen(
        &store,
        &["--contracts", "1", "--tick-types", "last", "--hours", "2"],
    );
    let rel = "v3/json/2025/08/01/00/711280073_last_1754006400.jsonl.zst";
    fs::write(store.join(rel), b"").unwrap();
    let r = validate(&store, &[]);
    let errors: Vec<_> = r
        .errors()
        .iter()
        .map(|f| (f["kind"].as_str().unwrap(), f["file"].as_str().unwrap()))
        .collect();
    assert_eq!(errors, vec![("empty_file", rel)]);
    let (code, lines) = repair(&store, &["--apply"]);
    assert_eq!(code, 0, "{lines:?}");
    assert!(!store.join(rel).exists());
    let (code, _) = repair(&store, &["--undo", &run_id(&lines)]);
    assert_eq!(code, 0);
    assert_eq!(fs::read(store.join(rel)).unwrap(), b"");
}

/// What a second hostile review broke: a lock that is a hard link to a file
/// outside or a FIFO, a protobuf file under a `.jsonl` name, a journal that
/// names a piece outside the quarantine, a huge journal.
#[test]
fn second_review_lock_links_fifos_foreign_files_and_forged_journals() {
    use std::os::unix::fs::MetadataExt as _;
    let d = tempdir().unwrap();
    // A hard link at the lock: refused, the outside file untouched.
    let store = d.path().join("s");
    gen(&store, &["--damage", "garbage-line"]);
    fs::create_dir_all(store.join(".ibstore")).unwrap();
    let outside = d.path().join("precious");
    fs::write(&outside, b"precious\n").unwrap();
    fs::hard_link(&outside, store.join(".ibstore/lock")).unwrap();
    let before = data(&store);
    let out = ibstore()
        .args(["repair", "--apply", "--path"])
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(
        "the lock is not a plain file of its own (a FIFO, device or hard link); remove it"
    ));
    assert_eq!(fs::read(&outside).unwrap(), b"precious\n");
    assert_eq!(data(&store), before);
    // A FIFO at the lock: refused at once, no hang.
    fs::remove_file(store.join(".ibstore/lock")).unwrap();
    assert!(std::process::Command::new("mkfifo")
        .arg(store.join(".ibstore/lock"))
        .status()
        .unwrap()
        .success());
    let out = ibstore()
        .args(["repair", "--apply", "--path"])
        .arg(&store)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    fs::remove_file(store.join(".ibstore/lock")).unwrap();

    // A protobuf file under a .jsonl name: left whole, not cut to nothing.
    let s2 = d.path().join("s2");
    gen(
        &s2,
        &[
            "--format",
            "v3-pb",
            "--contracts",
            "1",
            "--tick-types",
            "last",
            "--hours",
            "2",
        ],
    );
    let pb = s2.join("v3/protobuf/2025/08/01/00/711280073_last_1754006400.pb");
    let misnamed = pb.with_extension("jsonl");
    fs::rename(&pb, &misnamed).unwrap();
    let body = fs::read(&misnamed).unwrap();
    let v = validate(&s2, &[]);
    let mm: Vec<_> = v
        .kind("format_mismatch")
        .iter()
        .map(|f| f["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(mm, vec![
        "the name says JSON Lines, but the content is v3-pb; read as v3-pb (rename the file)".to_owned(),
        "a file named .jsonl in the v3/protobuf folder, where .pb files belong: the recorder's readers of that folder skip it".to_owned(),
    ]);
    assert_eq!(v.errors().len(), 0, "{:?}", v.errors());
    assert_eq!(
        v.summary()["records"].as_u64(),
        Some(200),
        "read by its content"
    );
    let (code, lines) = repair(&s2, &["--apply", "--include-active"]);
    assert_eq!((code, repair_lines(&lines).len()), (0, 0), "{lines:?}");
    assert_eq!(fs::read(&misnamed).unwrap(), body);
    // Garbage under a data name (no record decodes, not crash damage): left whole.
    let junk = s2.join("v3/protobuf/2025/08/01/01/711280073_last_1754010000.jsonl");
    fs::write(&junk, b"hello\nworld\n").unwrap();
    let (code, lines) = repair(&s2, &["--apply", "--include-active"]);
    assert_eq!(code, 1, "{lines:?}");
    let l = repair_lines(&lines);
    assert_eq!(l.len(), 1, "{l:?}");
    assert_eq!(l[0]["status"], "skipped");
    assert_eq!(
        l[0]["reason"],
        "not repairable: not one record in it decodes as v3-json: another format under this name? left whole"
    );
    assert_eq!(fs::read(&junk).unwrap(), b"hello\nworld\n");

    // A journal edited to read a "piece" from outside the quarantine.
    let s3 = d.path().join("s3");
    gen(&s3, &["--damage", "garbage-line"]);
    let (code, lines) = repair(&s3, &["--apply"]);
    assert_eq!(code, 0);
    let run = run_id(&lines);
    let jpath = s3.join(format!(".ibstore/journal/{run}.jsonl"));
    let j = fs::read_to_string(&jpath).unwrap();
    let piece = j
        .lines()
        .find(|l| l.contains("\"quarantine\""))
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .unwrap()["path"]
        .as_str()
        .unwrap()
        .to_owned();
    fs::copy(s3.join(".ibstore").join(&piece), d.path().join("piece.out")).unwrap();
    fs::write(&jpath, j.replace(&piece, "../../piece.out")).unwrap();
    let (code, undo) = repair(&s3, &["--undo", &run]);
    assert_eq!(code, 1);
    let refused: Vec<_> = undo
        .iter()
        .filter(|l| l["kind"] == "undo_refused")
        .collect();
    assert_eq!(refused.len(), 1, "{undo:?}");
    assert_eq!(
        refused[0]["message"],
        "refused: the journal names \"../../piece.out\", which is not in the quarantine"
    );

    // A journal of 600 MiB is refused before it is read.
    let big = s3.join(".ibstore/journal/20261128T000000Z-3.jsonl");
    fs::File::create(&big).unwrap().set_len(600 << 20).unwrap();
    let out = ibstore()
        .args(["repair", "--undo", "20261128T000000Z-3", "--path"])
        .arg(&s3)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a journal ibstore wrote"));
    assert_eq!(fs::metadata(&outside).unwrap().nlink(), 1);
}

/// A hard link or FIFO planted at a temp name is unlinked, never written
/// through: the new temp file is always a fresh file.
#[test]
fn a_temp_name_holding_a_hard_link_or_fifo_is_replaced_not_written_through() {
    use std::io::Write as _;
    let d = tempdir().unwrap();
    let target = d.path().join("x.jsonl");
    let outside = d.path().join("outside");
    fs::write(&outside, b"precious\n").unwrap();
    fs::hard_link(&outside, ibstore::fsutil::temp_path(&target)).unwrap();
    let mut t = ibstore::fsutil::Durable::temp_for(&target).unwrap();
    t.write_all(b"new\n").unwrap();
    let (tmp, _, _) = t.finish().unwrap();
    ibstore::fsutil::commit(&tmp, &target).unwrap();
    assert_eq!(fs::read(&outside).unwrap(), b"precious\n");
    assert_eq!(fs::read(&target).unwrap(), b"new\n");
    assert!(std::process::Command::new("mkfifo")
        .arg(ibstore::fsutil::temp_path(&target))
        .status()
        .unwrap()
        .success());
    let t = ibstore::fsutil::Durable::temp_for(&target).unwrap();
    assert!(fs::metadata(t.path()).unwrap().is_file());
}
