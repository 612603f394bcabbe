//! `switch`, `rollback` and `history`: point a symbolic link such as
//! `storage-active` at another store, atomically, after validating it, and
//! keep a history of every switch beside the link.
//!
//! A switch: takes the link's lock (`<link>.lock`, `flock`), reads the
//! history (strictly: a damaged history stops everything), checks the link
//! and the target (a store, not empty, inside the link's folder, on the same
//! filesystem, not the current target and not nested in it), validates the
//! target (error findings refuse unless forced), runs compare's gate
//! against `--compare-with OLD` when asked (differences beyond the
//! allowances refuse unless forced), records the target's catalog checksum
//! ([`history::Catalog`]), writes the new history to
//! a temp file (so a full disk stops it before anything changes), makes the
//! new link under a temp name, renames it over the link, fsyncs the folder
//! ([`fsutil::replace_symlink`]), then renames the new history into place.
//! A run killed after the rename but before the history write leaves the
//! link switched; running the same command again records the missing entry.

pub mod history;
pub mod prune;

use crate::compare::allow::Allowance;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::report::{Finding, Severity};
use crate::scan::ScanOptions;
use crate::store::discover;
use history::{Catalog, CompareGate, Entry, Validation};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// A link and the files beside it.
#[derive(Debug, Clone)]
pub struct Link {
    /// The link (absolute: its folder canonicalized).
    pub path: PathBuf,
    /// Its folder (canonical).
    pub dir: PathBuf,
    /// Its history file.
    pub history: PathBuf,
}

impl Link {
    /// The link at `path` (its folder must exist).
    pub fn new(path: &Path) -> Result<Self> {
        let name = path
            .file_name()
            .ok_or_else(|| Error::Usage(format!("{}: not a link name", path.display())))?;
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = fs::canonicalize(parent).map_err(|e| Error::path(parent, e))?;
        let path = dir.join(name);
        Ok(Self {
            history: history::path_for(&path),
            path,
            dir,
        })
    }

    /// Where the link points now (absolute, canonical when it resolves);
    /// none when there is no link yet. A real folder or file is refused.
    pub fn current(&self) -> Result<Option<PathBuf>> {
        let m = match fs::symlink_metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::path(&self.path, e)),
        };
        if m.is_dir() {
            let p = self.path.display();
            return Err(Error::Unsafe {
                path: self.path.clone(),
                why: format!(
                    "a real folder, not a symbolic link; ibstore switches only links. To convert it safely: \
                     stop the recorder, `mv {p} {p}-store`, `ln -s {name}-store {p}`, start the recorder, \
                     then `ibstore switch --link {p} --to NEW`",
                    name = self.path.file_name().unwrap_or_default().to_string_lossy()
                ),
            });
        }
        if !m.file_type().is_symlink() {
            return Err(Error::Unsafe {
                path: self.path.clone(),
                why: "a file, not a symbolic link".into(),
            });
        }
        let t = fs::read_link(&self.path).map_err(|e| Error::path(&self.path, e))?;
        let abs = self.dir.join(t);
        Ok(Some(fs::canonicalize(&abs).unwrap_or(abs)))
    }

    /// Takes the link's lock (`<link>.lock`), so two switches cannot interleave.
    pub fn lock(&self) -> Result<File> {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        let path = self.path.with_file_name(name);
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|source| Error::Io {
                path: path.clone(),
                what: "open lock",
                source,
            })?;
        // A moment's grace: a process forked by this one (to run
        // something else) holds a copy of the descriptor until it execs.
        let mut tries = 0;
        let got = loop {
            match f.try_lock() {
                Err(TryLockError::WouldBlock) if tries < 20 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                r => break r,
            }
        };
        match got {
            Ok(()) => Ok(f),
            Err(TryLockError::WouldBlock) => Err(Error::Refused(format!(
                "another switch or rollback of {} is running (it holds {}); wait for it to finish",
                self.path.display(),
                path.display()
            ))),
            Err(TryLockError::Error(source)) => Err(Error::Io {
                path,
                what: "lock",
                source,
            }),
        }
    }
}

/// What a switch or rollback did.
#[derive(Debug)]
pub enum Outcome {
    /// The link was switched (or, `recorded`, it already pointed at the
    /// target after an interrupted run and only the history entry was written).
    Switched {
        /// The history entry written.
        entry: Box<Entry>,
        /// Only the missing history entry was written.
        recorded: bool,
    },
    /// The compare gate (`--compare-with`) found differences beyond the
    /// allowances and `force` was not given: nothing changed.
    Differs {
        /// The target.
        to: PathBuf,
        /// What compare found.
        compare: CompareGate,
    },
    /// The target has error findings and `force` was not given: nothing changed.
    Refused {
        /// The target.
        to: PathBuf,
        /// Its validation.
        validation: Validation,
        /// Its error findings.
        findings: Vec<Finding>,
    },
}

/// How to switch.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Switch despite error findings or a failed compare gate.
    pub force: bool,
    /// Run compare's gate of this old store against the target first.
    pub compare_with: Option<PathBuf>,
    /// Compare allowances for the gate.
    pub allow: Vec<Allowance>,
}

/// Points `link` at the store `to`.
pub fn switch(link: &Path, to: &Path, force: bool) -> Result<Outcome> {
    switch_with(
        link,
        to,
        &Options {
            force,
            ..Options::default()
        },
    )
}

/// Points `link` at the store `to`, with the compare gate when asked.
pub fn switch_with(link: &Path, to: &Path, o: &Options) -> Result<Outcome> {
    let link = Link::new(link)?;
    link.current()?;
    let _lock = link.lock()?;
    let hist = history::read(&link.history)?;
    let target = fs::canonicalize(to).map_err(|e| Error::path(to, e))?;
    run(&link, hist, "switch", target, o)
}

/// The targets the history leads through, oldest first, ending at the
/// current one: each switch pushes its target (the first also its `from`,
/// when the link existed before ibstore), each rollback pops back to its
/// target. A rollback goes to the one before the last.
pub fn chain(hist: &[Entry]) -> Vec<String> {
    let mut st: Vec<String> = Vec::new();
    for e in hist {
        if e.action == "rollback" {
            while st.len() > 1 && st.last() != Some(&e.to) {
                st.pop();
            }
            if st.last() != Some(&e.to) {
                st = vec![e.to.clone()];
            }
        } else {
            if st.is_empty() {
                st.extend(e.from.clone());
            }
            if st.last() != Some(&e.to) {
                st.push(e.to.clone());
            }
        }
    }
    st
}

/// Points `link` back at the target before the current one in its history
/// (each rollback goes one further back).
pub fn rollback(link: &Path, force: bool) -> Result<Outcome> {
    let link = Link::new(link)?;
    link.current()?;
    let _lock = link.lock()?;
    let hist = history::read(&link.history)?;
    if hist.is_empty() {
        return Err(Error::Refused(format!(
            "{} has no history ({}): nothing to roll back to",
            link.path.display(),
            link.history.display()
        )));
    }
    let chain = chain(&hist);
    let top = chain.last().cloned().unwrap_or_default();
    let Some(prev) = chain.len().checked_sub(2).map(|i| chain[i].clone()) else {
        return Err(Error::Refused(format!(
            "nothing older to roll back to: {top} is the oldest target in the history of {} ({}; the first switch created the link)",
            link.path.display(),
            crate::report::plural(hist.len() as u64, "entry", "entries")
        )));
    };
    let prev = PathBuf::from(prev);
    let cur = link.current()?;
    if cur.as_deref() != Some(prev.as_path()) && cur.as_deref() != Some(Path::new(&top)) {
        return Err(Error::Refused(format!(
            "{} points to {}, but its history's last switch went to {}: it was changed outside ibstore; use switch --to",
            link.path.display(),
            cur.map_or("nothing".into(), |c| c.display().to_string()),
            top
        )));
    }
    let target = fs::canonicalize(&prev).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Refused(format!(
            "the previous target {} no longer exists",
            prev.display()
        )),
        _ => Error::path(&prev, e),
    })?;
    run(
        &link,
        hist,
        "rollback",
        target,
        &Options {
            force,
            ..Options::default()
        },
    )
}

/// The history of `link`.
pub fn history(link: &Path) -> Result<(Link, Vec<Entry>)> {
    let link = Link::new(link)?;
    let h = history::read(&link.history)?;
    Ok((link, h))
}

fn run(
    link: &Link,
    hist: Vec<Entry>,
    action: &str,
    target: PathBuf,
    o: &Options,
) -> Result<Outcome> {
    let force = o.force;
    let cur = link.current()?;
    let refuse = |why: String| Error::Unsafe {
        path: target.clone(),
        why,
    };
    // The target: a store in the link's folder, on its filesystem.
    discover::store_root(&target)?;
    if !target.starts_with(&link.dir) || target == link.dir {
        return Err(refuse(format!(
            "outside the link's folder {}; a link switches between stores beside it",
            link.dir.display()
        )));
    }
    let dev = |p: &Path| {
        fs::metadata(p)
            .map(|m| m.dev())
            .map_err(|e| Error::path(p, e))
    };
    if dev(&target)? != dev(&link.dir)? {
        return Err(refuse(format!(
            "on another filesystem than the link's folder {}: the rename could not be atomic",
            link.dir.display()
        )));
    }
    let to = target.display().to_string();
    let recorded = cur.as_deref() == Some(target.as_path());
    if recorded && hist.last().is_some_and(|e| e.to == to) {
        return Err(Error::Refused(format!(
            "{} already points to {to}",
            link.path.display()
        )));
    }
    if let Some(c) = cur.as_deref().filter(|_| !recorded) {
        if c.starts_with(&target) || target.starts_with(c) {
            return Err(refuse(format!(
                "nested with the current target {}",
                c.display()
            )));
        }
    }
    let d = discover::discover(&target)?;
    if d.files.is_empty() {
        return Err(refuse("holds no data files".into()));
    }
    let catalog = Catalog::of(&d);
    let report = crate::validate::run(d, &ScanOptions::default(), &())?;
    let t = report.tally();
    let validation = Validation {
        files: report.files.len() as u64,
        records: report.records(),
        errors: t.errors,
        warnings: t.warnings,
    };
    if t.errors > 0 && !force && !recorded {
        return Ok(Outcome::Refused {
            to: target,
            validation,
            findings: report
                .findings
                .into_iter()
                .filter(|f| f.severity == Severity::Error)
                .collect(),
        });
    }
    let compare = match &o.compare_with {
        Some(old) => Some(gate(old, &target, &o.allow)?),
        None => None,
    };
    if let Some(c) = compare.as_ref().filter(|c| c.exit_code != 0) {
        if !force && !recorded {
            return Ok(Outcome::Differs {
                to: target,
                compare: c.clone(),
            });
        }
    }
    fsutil::crash_point();
    let from = if recorded {
        hist.last().map(|e| e.to.clone())
    } else {
        cur.map(|c| c.display().to_string())
    };
    let entry = Entry {
        action: action.into(),
        time: crate::time::display_us(crate::time::now_us()),
        user: user(),
        host: host(),
        from,
        to,
        validation,
        forced: force && (t.errors > 0 || compare.as_ref().is_some_and(|c| c.exit_code != 0)),
        catalog: Some(catalog),
        compare,
    };
    // The new history is written (and a full disk found) before the link
    // changes; it is renamed into place after.
    let tmp = history::prepare(&link.history, hist, entry.clone())?;
    fsutil::crash_point();
    if !recorded {
        let rel = target.strip_prefix(&link.dir).unwrap_or(&target);
        fsutil::replace_symlink(&link.path, rel)?;
    }
    fsutil::commit(&tmp, &link.history)?;
    Ok(Outcome::Switched {
        entry: Box::new(entry),
        recorded,
    })
}

/// Compare's gate: `old` against the target, as `ibstore compare` would.
fn gate(old: &Path, target: &Path, allow: &[Allowance]) -> Result<CompareGate> {
    let old = fs::canonicalize(old).map_err(|e| Error::path(old, e))?;
    let r = crate::compare::run(
        &crate::compare::Options {
            old: old.clone(),
            new: target.to_owned(),
            old_format: None,
            new_format: None,
            details: 0,
            allow: allow.to_vec(),
            scan: ScanOptions::default(),
        },
        &(),
    )?;
    let s = r.summary();
    Ok(CompareGate {
        old: old.display().to_string(),
        allow: allow.iter().map(|a| a.name().to_owned()).collect(),
        hours: s.hours,
        lost: s.lost,
        changed: s.changed,
        extra: s.extra,
        missing_hours: s.missing_hours,
        damaged_hours: s.damaged_hours,
        exit_code: s.exit_code,
    })
}

fn user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        // SAFETY: getuid has no preconditions.
        .unwrap_or_else(|| format!("uid {}", unsafe { libc::getuid() }))
}

fn host() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return "unknown".into();
    }
    let n = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(action: &str, from: Option<&str>, to: &str) -> Entry {
        Entry {
            action: action.into(),
            time: String::new(),
            user: String::new(),
            host: String::new(),
            from: from.map(Into::into),
            to: to.into(),
            validation: Validation::default(),
            forced: false,
            catalog: None,
            compare: None,
        }
    }

    #[test]
    fn the_chain_pushes_switches_and_pops_rollbacks() {
        let h = [
            e("switch", Some("/pre"), "/a"),
            e("switch", Some("/a"), "/b"),
            e("switch", Some("/b"), "/c"),
            e("rollback", Some("/c"), "/b"),
        ];
        assert_eq!(chain(&h), ["/pre", "/a", "/b"]);
        assert_eq!(chain(&h[..3]), ["/pre", "/a", "/b", "/c"]);
        let h = [e("switch", None, "/a"), e("rollback", Some("/a"), "/x")];
        assert_eq!(chain(&h), ["/x"], "a rollback off the chain restarts it");
        assert_eq!(chain(&[]), Vec::<String>::new());
    }
}
