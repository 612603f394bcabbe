//! Helpers shared by the integration tests: run the real binary, generate
//! stores, and decode `--json` output.
#![allow(dead_code, clippy::unwrap_used)]

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The `ibstore` binary.
pub fn ibstore() -> Command {
    let mut c = Command::cargo_bin("ibstore").unwrap();
    c.env_remove("NO_COLOR");
    c
}

/// One injected fault as printed by `gen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub kind: String,
    pub file: String,
    pub offset: u64,
    pub len: u64,
}

/// Runs `ibstore gen --out DIR ARGS…` and returns the printed damage lines.
pub fn gen(dir: &Path, args: &[&str]) -> Vec<Damage> {
    let out = ibstore()
        .arg("gen")
        .arg("--out")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("damage\t"))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Damage {
                kind: f[0].into(),
                file: f[1].into(),
                offset: f[2].trim_start_matches("offset=").parse().unwrap(),
                len: f[3].trim_start_matches("len=").parse().unwrap(),
            }
        })
        .collect()
}

/// Parsed `validate --json` output.
#[derive(Debug)]
pub struct Report {
    pub code: i32,
    pub lines: Vec<Value>,
}

impl Report {
    pub fn of_type(&self, t: &str) -> Vec<&Value> {
        self.lines.iter().filter(|l| l["type"] == t).collect()
    }
    pub fn findings(&self) -> Vec<&Value> {
        self.of_type("finding")
    }
    pub fn summary(&self) -> &Value {
        self.lines.last().unwrap()
    }
    /// Findings of one kind.
    pub fn kind(&self, kind: &str) -> Vec<&Value> {
        self.findings()
            .into_iter()
            .filter(|f| f["kind"] == kind)
            .collect()
    }
    /// Findings at or above a severity.
    pub fn errors(&self) -> Vec<&Value> {
        self.findings()
            .into_iter()
            .filter(|f| f["severity"] == "error")
            .collect()
    }
}

/// Runs `ibstore validate --json --path P ARGS…`.
pub fn validate(path: &Path, args: &[&str]) -> Report {
    validate_measured(path, args).0
}

/// `validate` as [`validate`], with the peak RSS (KiB) of that one child.
pub fn validate_measured(path: &Path, args: &[&str]) -> (Report, i64) {
    let mut cmd = ibstore_std();
    cmd.arg("validate")
        .arg("--json")
        .arg("--path")
        .arg(path)
        .args(args);
    let (out, rss) = measured(cmd);
    let code = out.status.code().unwrap();
    assert!(
        code == 0 || code == 1,
        "validate could not run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = json_lines(&out.stdout);
    assert_eq!(lines[0]["type"], "begin");
    assert_eq!(lines.last().unwrap()["type"], "summary");
    assert_eq!(lines.last().unwrap()["exit_code"], code);
    (Report { code, lines }, rss)
}

/// `shared/fixtures-real` beside the repository, if present.
pub fn real_fixtures() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures-real");
    if p.is_dir() {
        Some(p)
    } else {
        // Written to the stderr handle, not eprintln!, so the test harness
        // does not capture it: a skipped conformance test says so in CI logs.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "skipped: {} is absent (the recorder's sample files live outside this repository)",
            p.display()
        );
        None
    }
}

/// Every file under `dir` with its bytes and modification time.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() {
                out.push((
                    e.path(),
                    std::fs::read(e.path()).unwrap(),
                    m.modified().unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// Parses a command's stdout as JSON Lines.
pub fn json_lines(stdout: &[u8]) -> Vec<Value> {
    std::str::from_utf8(stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Copies a store folder (`cp -a`, keeping mtimes and links).
pub fn copy_store(from: &Path, to: &Path) {
    assert!(std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap()
        .success());
}

/// Every data file (not .ibstore) with its bytes.
pub fn data(store: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    snapshot(store)
        .into_iter()
        .filter(|(p, _, _)| !p.strip_prefix(store).unwrap().starts_with(".ibstore"))
        .map(|(p, b, _)| (p, b))
        .collect()
}

/// Runs `ibstore repair --json --path STORE ARGS…`: (exit code, JSON lines).
pub fn repair(store: &Path, args: &[&str]) -> (i32, Vec<Value>) {
    let (code, lines, _) = repair_measured(store, args);
    (code, lines)
}

/// `repair` as [`repair`], with the peak RSS (KiB) of that one child.
pub fn repair_measured(store: &Path, args: &[&str]) -> (i32, Vec<Value>, i64) {
    let mut cmd = ibstore_std();
    cmd.args(["repair", "--json", "--path"])
        .arg(store)
        .args(args);
    let (out, rss) = measured(cmd);
    (
        out.status.code().unwrap_or(-1),
        json_lines(&out.stdout),
        rss,
    )
}

/// The `repair` lines of a repair report.
pub fn repair_lines(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|l| l["type"] == "repair").collect()
}

/// The run id a repair report names.
pub fn run_id(lines: &[Value]) -> String {
    lines.last().unwrap()["run"].as_str().unwrap().to_owned()
}

/// The `ibstore` binary as a plain `std` command (for [`measured`]).
pub fn ibstore_std() -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("ibstore"));
    c.env_remove("NO_COLOR");
    c
}

/// Runs a command to its end and returns its output and that process's own
/// peak RSS in KiB (`VmHWM`, printed by the debug hook
/// `IBSTORE_TEST_PEAK_RSS`; the kernel's rusage would count this large test
/// process's resident set as the child's).
pub fn measured(mut cmd: std::process::Command) -> (std::process::Output, i64) {
    let out = cmd.env("IBSTORE_TEST_PEAK_RSS", "1").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let kib = err
        .lines()
        .find_map(|l| l.strip_prefix("ibstore-test: peak-rss-kib "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS line in stderr: {err}"));
    (out, kib)
}

/// A command's exit code (-1 when killed) and its output as text.
pub struct Out {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `ibstore ARGS` in `dir`, aborting at crash point `crash` if given.
pub fn run(args: &[&str], dir: &Path, crash: Option<u64>) -> Out {
    let mut c = ibstore();
    c.current_dir(dir).args(args);
    if let Some(k) = crash {
        c.env("IBSTORE_CRASH_AT", k.to_string());
    }
    let o = c.output().unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8(o.stdout).unwrap(),
        stderr: String::from_utf8(o.stderr).unwrap(),
    }
}

/// A small tmpfs mounted at `dir` (to fill a disk or cross a filesystem),
/// unmounted on drop; `None` where mounting is not allowed.
pub fn mount_tmpfs(dir: &Path, size: &str) -> Option<Umount> {
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "none"])
        .arg(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| Umount(dir.to_path_buf()))
}

/// Bind-mounts `from` on `dir` (needs root); `None` where that fails.
pub fn mount_bind(from: &Path, dir: &Path) -> Option<Umount> {
    let ok = std::process::Command::new("mount")
        .arg("--bind")
        .arg(from)
        .arg(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| Umount(dir.to_path_buf()))
}

/// Unmounts its folder on drop.
pub struct Umount(PathBuf);

impl Drop for Umount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}
