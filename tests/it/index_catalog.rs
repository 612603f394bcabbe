//! The catalog as `query`'s list of files (new files still seen through
//! folder change stamps), contracts known only from record content (legacy v2),
//! the index lock, and trusting size+mtime+ctime on refresh.

use crate::common;

use common::{gen, ibstore, ibstore_std, json_lines, real_fixtures};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Sets every folder's mtime an hour back, so the catalog trusts them (a
/// folder changed within a second of indexing is always re-checked).
fn age_folders(dir: &Path) {
    let old = SystemTime::now() - Duration::from_secs(3600);
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
        std::fs::File::open(&d).unwrap().set_modified(old).unwrap();
    }
}

fn run(args: &[&str], store: &Path, extra: &[&str]) -> (i32, String, String) {
    let o = ibstore()
        .args(args)
        .arg("--path")
        .arg(store)
        .args(extra)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8(o.stdout).unwrap(),
        String::from_utf8(o.stderr).unwrap(),
    )
}

const Q: [&str; 9] = [
    "query",
    "--contract",
    "711280073",
    "--tick-type",
    "bid_ask",
    "--from",
    "2025-08-01T00:00Z",
    "--to",
    "2025-08-01T02:00Z",
];

#[test]
fn query_takes_its_files_from_the_catalog_and_still_sees_new_files() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    gen(
        &s,
        &[
            "--contracts",
            "1",
            "--hours",
            "2",
            "--records",
            "50",
            "--tick-types",
            "bid_ask",
        ],
    );
    let ix = t.path().join("ix");
    let ixs = ix.to_str().unwrap();
    age_folders(&s);
    assert_eq!(run(&["index"], &s, &["--index-dir", ixs]).0, 0);
    let (code, out, err) = run(&Q, &s, &["--index-dir", ixs]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 100);
    assert!(err.ends_with("; files from the catalog\n"), "{err}");
    // A new file in an hour folder: the folder's mtime moved, the store is
    // walked and the new file's record is in the answer.
    let new = s.join("v3/json/2025/08/01/01/711280073_bid_ask_1754010001.jsonl");
    std::fs::write(
        &new,
        "{\"ts\":1754010002000000,\"st\":1754010002000000,\"cid\":711280073,\"tt\":\"bid_ask\",\"rid\":1,\"bp\":1.0,\"bs\":1.0,\"ap\":2.0,\"as\":1.0}\n",
    )
    .unwrap();
    let (code, out, err) = run(&Q, &s, &["--index-dir", ixs]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 101);
    assert!(out.contains("\"ts\":1754010002000000,"));
    assert!(
        err.contains(
            "store walked: folder v3/json/2025/08/01/01 changed since the catalog was written\n"
        ),
        "{err}"
    );
    // Indexed again (folders aged): the catalog lists it.
    age_folders(&s);
    assert_eq!(run(&["index"], &s, &["--index-dir", ixs]).0, 0);
    let (_, out, err) = run(&Q, &s, &["--index-dir", ixs]);
    assert_eq!(out.lines().count(), 101);
    assert!(err.ends_with("; files from the catalog\n"), "{err}");
    // Data appended to a listed file (no folder changes): its index is
    // stale, the file is scanned, the record is in the answer.
    let f = s.join("v3/json/2025/08/01/00/711280073_bid_ask_1754006400.jsonl");
    let mut b = std::fs::read(&f).unwrap();
    b.extend_from_slice(b"{\"ts\":1754006401000000,\"st\":1754006401000000,\"cid\":711280073,\"tt\":\"bid_ask\",\"rid\":2,\"bp\":1.0,\"bs\":1.0,\"ap\":2.0,\"as\":1.0}\n");
    std::fs::write(&f, b).unwrap();
    let (_, out, err) = run(&Q, &s, &["--index-dir", ixs]);
    assert_eq!(out.lines().count(), 102);
    assert!(err.contains("index is stale (data appended ("), "{err}");
    assert!(err.ends_with("; files from the catalog\n"), "{err}");
    // Indexed again, then a new file whose folder gets its old mtime back
    // (`touch -r`, a restore tool): the folder's ctime still moved, so the
    // store is walked and the new record is in the answer.
    age_folders(&s);
    assert_eq!(run(&["index"], &s, &["--index-dir", ixs]).0, 0);
    let hour = s.join("v3/json/2025/08/01/01");
    let before = std::fs::metadata(&hour).unwrap().modified().unwrap();
    std::fs::write(
        hour.join("711280073_bid_ask_1754010003.jsonl"),
        "{\"ts\":1754010003000000,\"st\":1754010003000000,\"cid\":711280073,\"tt\":\"bid_ask\",\"rid\":1,\"bp\":1.0,\"bs\":1.0,\"ap\":2.0,\"as\":1.0}\n",
    )
    .unwrap();
    std::fs::File::open(&hour)
        .unwrap()
        .set_modified(before)
        .unwrap();
    assert_eq!(
        std::fs::metadata(&hour).unwrap().modified().unwrap(),
        before
    );
    let (code, out, err) = run(&Q, &s, &["--index-dir", ixs]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 103);
    assert!(out.contains("\"ts\":1754010003000000,"));
    assert!(
        err.contains(
            "store walked: folder v3/json/2025/08/01/01 changed since the catalog was written\n"
        ),
        "{err}"
    );
}

#[test]
fn contracts_known_only_from_records_are_queryable() {
    let Some(real) = real_fixtures() else { return };
    let s = real.join("ib-stream/test_storage");
    let t = tempfile::tempdir().unwrap();
    let ix = t.path().join("ix");
    let ixs = ix.to_str().unwrap();
    let q = |cid: &str, extra: &[&str]| {
        let mut a = vec![
            "query",
            "--contract",
            cid,
            "--tick-type",
            "bid_ask",
            "--from",
            "2025-07-10",
            "--to",
            "2025-07-11",
            "--index-dir",
            ixs,
            // The samples hold the same ticks as v2 JSON and v2 protobuf.
            "--source-format",
            "v2-json",
        ];
        a.extend_from_slice(extra);
        run(&a, &s, &[])
    };
    // No index: the files' names promise no contract, so they are scanned.
    let (code, before, err) = q("265598", &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(before.lines().count(), 17);
    assert!(before
        .lines()
        .all(|l| l.contains("\"cid\":265598,\"tt\":\"bid_ask\"")));
    assert!(
        err.contains(" 5 scanned; store walked: no catalog\n"),
        "{err}"
    );
    // Indexed: the records' contract is in the catalog.
    assert_eq!(run(&["index"], &s, &["--index-dir", ixs]).0, 0);
    let (code, after, err) = q("265598", &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(after, before);
    assert!(
        err.contains(" 5 read between index entries, 0 scanned"),
        "{err}"
    );
    let (code, out, err) = q("265599", &[]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert_eq!(
        err,
        "ibstore: error: unknown contract 265599: the store holds 265598\n"
    );
}

#[test]
fn two_index_runs_at_once_one_is_refused_as_locked() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    gen(&s, &["--contracts", "1", "--hours", "1", "--records", "20"]);
    let mut first = ibstore_std()
        .args(["index", "--path"])
        .arg(&s)
        .env("IBSTORE_TEST_HOLD_MS", "3000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first run holds the lock (its holder line is written).
    let lock = s.join(".ibstore/index/lock");
    for _ in 0..300 {
        if std::fs::read_to_string(&lock).is_ok_and(|l| l.contains("run=index")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let (code, out, err) = run(&["index"], &s, &[]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(
        err.starts_with("ibstore: error: the index folder is locked by another run (pid=")
            && err.contains(" run=index since=")
            && err.ends_with(&format!(
                "lock {}); wait for it to finish\n",
                lock.canonicalize().unwrap().display()
            )),
        "{err}"
    );
    assert!(first.wait().unwrap().success());
    // Released: the next run goes through.
    assert_eq!(run(&["index"], &s, &[]).0, 0);
}

#[test]
fn a_status_change_alone_is_confirmed_by_crc_then_trusted() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    gen(&s, &["--contracts", "1", "--hours", "1", "--records", "20"]);
    assert_eq!(run(&["index"], &s, &[]).0, 0);
    let f = s.join("v3/json/2025/08/01/00/711280073_bid_ask_1754006400.jsonl");
    let idx =
        s.join(".ibstore/index/files/v3/json/2025/08/01/00/711280073_bid_ask_1754006400.jsonl.idx");
    let before = std::fs::read(&idx).unwrap();
    // chmod moves the ctime only: the CRC-32 confirms the bytes, the index
    // is kept (not rebuilt, no finding) and restamped with the new ctime.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = ibstore()
        .args(["index", "--json", "--path"])
        .arg(&s)
        .output()
        .unwrap();
    let l = json_lines(&o.stdout);
    let sum = l.last().unwrap();
    assert_eq!(
        (sum["rebuilt"].as_u64(), sum["built"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(l.iter().all(|x| x["type"] != "finding"), "{l:?}");
    let after = std::fs::read(&idx).unwrap();
    assert_eq!(before.len(), after.len());
    assert_ne!(before, after, "the new ctime is recorded");
    // And now trusted unread: a third run leaves the index file as it is.
    assert_eq!(run(&["index"], &s, &[]).0, 0);
    assert_eq!(std::fs::read(&idx).unwrap(), after);
}

#[test]
fn stats_refreshes_a_stale_catalog_and_says_so() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    gen(
        &s,
        &[
            "--contracts",
            "1",
            "--hours",
            "1",
            "--records",
            "50",
            "--tick-types",
            "bid_ask",
        ],
    );
    let stats = || {
        let o = ibstore()
            .args(["stats", "--json", "--path"])
            .arg(&s)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0));
        let l = json_lines(&o.stdout);
        let total = l.last().unwrap()["records"].as_u64().unwrap();
        (total, String::from_utf8(o.stderr).unwrap())
    };
    age_folders(&s);
    assert_eq!(run(&["index"], &s, &[]).0, 0);
    assert_eq!(stats(), (50, String::new()));
    // A record appended: the catalog no longer describes the file.
    let f = s.join("v3/json/2025/08/01/00/711280073_bid_ask_1754006400.jsonl");
    let mut b = std::fs::read(&f).unwrap();
    b.extend_from_slice(b"{\"ts\":1754006401000000,\"st\":1754006401000000,\"cid\":711280073,\"tt\":\"bid_ask\",\"rid\":2,\"bp\":1.0,\"bs\":1.0,\"ap\":2.0,\"as\":1.0}\n");
    std::fs::write(&f, b).unwrap();
    let (n, err) = stats();
    assert_eq!(n, 51);
    assert!(
        err.starts_with(
            "ibstore: note: the catalog is stale (v3/json/2025/08/01/00/711280073_bid_ask_1754006400.jsonl: data appended ("
        ) && err.contains("); refreshing it in "),
        "{err}"
    );
    // A new file: its folder's mtime moved.
    age_folders(&s);
    assert_eq!(run(&["index"], &s, &[]).0, 0);
    std::fs::copy(
        &f,
        s.join("v3/json/2025/08/01/00/711280073_bid_ask_1754006401.jsonl"),
    )
    .unwrap();
    let (n, err) = stats();
    assert_eq!(n, 102);
    assert!(
        err.starts_with("ibstore: note: the catalog is stale (folder v3/json/2025/08/01/00 changed since the catalog was written); refreshing it in "),
        "{err}"
    );
}

#[test]
fn bench_gen_removes_what_killed_runs_left_behind() {
    let t = tempfile::tempdir().unwrap();
    let tmp = t.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // A process that is gone, and one that is alive (this test).
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let dead = c.id();
    c.wait().unwrap();
    let left = tmp.join(format!("ibstore-bench-{dead}-1754006400000000"));
    std::fs::create_dir_all(left.join("store/v3/json")).unwrap();
    std::fs::write(left.join("store/v3/json/x.jsonl"), b"{}\n").unwrap();
    std::fs::create_dir_all(left.join("work")).unwrap();
    let live = tmp.join(format!("ibstore-bench-{}-1", std::process::id()));
    std::fs::create_dir_all(live.join("store")).unwrap();
    // Named alike but holding something else: not ibstore's, kept.
    let other = tmp.join(format!("ibstore-bench-{dead}-2"));
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), b"mine").unwrap();
    let o = ibstore()
        .args(["bench", "--gen", "100KB", "--sample", "200"])
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want = vec![
        other.file_name().unwrap().to_str().unwrap().to_owned(),
        live.file_name().unwrap().to_str().unwrap().to_owned(),
    ];
    want.sort();
    assert_eq!(
        names, want,
        "the run's own scratch folder and the dead run's are gone"
    );
}

#[test]
fn a_symlinked_data_file_is_not_followed_and_query_index_stats_say_so() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    gen(
        &s,
        &[
            "--contracts",
            "1",
            "--hours",
            "2",
            "--records",
            "50",
            "--tick-types",
            "bid_ask",
        ],
    );
    let rel = "v3/json/2025/08/01/01/711280073_bid_ask_1754010000.jsonl";
    let outside = t.path().join("outside.jsonl");
    std::fs::rename(s.join(rel), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, s.join(rel)).unwrap();
    let note = format!(
        "ibstore: note: 1 symbolic link in the store not followed (first: {rel}); records behind it are not read (`validate` lists them)\n"
    );
    let (code, out, err) = run(&Q, &s, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 50);
    assert!(err.contains(&note), "{err}");
    let (code, _, err) = run(&["index"], &s, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&note), "{err}");
    std::fs::remove_dir_all(s.join(".ibstore")).unwrap();
    let (code, _, err) = run(&["stats"], &s, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&note), "{err}");
}

#[test]
fn hours_held_in_two_formats_need_source_format_and_eras_merge() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    gen(
        &s,
        &[
            "--format",
            "v3-json,v3-pb",
            "--contracts",
            "1",
            "--hours",
            "2",
            "--records",
            "50",
            "--tick-types",
            "bid_ask",
        ],
    );
    let (code, out, err) = run(&Q, &s, &[]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert_eq!(
        err,
        "ibstore: error: 2 hours of 711280073 bid_ask (first 2025/08/01/00) are stored in several formats (v3-json, v3-pb): choose one with --source-format (or `all` to read every copy)\n"
    );
    let mut outs = Vec::new();
    for f in ["v3-json", "v3-pb"] {
        let (code, out, err) = run(&Q, &s, &["--source-format", f]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.lines().count(), 100, "{f}");
        outs.push(out);
    }
    assert_eq!(outs[0], outs[1], "the same ticks from either format");
    let (code, out, _) = run(&Q, &s, &["--source-format", "all"]);
    assert_eq!((code, out.lines().count()), (0, 200));
    let (code, _, err) = run(&Q, &s, &["--source-format", "v2-json"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("hour 2025/08/01/00 of 711280073 bid_ask is stored in v3-json and v3-pb but not in v2-json"),
        "{err}"
    );
    // Eras: hour 00 only in v3 JSON, hour 01 only in v3 protobuf (a
    // migration between them): both are read, no choice needed.
    std::fs::remove_dir_all(s.join("v3/json/2025/08/01/01")).unwrap();
    std::fs::remove_dir_all(s.join("v3/protobuf/2025/08/01/00")).unwrap();
    let (code, out, err) = run(&Q, &s, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, outs[0]);
}
