//! `switch`, `rollback` and `history` on real folders: exact reports,
//! crash points at every step, a reader resolving the link while it is
//! switched, and every bad input refused with exit 2 and the link unchanged.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{gen, json_lines, run};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use tempfile::tempdir;

/// A folder with stores `a` (v3 JSON) and `b` (v3 protobuf), canonical.
fn stores() -> (tempfile::TempDir, PathBuf) {
    let d = tempdir().unwrap();
    let root = fs::canonicalize(d.path()).unwrap();
    gen(&root.join("a"), &["--hours", "1"]);
    gen(&root.join("b"), &["--hours", "1", "--format", "v3-pb"]);
    (d, root)
}

fn link_of(root: &Path) -> Option<String> {
    fs::read_link(root.join("act"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

fn history(root: &Path) -> Vec<Value> {
    let o = run(&["history", "--link", "act", "--json"], root, None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    json_lines(o.stdout.as_bytes())
        .into_iter()
        .filter(|l| l["type"] == "entry")
        .collect()
}

fn hops(h: &[Value]) -> Vec<(String, Option<String>, String)> {
    h.iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["from"]
                    .as_str()
                    .map(|s| s.rsplit('/').next().unwrap().to_owned()),
                e["to"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect()
}

fn hop(a: &str, from: Option<&str>, to: &str) -> (String, Option<String>, String) {
    (a.into(), from.map(Into::into), to.into())
}

#[test]
fn switch_rollback_and_history_report_exactly() {
    let (_d, root) = stores();
    let r = root.display();
    let o = run(&["switch", "--link", "act", "--to", "a"], &root, None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        o.stdout,
        format!(
            "ibstore switch: {r}/act\nvalidated {r}/a: 4 data files, 400 records, 0 errors, 0 warnings\n\
             catalog: 4 data files, 47330 bytes, {}\n\
             switched {r}/act: (no link) -> {r}/a\nhistory: {r}/act.history.jsonl\n",
            catalog_crc(&root.join("a"))
        )
    );
    assert_eq!(
        link_of(&root).as_deref(),
        Some("a"),
        "a relative link beside it"
    );
    let o = run(
        &["switch", "--link", "act", "--to", "b", "--json"],
        &root,
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let l = json_lines(o.stdout.as_bytes());
    assert_eq!(l.len(), 3);
    assert_eq!(l[0]["type"], "begin");
    assert_eq!(l[0]["command"], "switch");
    assert_eq!(l[1]["type"], "switch");
    assert_eq!(l[1]["from"], format!("{r}/a"));
    assert_eq!(l[1]["to"], format!("{r}/b"));
    assert_eq!(l[1]["recorded"], false);
    assert_eq!(
        l[1]["validation"],
        serde_json::json!({"files": 4, "records": 400, "errors": 0, "warnings": 0})
    );
    assert_eq!(l[2]["type"], "summary");
    assert_eq!(l[2]["exit_code"], 0);
    assert_eq!(link_of(&root).as_deref(), Some("b"));

    let o = run(&["rollback", "--link", "act"], &root, None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .contains(&format!("switched {r}/act: {r}/b -> {r}/a\n")),
        "{}",
        o.stdout
    );
    assert_eq!(link_of(&root).as_deref(), Some("a"));
    let h = history(&root);
    assert_eq!(
        hops(&h),
        vec![
            hop("switch", None, "a"),
            hop("switch", Some("a"), "b"),
            hop("rollback", Some("b"), "a")
        ]
    );
    for e in &h {
        assert!(!e["user"].as_str().unwrap().is_empty());
        assert!(!e["host"].as_str().unwrap().is_empty());
        assert!(e["time"].as_str().unwrap().ends_with('Z'));
    }
    let o = run(&["history", "--link", "act"], &root, None);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", o.stdout);
    assert_eq!(lines[0], format!("ibstore history: {r}/act"));
    assert!(lines[2].starts_with("2 "), "{}", lines[2]);
    assert!(
        lines[2].ends_with(&format!(
            "switch by {}@{}: {r}/a -> {r}/b (4 files, 400 records, 0 errors, 0 warnings) catalog {}",
            h[1]["user"].as_str().unwrap(),
            h[1]["host"].as_str().unwrap(),
            catalog_crc(&root.join("b"))
        )),
        "{}",
        lines[2]
    );
}

#[test]
fn a_target_with_errors_is_refused_unless_forced() {
    let (_d, root) = stores();
    gen(&root.join("bad"), &["--damage", "garbage-line"]);
    assert_eq!(
        run(&["switch", "--link", "act", "--to", "a"], &root, None).code,
        0
    );
    let o = run(&["switch", "--link", "act", "--to", "bad"], &root, None);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let r = root.display();
    assert!(
        o.stdout == (format!(
            "ibstore switch: {r}/act\nrefused: {r}/bad has 1 error finding (12 data files, 1200 records); the link is unchanged (--force to switch anyway)\n\nfindings:\nerror[invalid_json] v3/json/2025/08/01/01/711280073_bid_ask_1754010000.jsonl @6757 #51: invalid JSON at column 13\n"
        )),
        "{}",
        o.stdout
    );
    assert_eq!(link_of(&root).as_deref(), Some("a"));
    assert_eq!(history(&root).len(), 1);
    let o = run(
        &[
            "switch", "--link", "act", "--to", "bad", "--force", "--json",
        ],
        &root,
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(link_of(&root).as_deref(), Some("bad"));
    let h = history(&root);
    assert_eq!(h[1]["forced"], true);
    assert_eq!(h[1]["validation"]["errors"], 1);
}

/// Kills `args` at every crash point: the link always names a whole store
/// (`before` or `after`), the history always reads, and a re-run finishes
/// with the expected history.
fn crash_every_step(
    setup: &[&[&str]],
    args: &[&str],
    before: &str,
    after: &str,
    want: Vec<(String, Option<String>, String)>,
) -> u64 {
    let mut crashes = 0;
    for k in 1.. {
        let (_d, root) = stores();
        for s in setup {
            assert_eq!(run(s, &root, None).code, 0);
        }
        let o = run(args, &root, Some(k));
        let finished = o.code == 0;
        if !finished {
            assert_eq!(o.code, -1, "k={k}: killed: {}", o.stderr);
            crashes += 1;
            let now = link_of(&root).unwrap();
            assert!(now == before || now == after, "k={k}: {now}");
            assert!(root.join("act").join("v3").is_dir(), "k={k}: resolves");
            history(&root);
            let o = run(args, &root, None);
            assert_eq!(o.code, 0, "k={k}: re-run: {}{}", o.stdout, o.stderr);
        }
        assert_eq!(link_of(&root).as_deref(), Some(after), "k={k}");
        assert_eq!(hops(&history(&root)), want, "k={k}");
        let leftovers: Vec<_> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("ibstore-tmp"))
            .collect();
        assert_eq!(leftovers, Vec::<String>::new(), "k={k}");
        if finished {
            break;
        }
    }
    crashes
}

#[test]
fn switch_killed_at_every_step_leaves_a_whole_store_and_reruns() {
    let n = crash_every_step(
        &[&["switch", "--link", "act", "--to", "a"]],
        &["switch", "--link", "act", "--to", "b"],
        "a",
        "b",
        vec![hop("switch", None, "a"), hop("switch", Some("a"), "b")],
    );
    assert_eq!(n, 4, "validated, history temp, temp link, renamed");
}

#[test]
fn rollback_killed_at_every_step_leaves_a_whole_store_and_reruns() {
    let n = crash_every_step(
        &[
            &["switch", "--link", "act", "--to", "a"],
            &["switch", "--link", "act", "--to", "b"],
        ],
        &["rollback", "--link", "act"],
        "b",
        "a",
        vec![
            hop("switch", None, "a"),
            hop("switch", Some("a"), "b"),
            hop("rollback", Some("b"), "a"),
        ],
    );
    assert_eq!(n, 4);
}

/// Resolves `link/v3` in a tight loop until `stop`; returns the misses.
fn reader(
    link: PathBuf,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<(u64, u64)> {
    std::thread::spawn(move || {
        let (mut ok, mut missing) = (0u64, 0u64);
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            match fs::read_dir(link.join("v3")).map(|mut d| d.next().is_some()) {
                Ok(true) => ok += 1,
                _ => missing += 1,
            }
            std::thread::yield_now();
        }
        (ok, missing)
    })
}

#[test]
fn a_reader_never_sees_a_missing_link_during_many_switches() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let (_d, root) = stores();
    let link = root.join("act");
    ibstore::switch::switch(&link, &root.join("a"), false).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let r = reader(link.clone(), stop.clone());
    // Whole `ibstore switch` runs (validation, lock, history and all)...
    const N: usize = 200;
    let t0 = std::time::Instant::now();
    for i in 0..N {
        let to = if i % 2 == 0 { "b" } else { "a" };
        let o = run(&["switch", "--link", "act", "--to", to], &root, None);
        assert_eq!(o.code, 0, "{i}: {}", o.stderr);
    }
    assert_eq!(history(&root).len(), N + 1);
    // ...then 1,000 more swaps through the very step that moves the link
    // (`fsutil::replace_symlink`, which `switch` and `rollback` call), so
    // the reader races 1,200 switches in all (a whole run takes ~0.1-1 s
    // in a debug build; 1,000 of them would be minutes of CI).
    const M: usize = 1000;
    for i in 0..M {
        let to = if i % 2 == 0 { "b" } else { "a" };
        ibstore::fsutil::replace_symlink(&link, Path::new(to)).unwrap();
        assert_eq!(fs::read_link(&link).unwrap(), Path::new(to));
    }
    stop.store(true, Ordering::Relaxed);
    let (ok, missing) = r.join().unwrap();
    eprintln!("{} switches in {:?}: {ok} good reads", N + M, t0.elapsed());
    assert_eq!(missing, 0, "after {ok} good reads");
    assert!(ok > 0);
    assert!(!root.join("act.ibstore-tmp").exists());

    // What the test measures: the same reader against unlink-then-link
    // (what older `ln -sfn` releases do) sees no link. GNU coreutils 9.1
    // renames a temp link itself (strace shows symlinkat + renameat), so a
    // loop over it does not reproduce the miss; unlink+symlink does.
    unlink_then_link_leaves_a_reader_without_a_link(&link);
}

/// Keeps swapping with unlink+symlink until a reader misses (bounded).
fn unlink_then_link_leaves_a_reader_without_a_link(link: &Path) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    for _round in 0..200 {
        let stop = Arc::new(AtomicBool::new(false));
        let r = reader(link.to_path_buf(), stop.clone());
        for i in 0..1000 {
            fs::remove_file(link).unwrap();
            std::os::unix::fs::symlink(if i % 2 == 0 { "a" } else { "b" }, link).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        let (ok, missing) = r.join().unwrap();
        if missing > 0 {
            eprintln!("unlink+symlink: {missing} misses, {ok} good reads, round {_round}");
            return;
        }
    }
    panic!("unlink+symlink never left the reader without a link in 200,000 swaps");
}

#[test]
fn bad_inputs_exit_2_and_leave_the_link_alone() {
    let (_d, root) = stores();
    assert_eq!(
        run(&["switch", "--link", "act", "--to", "a"], &root, None).code,
        0
    );
    let hist0 = fs::read(root.join("act.history.jsonl")).unwrap();
    fs::create_dir(root.join("empty")).unwrap();
    fs::create_dir_all(root.join("nodata/v3")).unwrap();
    fs::create_dir(root.join("realdir")).unwrap();
    let outside = tempdir().unwrap();
    gen(&outside.path().join("c"), &["--hours", "1"]);
    let outside_c = outside.path().join("c");
    let r = root.display();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["switch", "--link", "act", "--to", "missing"],
            "missing: no such file or folder".into(),
        ),
        (
            vec!["switch", "--link", "act", "--to", "empty"],
            "empty: not a store root (no v2/, v3/, json/ or protobuf/ folder directly below it)".into(),
        ),
        (
            vec!["switch", "--link", "act", "--to", "nodata"],
            format!("{r}/nodata: refused: holds no data files"),
        ),
        (
            vec!["switch", "--link", "act", "--to", "a"],
            format!("refused: {r}/act already points to {r}/a"),
        ),
        (
            vec!["switch", "--link", "act", "--to", "a/v3"],
            format!("not a store root (it is inside the store {r}/a; use --path {r}/a)"),
        ),
        (
            vec!["switch", "--link", "act", "--to", outside_c.to_str().unwrap()],
            format!("refused: outside the link's folder {r}; a link switches between stores beside it"),
        ),
        (
            vec!["switch", "--link", "realdir", "--to", "b"],
            format!("{r}/realdir: refused: a real folder, not a symbolic link; ibstore switches only links. To convert it safely: stop the recorder, `mv {r}/realdir {r}/realdir-store`, `ln -s realdir-store {r}/realdir`, start the recorder, then `ibstore switch --link {r}/realdir --to NEW`"),
        ),
        (
            vec!["switch", "--link", "nofolder/act", "--to", "b"],
            "nofolder: no such file or folder".into(),
        ),
    ];
    for (args, want) in cases {
        let o = run(&args, &root, None);
        assert_eq!(o.code, 2, "{args:?}: {}{}", o.stdout, o.stderr);
        assert!(o.stderr.contains(&want), "{args:?}: {}", o.stderr);
        assert_eq!(o.stdout, "", "{args:?}");
        assert_eq!(link_of(&root).as_deref(), Some("a"), "{args:?}");
        assert_eq!(fs::read(root.join("act.history.jsonl")).unwrap(), hist0);
    }
    // Nothing to roll back to: the first switch made the link.
    let o = run(&["rollback", "--link", "act"], &root, None);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains(&format!(
            "nothing older to roll back to: {}/a is the oldest target in the history of {}/act (1 entry; the first switch created the link)",
            root.display(),
            root.display()
        )),
        "{}",
        o.stderr
    );
    // No history at all.
    let o = run(&["rollback", "--link", "other"], &root, None);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("has no history"), "{}", o.stderr);
    assert_eq!(link_of(&root).as_deref(), Some("a"));
}

#[test]
fn a_history_edited_or_truncated_stops_every_command() {
    let (_d, root) = stores();
    assert_eq!(
        run(&["switch", "--link", "act", "--to", "a"], &root, None).code,
        0
    );
    assert_eq!(
        run(&["switch", "--link", "act", "--to", "b"], &root, None).code,
        0
    );
    let hp = root.join("act.history.jsonl");
    let good = fs::read_to_string(&hp).unwrap();
    let r = root.display();
    let truncated = &good[..good.len() - 10];
    let edited = good.replacen("\"switch\"", "\"swap\"", 1);
    let extra = good.replacen("\"forced\":false,", "\"forced\":false,\"note\":1,", 1);
    for (bytes, why) in [
        (
            truncated.to_owned(),
            "line 2: the last line is cut short (no newline)",
        ),
        (edited, "line 1: unknown action \"swap\""),
        (extra, "line 1: not a history entry (unknown field `note`"),
    ] {
        fs::write(&hp, &bytes).unwrap();
        for args in [
            &["switch", "--link", "act", "--to", "a"][..],
            &["rollback", "--link", "act"],
            &["history", "--link", "act"],
        ] {
            let o = run(args, &root, None);
            assert_eq!(o.code, 2, "{args:?}");
            assert!(
                o.stderr
                    .starts_with(&format!("ibstore: error: {r}/act.history.jsonl: {why}")),
                "{args:?}: {}",
                o.stderr
            );
            assert_eq!(link_of(&root).as_deref(), Some("b"));
            assert_eq!(fs::read_to_string(&hp).unwrap(), bytes, "never rewritten");
        }
    }
}

#[test]
fn a_link_changed_by_hand_is_not_rolled_back_blindly() {
    let (_d, root) = stores();
    gen(&root.join("c"), &["--hours", "1"]);
    assert_eq!(
        run(&["switch", "--link", "act", "--to", "a"], &root, None).code,
        0
    );
    assert_eq!(
        run(&["switch", "--link", "act", "--to", "b"], &root, None).code,
        0
    );
    fs::remove_file(root.join("act")).unwrap();
    std::os::unix::fs::symlink("c", root.join("act")).unwrap();
    let o = run(&["rollback", "--link", "act"], &root, None);
    assert_eq!(o.code, 2);
    let r = root.display();
    assert!(o.stderr.contains(&format!("{r}/act points to {r}/c, but its history's last switch went to {r}/b: it was changed outside ibstore")), "{}", o.stderr);
    assert_eq!(link_of(&root).as_deref(), Some("c"));
    // A previous target that is gone.
    fs::remove_file(root.join("act")).unwrap();
    std::os::unix::fs::symlink("b", root.join("act")).unwrap();
    fs::rename(root.join("a"), root.join("a-gone")).unwrap();
    let o = run(&["rollback", "--link", "act"], &root, None);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr
            .contains(&format!("the previous target {r}/a no longer exists")),
        "{}",
        o.stderr
    );
    assert_eq!(link_of(&root).as_deref(), Some("b"));
}

#[test]
fn a_second_switch_waits_for_the_lock() {
    let (_d, root) = stores();
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(root.join("act.lock"))
        .unwrap();
    f.lock().unwrap();
    let o = run(&["switch", "--link", "act", "--to", "a"], &root, None);
    assert_eq!(o.code, 2);
    let r = root.display();
    assert!(
        o.stderr.contains(&format!(
            "another switch or rollback of {r}/act is running (it holds {r}/act.lock)"
        )),
        "{}",
        o.stderr
    );
    assert_eq!(link_of(&root), None);
    drop(f);
    assert_eq!(
        run(&["switch", "--link", "act", "--to", "a"], &root, None).code,
        0
    );
}

#[test]
fn a_target_on_another_filesystem_is_refused() {
    let (_d, root) = stores();
    let mnt = root.join("mnt");
    fs::create_dir(&mnt).unwrap();
    let Some(_u) = common::mount_tmpfs(&mnt, "8m") else {
        eprintln!("skipped: cannot mount a tmpfs here to put a store on another filesystem");
        return;
    };
    gen(&mnt.join("c"), &["--hours", "1"]);
    assert_eq!(
        run(&["switch", "--link", "act", "--to", "a"], &root, None).code,
        0
    );
    let o = run(&["switch", "--link", "act", "--to", "mnt/c"], &root, None);
    assert_eq!(o.code, 2);
    let r = root.display();
    assert!(o.stderr.contains(&format!("{r}/mnt/c: refused: on another filesystem than the link's folder {r}: the rename could not be atomic")), "{}", o.stderr);
    assert_eq!(link_of(&root).as_deref(), Some("a"));
}

#[test]
fn a_full_disk_stops_the_switch_before_the_link_changes() {
    let d = tempdir().unwrap();
    let root = fs::canonicalize(d.path()).unwrap().join("mnt");
    fs::create_dir(&root).unwrap();
    let Some(_u) = common::mount_tmpfs(&root, "1m") else {
        eprintln!("skipped: cannot mount a small tmpfs here to fill a disk");
        return;
    };
    gen(&root.join("a"), &["--hours", "1"]);
    gen(&root.join("b"), &["--hours", "1"]);
    assert_eq!(
        run(&["switch", "--link", "act", "--to", "a"], &root, None).code,
        0
    );
    let hist = fs::read(root.join("act.history.jsonl")).unwrap();
    // Fill the disk.
    let mut f = fs::File::create(root.join("filler")).unwrap();
    while std::io::Write::write_all(&mut f, &[0u8; 4096]).is_ok() {}
    drop(f);
    let o = run(&["switch", "--link", "act", "--to", "b"], &root, None);
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert_eq!(
        o.stderr,
        format!(
            "ibstore: error: {}/act.history.jsonl: write temp file: No space left on device (os error 28)\n",
            root.display()
        )
    );
    assert_eq!(o.stdout, "");
    assert_eq!(
        link_of(&root).as_deref(),
        Some("a"),
        "the link is unchanged"
    );
    assert_eq!(fs::read(root.join("act.history.jsonl")).unwrap(), hist);
    assert!(!root.join("act.history.jsonl.ibstore-tmp").exists());
    assert!(!root.join("act.ibstore-tmp").exists());
    // Room again: the switch goes through.
    fs::remove_file(root.join("filler")).unwrap();
    assert_eq!(
        run(&["switch", "--link", "act", "--to", "b"], &root, None).code,
        0
    );
    assert_eq!(link_of(&root).as_deref(), Some("b"));
}

#[test]
fn rollback_to_a_target_with_errors_is_refused_unless_forced() {
    let (_d, root) = stores();
    gen(&root.join("bad"), &["--damage", "garbage-line"]);
    assert_eq!(
        run(
            &["switch", "--link", "act", "--to", "bad", "--force"],
            &root,
            None
        )
        .code,
        0
    );
    assert_eq!(
        run(&["switch", "--link", "act", "--to", "a"], &root, None).code,
        0
    );
    let o = run(&["rollback", "--link", "act"], &root, None);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stdout.starts_with(&format!(
        "ibstore rollback: {r}/act\nrefused: {r}/bad has 1 error finding (12 data files, 1200 records); the link is unchanged",
        r = root.display()
    )), "{}", o.stdout);
    assert_eq!(link_of(&root).as_deref(), Some("a"));
    assert_eq!(history(&root).len(), 2);
    let o = run(&["rollback", "--link", "act", "--force"], &root, None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(link_of(&root).as_deref(), Some("bad"));
    let h = history(&root);
    assert_eq!(hops(&h)[2], hop("rollback", Some("a"), "bad"));
    assert_eq!(h[2]["forced"], true);
}

/// The catalog checksum `switch` records: CRC-32 over `rel NUL size LF` of
/// every data file, sorted by relative path (computed here independently).
fn catalog_crc(store: &Path) -> String {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u64)>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().unwrap() == ".ibstore" {
                continue;
            }
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, fs::metadata(&p).unwrap().len()));
            }
        }
    }
    let mut v = Vec::new();
    walk(store, store, &mut v);
    v.sort();
    let mut h = crc32fast::Hasher::new();
    for (rel, size) in &v {
        h.update(format!("{rel}\0{size}\n").as_bytes());
    }
    format!("crc32:{:08x}", h.finalize())
}

#[test]
fn compare_with_gates_the_switch_and_every_entry_has_a_catalog_checksum() {
    let (_d, root) = stores();
    let r = root.display();
    // c: b with its first hour of one stream gone.
    let o = std::process::Command::new("cp")
        .args(["-r", "b", "c"])
        .current_dir(&root)
        .status()
        .unwrap();
    assert!(o.success());
    let gone = "v3/protobuf/2025/08/01/00/265598_last_1754006400.pb";
    fs::remove_file(root.join("c").join(gone)).unwrap();
    assert_eq!(
        run(&["switch", "--link", "act", "--to", "a"], &root, None).code,
        0
    );
    let o = run(
        &[
            "switch",
            "--link",
            "act",
            "--to",
            "b",
            "--compare-with",
            "a",
        ],
        &root,
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains(&format!(
            "compared with {r}/a: 4 hours, 0 lost, 0 changed, 0 extra records, 0 missing hours, 0 damaged hours: gate passed\n"
        )),
        "{}",
        o.stdout
    );
    let o = run(
        &[
            "switch",
            "--link",
            "act",
            "--to",
            "c",
            "--compare-with",
            "b",
        ],
        &root,
        None,
    );
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains(&format!(
            "compared with {r}/b: 4 hours, 100 lost, 0 changed, 0 extra records, 1 missing hours, 0 damaged hours: gate failed\n\
             refused: {r}/c differs from {r}/b; the link is unchanged"
        )),
        "{}",
        o.stdout
    );
    assert_eq!(link_of(&root).as_deref(), Some("b"));
    assert_eq!(history(&root).len(), 2);
    // An allowance that does not cover a lost hour changes nothing.
    let o = run(
        &[
            "switch",
            "--link",
            "act",
            "--to",
            "c",
            "--compare-with",
            "b",
            "--allow",
            "mid-value",
        ],
        &root,
        None,
    );
    assert_eq!(o.code, 1);
    assert_eq!(link_of(&root).as_deref(), Some("b"));
    // --force switches and says so.
    let o = run(
        &[
            "switch",
            "--link",
            "act",
            "--to",
            "c",
            "--compare-with",
            "b",
            "--force",
        ],
        &root,
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(link_of(&root).as_deref(), Some("c"));
    let h = history(&root);
    assert_eq!(h.len(), 3);
    assert_eq!(h[0]["compare"], Value::Null);
    assert_eq!(h[1]["compare"]["exit_code"], 0);
    assert_eq!(h[1]["compare"]["old"], format!("{r}/a"));
    assert_eq!(h[1]["forced"], false);
    assert_eq!(
        h[2]["compare"],
        serde_json::json!({"old": format!("{r}/b"), "allow": [], "hours": 4, "lost": 100, "changed": 0,
            "extra": 0, "missing_hours": 1, "damaged_hours": 0, "exit_code": 1})
    );
    assert_eq!(h[2]["forced"], true);
    for (e, s, files) in [(&h[0], "a", 4), (&h[1], "b", 4), (&h[2], "c", 3)] {
        assert_eq!(e["catalog"]["files"], files, "{s}");
        assert_eq!(e["catalog"]["checksum"], catalog_crc(&root.join(s)), "{s}");
    }
    assert_ne!(h[1]["catalog"]["checksum"], h[2]["catalog"]["checksum"]);
    // --allow without --compare-with is bad usage.
    let o = run(
        &[
            "switch", "--link", "act", "--to", "a", "--allow", "v3-drops",
        ],
        &root,
        None,
    );
    assert_eq!(o.code, 2);
    assert_eq!(link_of(&root).as_deref(), Some("c"));
}

#[test]
fn rollback_walks_back_through_the_history_until_nothing_is_older() {
    let (_d, root) = stores();
    gen(&root.join("c"), &["--hours", "1", "--format", "v2-json"]);
    for t in ["a", "b", "c"] {
        assert_eq!(
            run(&["switch", "--link", "act", "--to", t], &root, None).code,
            0
        );
    }
    let r = root.display();
    for (from, to) in [("c", "b"), ("b", "a")] {
        let o = run(&["rollback", "--link", "act"], &root, None);
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert!(
            o.stdout
                .contains(&format!("switched {r}/act: {r}/{from} -> {r}/{to}\n")),
            "{}",
            o.stdout
        );
        assert_eq!(link_of(&root).as_deref(), Some(to));
    }
    let o = run(&["rollback", "--link", "act"], &root, None);
    assert_eq!(o.code, 2);
    assert_eq!(
        o.stderr,
        format!("ibstore: error: refused: nothing older to roll back to: {r}/a is the oldest target in the history of {r}/act (5 entries; the first switch created the link)\n")
    );
    assert_eq!(link_of(&root).as_deref(), Some("a"));
    // A new switch, then a rollback returns to where it came from; the
    // one after goes on down the chain left before (a is the oldest).
    assert_eq!(
        run(&["switch", "--link", "act", "--to", "c"], &root, None).code,
        0
    );
    assert_eq!(run(&["rollback", "--link", "act"], &root, None).code, 0);
    assert_eq!(link_of(&root).as_deref(), Some("a"));
    assert_eq!(
        hops(&history(&root)),
        vec![
            hop("switch", None, "a"),
            hop("switch", Some("a"), "b"),
            hop("switch", Some("b"), "c"),
            hop("rollback", Some("c"), "b"),
            hop("rollback", Some("b"), "a"),
            hop("switch", Some("a"), "c"),
            hop("rollback", Some("c"), "a"),
        ]
    );
    // The target before the current one must still validate and exist.
    assert_eq!(
        run(&["switch", "--link", "act", "--to", "b"], &root, None).code,
        0
    );
    fs::rename(root.join("a"), root.join("a-moved")).unwrap();
    let o = run(&["rollback", "--link", "act"], &root, None);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr
            .contains(&format!("the previous target {r}/a no longer exists")),
        "{}",
        o.stderr
    );
    assert_eq!(link_of(&root).as_deref(), Some("b"));
}

#[test]
fn history_keep_prunes_old_stores_dry_run_first_and_crash_safe() {
    let (_d, root) = stores();
    gen(&root.join("c"), &["--hours", "1"]);
    gen(&root.join("d"), &["--hours", "1"]);
    for t in ["a", "b", "c", "d"] {
        assert_eq!(
            run(&["switch", "--link", "act", "--to", t], &root, None).code,
            0
        );
    }
    let r = root.display();
    let size = |s: &str| -> u64 {
        fs::read_dir(root.join(s).join("v3/json/2025/08/01/00"))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    };
    let (sa, sb) = (size("a"), 26209u64);
    let o = run(&["history", "--link", "act", "--keep", "1"], &root, None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        o.stdout,
        format!(
            "ibstore history: {r}/act\nkeep {r}/d (current target)\nkeep {r}/c (previous target (rollback))\n\
             would delete {r}/b ({sb} bytes)\nwould delete {r}/a ({sa} bytes)\n\
             dry run: 2 stores would be deleted, {} bytes; run again with --apply\n",
            sa + sb
        )
    );
    assert!(
        root.join("a").is_dir() && root.join("b").is_dir(),
        "dry run"
    );
    // Killed after setting b aside: b is gone from its name, whole aside.
    let o = run(
        &["history", "--link", "act", "--keep", "1", "--apply"],
        &root,
        Some(1),
    );
    assert_eq!(o.code, -1, "{}", o.stderr);
    assert!(!root.join("b").exists());
    assert!(root.join("b.ibstore-prune/v3").is_dir());
    assert!(root.join("a").is_dir());
    let o = run(
        &[
            "history", "--link", "act", "--keep", "1", "--apply", "--json",
        ],
        &root,
        None,
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let l = json_lines(o.stdout.as_bytes());
    let acts: Vec<(String, String)> = l
        .iter()
        .filter(|x| x["type"] == "prune")
        .map(|x| {
            (
                x["action"].as_str().unwrap().to_owned(),
                x["path"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    let p = |a: &str, s: &str| (a.to_owned(), s.to_owned());
    assert_eq!(
        acts,
        vec![
            p("keep", "d"),
            p("keep", "c"),
            p("gone", "b"),
            p("deleted", "a")
        ]
    );
    assert_eq!(l.last().unwrap()["stores"], 1);
    let mut left: Vec<String> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["act", "act.history.jsonl", "act.lock", "c", "d"]);
    assert_eq!(link_of(&root).as_deref(), Some("d"));
    assert_eq!(history(&root).len(), 4, "the history is kept whole");
    // Rollback still has its previous target.
    assert_eq!(run(&["rollback", "--link", "act"], &root, None).code, 0);
    assert_eq!(link_of(&root).as_deref(), Some("c"));
    // --apply without --keep is bad usage.
    assert_eq!(
        run(&["history", "--link", "act", "--apply"], &root, None).code,
        2
    );
}

#[test]
fn history_keep_never_deletes_a_target_s_folder_or_paths_a_hand_edit_names() {
    let (_d, root) = stores();
    let r = root.display().to_string();
    let ok = |args: &[&str]| {
        let o = run(args, &root, None);
        assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
        o.stdout
    };
    ok(&["switch", "--link", "act", "--to", "a"]);
    ok(&["switch", "--link", "act", "--to", "b"]);
    // A store nested inside an older one becomes the current target.
    gen(&root.join("a/inner"), &["--hours", "1", "--seed", "3"]);
    ok(&["switch", "--link", "act", "--to", "a/inner"]);
    // A plain folder and a folder outside, named by a hand edit that is
    // still valid JSON.
    fs::create_dir(root.join("precious")).unwrap();
    fs::write(root.join("precious/notes.txt"), "keep me").unwrap();
    let h = root.join("act.history.jsonl");
    let text = fs::read_to_string(&h).unwrap();
    let first = text.lines().next().unwrap().to_owned();
    let forged =
        |to: &str| first.replace(&format!("\"to\":\"{r}/a\""), &format!("\"to\":\"{to}\""));
    let mut edited = String::new();
    for to in [
        format!("{r}/precious"),
        format!("{r}/b/v3"),
        format!("{r}/../x"),
    ] {
        edited.push_str(&forged(&to));
        edited.push('\n');
    }
    edited.push_str(&text);
    fs::write(&h, edited).unwrap();
    let out = ok(&["history", "--link", "act", "--keep", "0", "--apply"]);
    // Nothing was deletable: a holds the current target, b is the previous
    // one, the rest are not stores beside the link.
    assert!(
        out.contains(&format!(
            "keep {r}/a (holds or lies inside the current or previous target: never pruned)"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "keep {r}/precious (holds no tick data files: never pruned)"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "keep {r}/b/v3 (not a store directly beside the link in {r}: never pruned)"
        )),
        "{out}"
    );
    assert!(out.contains("0 stores deleted"), "{out}");
    assert!(root.join("a/inner/v3").is_dir() && root.join("b/v3").is_dir());
    assert_eq!(
        fs::read_to_string(root.join("precious/notes.txt")).unwrap(),
        "keep me"
    );
    let v = run(&["validate", "--path", "act"], &root, None);
    assert_eq!(v.code, 0, "{}", v.stdout);
}
