//! `backup`, `verify` and `restore`: a real copy of a store with a manifest
//! written last, a check of a copy against its manifest, and a restore that
//! moves the current store aside (never deleting it) before putting the
//! verified copy in its place.
//!
//! Each source file is read once: its bytes are copied ([`copy`]) into a
//! durable temp file, and the copy (just written, so from the page cache)
//! is scanned ([`crate::scan::scan`]) for the manifest's records and first
//! and last `ts`. Files appear under their final names one by one (temp,
//! fsync, rename); the manifest comes last, so a backup killed at any
//! instant has no manifest and [`verify`] calls it incomplete.

pub mod copy;
pub mod manifest;

use crate::error::{Error, Result};
use crate::fsutil;
use crate::progress::Progress;
use crate::report::Kind;
use crate::scan::{self, ScanOptions};
use crate::store::discover::{self, Found};
use crate::store::layout::DataFile;
use manifest::{FileEntry, Manifest};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

/// A file whose source changed while it was copied.
#[derive(Debug, Clone, Serialize)]
pub struct Changed {
    /// Relative path.
    pub path: String,
    /// Bytes in the backup.
    pub copied: u64,
    /// Bytes of the source after the last copy.
    pub source_size: u64,
    /// Whether it was still changing at the last copy, so the copy was cut
    /// at its last complete record.
    pub cut: bool,
}

/// What a backup did.
#[derive(Debug)]
pub struct BackupReport {
    /// The store copied (canonical).
    pub source: PathBuf,
    /// The backup folder.
    pub dest: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// Files that changed during the copy.
    pub changed: Vec<Changed>,
    /// Entries not copied (symbolic links, sockets…), relative paths.
    pub skipped: Vec<String>,
}

/// `storage` → `storage-<what>-YYYYMMDD-HHMMSS` beside it.
/// (`-2`, `-3`… appended when that name is taken).
pub fn sibling(path: &Path, what: &str) -> PathBuf {
    let stamp = crate::time::compact_stamp(crate::time::now_us().div_euclid(crate::time::US));
    (1..)
        .map(|i| {
            let mut name = path.file_name().unwrap_or_default().to_os_string();
            name.push(format!("-{what}-{stamp}"));
            if i > 1 {
                name.push(format!("-{i}"));
            }
            path.with_file_name(name)
        })
        .find(|p| fs::symlink_metadata(p).is_err())
        .unwrap_or_else(|| path.with_file_name(format!("{what}-{stamp}")))
}

/// An absolute path for a folder that may not exist yet (its parent must);
/// a last component that is a symbolic link is kept, not followed.
fn absolute(p: &Path) -> Result<PathBuf> {
    let Some(name) = p.file_name() else {
        return fs::canonicalize(p).map_err(|e| Error::path(p, e));
    };
    let parent = match p.parent() {
        Some(x) if !x.as_os_str().is_empty() => x,
        _ => Path::new("."),
    };
    Ok(fs::canonicalize(parent)
        .map_err(|e| Error::path(parent, e))?
        .join(name))
}

fn refuse_nested(a: &Path, b: &Path, what: &str) -> Result<()> {
    if a == b {
        return Err(Error::Refused(format!("{what}: both are {}", a.display())));
    }
    if a.starts_with(b) || b.starts_with(a) {
        return Err(Error::Refused(format!(
            "{what}: {} and {} are nested",
            a.display(),
            b.display()
        )));
    }
    Ok(())
}

/// A file's rel key and absolute path.
type Keyed = (String, PathBuf);

/// Every regular file under `root` as (rel key, absolute path), sorted,
/// and what was skipped. ibstore's temp files and a manifest are left out.
fn walk(root: &Path) -> Result<(Vec<Keyed>, Vec<String>)> {
    use std::os::unix::ffi::OsStrExt as _;
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut stack = vec![(root.to_path_buf(), PathBuf::new())];
    while let Some((dir, rel)) = stack.pop() {
        for e in fs::read_dir(&dir).map_err(|e| Error::path(&dir, e))? {
            let e = e.map_err(|e| Error::path(&dir, e))?;
            let r = rel.join(e.file_name());
            let raw = r.as_os_str().as_bytes();
            let key = fsutil::rel_key(&r.to_string_lossy(), Some(raw));
            let t = e.file_type().map_err(|x| Error::path(e.path(), x))?;
            if t.is_dir() {
                stack.push((e.path(), r));
            } else if t.is_file() {
                if key.ends_with(fsutil::TEMP_SUFFIX) || key == manifest::MANIFEST || key == CLAIM {
                    continue;
                }
                files.push((key, e.path()));
            } else {
                skipped.push(key);
            }
        }
    }
    files.sort();
    skipped.sort();
    Ok((files, skipped))
}

/// fsyncs every folder under `root` (and `root`): the renames of a copy
/// are durable before its manifest is written or it is renamed into place.
fn fsync_tree(root: &Path) -> Result<()> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).map_err(|e| Error::path(&d, e))? {
            let e = e.map_err(|e| Error::path(&d, e))?;
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
        fsutil::fsync_dir(&d)?;
    }
    Ok(())
}

/// The claim a backup folder carries from its first write: the source's
/// path. A killed backup (a claim, no manifest) resumes into the same
/// folder; any other non-empty folder is refused.
pub const CLAIM: &str = ".ibstore/backup.claim";

fn claim(dest: &Path, root: &Path) -> Result<()> {
    let p = dest.join(CLAIM);
    let dir = fsutil::parent_of(&p);
    fs::create_dir_all(dir).map_err(|e| Error::path(dir, e))?;
    fsutil::fsync_dir(dest)?;
    fsutil::create_durable(&p, root.display().to_string().as_bytes())
}

/// Resumes a backup into `dest` when it holds a claim for `root` and no
/// manifest: temp files and files the store no longer holds are removed;
/// the rest is copied again (each file by temp and rename).
fn resume(dest: &Path, root: &Path, files: &[Keyed]) -> Result<()> {
    let refuse = |why: String| Err(Error::Refused(format!("{} {why}", dest.display())));
    if manifest::path_in(dest).exists() {
        return refuse(
            "already holds a finished backup (it has a manifest); give a new --dest".into(),
        );
    }
    match fs::read(dest.join(CLAIM)) {
        Err(_) => return refuse("exists and is not empty; give a new --dest".into()),
        Ok(c) if c != root.display().to_string().as_bytes() => {
            return refuse(format!(
                "holds an interrupted backup of {}, not of {}; give a new --dest",
                String::from_utf8_lossy(&c),
                root.display()
            ))
        }
        Ok(_) => {}
    }
    let keep: std::collections::HashSet<&str> = files.iter().map(|(k, _)| k.as_str()).collect();
    let mut stack = vec![dest.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).map_err(|e| Error::path(&d, e))? {
            let e = e.map_err(|e| Error::path(&d, e))?;
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
                continue;
            }
            let rel = p
                .strip_prefix(dest)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            if rel != CLAIM && !keep.contains(rel.as_str()) {
                fs::remove_file(&p).map_err(|e| Error::path(&p, e))?;
            }
        }
    }
    Ok(())
}

/// CRC-32 and size of a file's bytes.
fn crc_of(path: &Path) -> Result<(u64, u32)> {
    use std::io::Read as _;
    let mut f = fs::File::open(path).map_err(|e| Error::path(path, e))?;
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(|source| Error::Io {
            path: path.to_owned(),
            what: "read",
            source,
        })?;
        if k == 0 {
            return Ok((n, h.finalize()));
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
}

/// Copies the store at `src` to `dest` (default: [`sibling`] `backup`).
pub fn backup(src: &Path, dest: Option<&Path>, progress: &dyn Progress) -> Result<BackupReport> {
    let root = discover::store_root(src)?;
    let d = discover::discover(&root)?;
    if d.files.is_empty() {
        return Err(Error::Refused(format!(
            "{} holds no data files: nothing to back up",
            root.display()
        )));
    }
    let dest = absolute(&dest.map_or_else(|| sibling(&root, "backup"), Path::to_path_buf))?;
    refuse_nested(&root, &dest, "the store and the backup must be apart")?;
    let (files, skipped) = walk(&root)?;
    match fs::symlink_metadata(&dest) {
        Ok(m) if !m.is_dir() => {
            return Err(Error::Refused(format!(
                "{} exists and is not a folder",
                dest.display()
            )))
        }
        Ok(_) => {
            if fs::read_dir(&dest)
                .map_err(|e| Error::path(&dest, e))?
                .next()
                .is_none()
            {
                claim(&dest, &root)?;
            } else {
                resume(&dest, &root, &files)?;
            }
        }
        Err(_) => {
            fs::create_dir(&dest).map_err(|source| Error::Io {
                path: dest.clone(),
                what: "create folder",
                source,
            })?;
            fsutil::fsync_dir(dest.parent().unwrap_or(Path::new("/")))?;
            claim(&dest, &root)?;
        }
    }
    let data: HashMap<PathBuf, DataFile> = d.files.into_iter().map(|f| (f.abs, f.file)).collect();
    progress.start(
        files
            .iter()
            .filter_map(|(_, p)| fs::metadata(p).ok())
            .map(|m| m.len())
            .sum(),
    );
    let opts = ScanOptions::default();
    let incomplete = |e: Error| Error::Incomplete {
        path: dest.clone(),
        why: e.to_string(),
    };
    let done: Vec<(FileEntry, Option<Changed>)> = files
        .par_iter()
        .map(|(key, abs)| {
            let dst = fsutil::resolve_in(&dest, key, true)?;
            let c = copy::copy_to_temp(abs, &dst, &|n| test_hook_grow(key, abs, n))?;
            let r = entry_for(key, data.get(abs), &c, &opts)?;
            fsutil::rename_deferred(&c.temp, &dst)?;
            progress.advance(c.size);
            fsutil::crash_point();
            Ok(r)
        })
        .collect::<Result<_>>()
        .map_err(incomplete)?;
    fsync_tree(&dest).map_err(incomplete)?;
    let mut entries = Vec::with_capacity(done.len());
    let mut changed = Vec::new();
    for (e, c) in done {
        entries.push(e);
        changed.extend(c);
    }
    let m = Manifest {
        version: manifest::VERSION,
        source: root.display().to_string(),
        created: crate::time::display_us(crate::time::now_us()),
        files: entries,
    };
    manifest::write(&dest, &m).map_err(incomplete)?;
    // The manifest marks it finished: the claim has served.
    fsutil::remove_durable(&dest.join(CLAIM)).map_err(incomplete)?;
    Ok(BackupReport {
        source: root,
        dest,
        manifest: m,
        changed,
        skipped,
    })
}

/// Debug builds only: `IBSTORE_TEST_GROW=REL` makes the file REL grow
/// while it is copied, as a live recorder would: after the first copy a
/// whole record (a copy of its first line) is appended, after the second
/// half of one, after the third the rest.
fn test_hook_grow(key: &str, abs: &Path, attempt: u32) {
    use std::io::Write as _;
    if !cfg!(debug_assertions) || std::env::var("IBSTORE_TEST_GROW").ok().as_deref() != Some(key) {
        return;
    }
    let Ok(b) = fs::read(abs) else { return };
    let Some(end) = b.iter().position(|&c| c == b'\n') else {
        return;
    };
    let line = &b[..=end];
    let half = line.len() / 2;
    let piece = match attempt {
        1 => line,
        2 => &line[..half],
        _ => &line[half..],
    };
    if let Ok(mut f) = fs::OpenOptions::new().append(true).open(abs) {
        let _ = f.write_all(piece);
    }
}

/// The manifest entry of a copied file: scans the copy of a data file, and
/// cuts a copy of a still-changing file at its last complete record.
pub fn entry_for(
    key: &str,
    data: Option<&DataFile>,
    c: &copy::Copied,
    opts: &ScanOptions,
) -> Result<(FileEntry, Option<Changed>)> {
    let mut e = FileEntry {
        path: key.to_owned(),
        size: c.size,
        crc32: c.crc32,
        records: None,
        first_ts: None,
        last_ts: None,
        changed: c.changed,
    };
    if let Some(df) = data {
        let found = Found {
            abs: c.temp.clone(),
            file: DataFile {
                size: c.size,
                ..df.clone()
            },
        };
        let s = scan::scan(&found, opts);
        e.records = Some(s.records);
        e.first_ts = s.first_ts;
        e.last_ts = s.last_ts;
        let tail = s
            .spans
            .last()
            .filter(|t| t.kind == Kind::TruncatedTail && t.offset + t.len == c.size);
        if let (true, Some(t), crate::format::Compression::None) =
            (c.still_changing, tail, df.ext.compression)
        {
            let f = fs::OpenOptions::new()
                .write(true)
                .open(&c.temp)
                .map_err(|e| Error::path(&c.temp, e))?;
            let io = |source| Error::Io {
                path: c.temp.clone(),
                what: "cut at the last complete record",
                source,
            };
            f.set_len(t.offset).map_err(io)?;
            f.sync_all().map_err(io)?;
            let (size, crc) = crc_of(&c.temp)?;
            e.size = size;
            e.crc32 = crc;
        }
    }
    let changed = c.changed.then(|| Changed {
        path: key.to_owned(),
        copied: e.size,
        source_size: c.source_size,
        cut: c.still_changing,
    });
    Ok((e, changed))
}

/// One difference between a backup and its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Relative path.
    pub path: String,
    /// `missing`, `size`, `crc32`, `records`, `ts`, `extra` or `unreadable`.
    pub what: &'static str,
    /// What the manifest says.
    pub expected: String,
    /// What is there.
    pub found: String,
}

/// What [`verify`] found.
#[derive(Debug)]
pub struct VerifyReport {
    /// The backup folder (canonical).
    pub root: PathBuf,
    /// Its manifest (none: the backup is incomplete).
    pub manifest: Option<Manifest>,
    /// Differences, sorted by path.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// Whether the backup is whole and matches its manifest.
    pub fn good(&self) -> bool {
        self.manifest.is_some() && self.problems.is_empty()
    }
}

/// Checks a backup against its manifest: every file there with its size,
/// CRC-32 and (data files, in the same read) records and first/last ts,
/// and no file that the manifest does not name.
pub fn verify(dir: &Path) -> Result<VerifyReport> {
    let root = fs::canonicalize(dir).map_err(|e| Error::path(dir, e))?;
    if !root.is_dir() {
        return Err(Error::Refused(format!(
            "{} is not a folder",
            root.display()
        )));
    }
    let Some(m) = manifest::read(&root)? else {
        return Ok(VerifyReport {
            root,
            manifest: None,
            problems: Vec::new(),
        });
    };
    let found: HashMap<PathBuf, Found> = discover::discover(&root)?
        .files
        .into_iter()
        .map(|f| (f.abs.clone(), f))
        .collect();
    let opts = ScanOptions {
        crc: true,
        ..ScanOptions::default()
    };
    let mut problems: Vec<Problem> = m
        .files
        .par_iter()
        .flat_map_iter(|e| check(&root, e, &found, &opts))
        .collect();
    let (files, skipped) = walk(&root)?;
    let named: std::collections::HashSet<&str> = m.files.iter().map(|e| e.path.as_str()).collect();
    for (key, _) in files {
        if !named.contains(key.as_str()) {
            problems.push(Problem {
                path: key,
                what: "extra",
                expected: "not in the manifest".into(),
                found: "a file".into(),
            });
        }
    }
    for key in skipped {
        problems.push(Problem {
            path: key,
            what: "extra",
            expected: "not in the manifest".into(),
            found: "not a regular file".into(),
        });
    }
    problems.sort_by(|a, b| a.path.cmp(&b.path).then(a.what.cmp(b.what)));
    Ok(VerifyReport {
        root,
        manifest: Some(m),
        problems,
    })
}

fn check(
    root: &Path,
    e: &FileEntry,
    found: &HashMap<PathBuf, Found>,
    opts: &ScanOptions,
) -> Vec<Problem> {
    let p = |what, expected: String, f: String| Problem {
        path: e.path.clone(),
        what,
        expected,
        found: f,
    };
    let abs = match fsutil::resolve_in(root, &e.path, false) {
        Ok(a) => a,
        Err(x) => return vec![p("unreadable", "a file".into(), x.to_string())],
    };
    let meta = match fs::symlink_metadata(&abs) {
        Ok(m) if m.is_file() => m,
        Ok(_) => return vec![p("missing", "a file".into(), "not a regular file".into())],
        Err(_) => return vec![p("missing", format!("{} bytes", e.size), "nothing".into())],
    };
    if meta.len() != e.size {
        return vec![p(
            "size",
            format!("{} bytes", e.size),
            format!("{} bytes", meta.len()),
        )];
    }
    let mut out = Vec::new();
    let crc = match (found.get(&abs), e.records) {
        (Some(f), Some(records)) => {
            let s = scan::scan(f, opts);
            if s.records != records {
                out.push(p("records", records.to_string(), s.records.to_string()));
            }
            if (s.first_ts, s.last_ts) != (e.first_ts, e.last_ts) {
                let span = |a: Option<i64>, b: Option<i64>| {
                    let t = |x: Option<i64>| x.map_or("none".into(), crate::time::display_us);
                    format!("{}..{}", t(a), t(b))
                };
                out.push(p(
                    "ts",
                    span(e.first_ts, e.last_ts),
                    span(s.first_ts, s.last_ts),
                ));
            }
            s.crc32.ok_or_else(|| "unreadable".to_string())
        }
        _ => crc_of(&abs).map(|(_, c)| c).map_err(|x| x.to_string()),
    };
    match crc {
        Ok(c) if c == e.crc32 => {}
        Ok(c) => out.insert(
            0,
            p("crc32", format!("{:08x}", e.crc32), format!("{c:08x}")),
        ),
        Err(x) => out.insert(0, p("unreadable", "a file".into(), x)),
    }
    out
}

/// What a restore did.
#[derive(Debug)]
pub struct RestoreReport {
    /// The backup (canonical).
    pub backup: PathBuf,
    /// The store restored.
    pub to: PathBuf,
    /// Where the store that was there went (never deleted).
    pub moved_aside: Option<PathBuf>,
    /// Files copied (all checked against the manifest).
    pub files: u64,
    /// Bytes copied.
    pub bytes: u64,
}

/// Restores the backup `backup` to `to`: verifies the backup, copies it
/// into a temp folder beside `to` (every file's size and CRC-32 checked
/// against the manifest), moves the store at `to` aside to
/// `<to>-failed-YYYYMMDD-HHMMSS`, then renames the copy into place.
pub fn restore(backup: &Path, to: &Path) -> Result<RestoreReport> {
    let v = verify(backup)?;
    let Some(m) = v.manifest.as_ref().filter(|_| v.problems.is_empty()) else {
        return Err(Error::Refused(format!(
            "the backup {} does not verify ({}); run ibstore verify --backup {}",
            v.root.display(),
            if v.manifest.is_none() {
                "no manifest: incomplete".to_owned()
            } else {
                crate::report::plural(v.problems.len() as u64, "problem", "problems")
            },
            v.root.display()
        )));
    };
    let to = absolute(to)?;
    match fs::symlink_metadata(&to) {
        Ok(x) if x.file_type().is_symlink() => {
            return Err(Error::Refused(format!(
            "{} is a symbolic link; restore to a new folder and `ibstore switch` the link to it",
            to.display()
        )))
        }
        Ok(x) if !x.is_dir() => {
            return Err(Error::Refused(format!("{} is not a folder", to.display())))
        }
        _ => {}
    }
    refuse_nested(&v.root, &to, "the backup and the store must be apart")?;
    let parent = to.parent().unwrap_or(Path::new("/")).to_path_buf();
    let tmp = fsutil::temp_path(&to);
    if fs::symlink_metadata(&tmp).is_ok() {
        // An interrupted restore's partial copy (ibstore's own temp name).
        fs::remove_dir_all(&tmp).map_err(|source| Error::Io {
            path: tmp.clone(),
            what: "remove an interrupted restore's temp folder",
            source,
        })?;
    }
    fs::create_dir(&tmp).map_err(|source| Error::Io {
        path: tmp.clone(),
        what: "create folder",
        source,
    })?;
    fsutil::fsync_dir(&parent)?;
    let bytes: u64 = m
        .files
        .par_iter()
        .map(|e| {
            let src = fsutil::resolve_in(&v.root, &e.path, false)?;
            let dst = fsutil::resolve_in(&tmp, &e.path, true)?;
            let c = copy::copy_to_temp(&src, &dst, &|_| {})?;
            if (c.size, c.crc32) != (e.size, e.crc32) || c.changed {
                return Err(Error::Refused(format!(
                    "{}: the copy does not match the manifest ({} bytes crc32 {:08x}, manifest {} bytes crc32 {:08x}); the store was not touched",
                    src.display(),
                    c.size,
                    c.crc32,
                    e.size,
                    e.crc32
                )));
            }
            fsutil::rename_deferred(&c.temp, &dst)?;
            fsutil::crash_point();
            Ok(c.size)
        })
        .sum::<Result<u64>>()?;
    fsync_tree(&tmp)?;
    fsutil::crash_point();
    let moved_aside = if fs::symlink_metadata(&to).is_ok() {
        let aside = sibling(&to, "failed");
        fs::rename(&to, &aside).map_err(|source| Error::Io {
            path: to.clone(),
            what: "move the current store aside",
            source,
        })?;
        fsutil::fsync_dir(&parent)?;
        fsutil::crash_point();
        Some(aside)
    } else {
        None
    };
    fs::rename(&tmp, &to).map_err(|source| Error::Io {
        path: to.clone(),
        what: "rename the restored copy into place",
        source,
    })?;
    fsutil::fsync_dir(&parent)?;
    Ok(RestoreReport {
        backup: v.root,
        to,
        moved_aside,
        files: m.files.len() as u64,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn one_file_store(dir: &Path) -> Found {
        let o = crate::gen::GenOptions {
            out: dir.join("s"),
            contracts: 1,
            tick_types: vec![crate::TickType::BidAsk],
            hours: 1,
            ..crate::gen::GenOptions::default()
        };
        crate::gen::generate(&o).unwrap();
        let mut d = discover::discover(&o.out).unwrap();
        assert_eq!(d.files.len(), 1);
        d.files.remove(0)
    }

    fn append(p: &Path, b: &[u8]) {
        let mut f = fs::OpenOptions::new().append(true).open(p).unwrap();
        f.write_all(b).unwrap();
    }

    #[test]
    fn a_file_still_growing_is_cut_at_its_last_complete_record() {
        let d = tempfile::tempdir().unwrap();
        let f = one_file_store(d.path());
        let orig = fs::read(&f.abs).unwrap();
        let first = &orig[..=orig.iter().position(|&b| b == b'\n').unwrap()];
        let half = first.len() / 2;
        let dst = d.path().join("copy.jsonl");
        // The recorder appends a record, then half of one, then the rest.
        let c = copy::copy_to_temp(&f.abs, &dst, &|attempt| match attempt {
            1 => append(&f.abs, first),
            2 => append(&f.abs, &first[..half]),
            _ => append(&f.abs, &first[half..]),
        })
        .unwrap();
        assert!(c.changed && c.still_changing);
        let whole = orig.len() + first.len();
        assert_eq!(
            c.size,
            (whole + half) as u64,
            "the third copy saw half a record"
        );
        assert_eq!(c.source_size, (whole + first.len()) as u64);
        let (e, ch) = entry_for("x.jsonl", Some(&f.file), &c, &ScanOptions::default()).unwrap();
        let now = fs::read(&f.abs).unwrap();
        assert_eq!(
            fs::read(&c.temp).unwrap(),
            &now[..whole],
            "cut at the record end"
        );
        assert_eq!(e.size, whole as u64);
        assert_eq!(e.crc32, crc32fast::hash(&now[..whole]));
        assert_eq!(e.records, Some(101));
        assert!(e.changed);
        let ch = ch.unwrap();
        assert_eq!(
            (ch.copied, ch.source_size, ch.cut),
            (whole as u64, c.source_size, true)
        );
    }

    #[test]
    fn a_file_that_changed_once_is_copied_again_whole() {
        let d = tempfile::tempdir().unwrap();
        let f = one_file_store(d.path());
        let orig = fs::read(&f.abs).unwrap();
        let dst = d.path().join("copy.jsonl");
        let c = copy::copy_to_temp(&f.abs, &dst, &|attempt| {
            if attempt == 1 {
                append(&f.abs, &orig[..10]);
            }
        })
        .unwrap();
        assert!(c.changed && !c.still_changing);
        assert_eq!(fs::read(&c.temp).unwrap(), fs::read(&f.abs).unwrap());
        let (e, _) = entry_for("x.jsonl", Some(&f.file), &c, &ScanOptions::default()).unwrap();
        assert_eq!(
            e.size,
            orig.len() as u64 + 10,
            "a partial tail that stopped changing is kept"
        );
    }
}
