//! Finds every data file under a path, in parallel, without following
//! symbolic links, and reports what is not data.

use super::layout::{classify, DataFile};
use crate::error::{Error, Result};
use crate::format::Extension;
use crate::report::{Finding, Kind, Severity};
use rayon::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};

/// ibstore's own state folder inside a store (quarantine, journal, indices).
pub const STATE_DIR: &str = ".ibstore";

/// A data file with its on-disk path.
#[derive(Debug, Clone)]
pub struct Found {
    /// Absolute path.
    pub abs: PathBuf,
    /// Classification.
    pub file: DataFile,
}

/// What discovery found.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Bytes of all data files (for progress).
    pub total_bytes: u64,
    /// Canonical scan root.
    pub root: PathBuf,
    /// Data files, sorted by report path.
    pub files: Vec<Found>,
    /// Findings about non-data entries.
    pub findings: Vec<Finding>,
    /// Every folder walked ([`crate::fsutil::rel_key`] of its path, `""`
    /// for the root) with its change stamp ([`folder_stamp_ns_of`], the
    /// ctime) in ns taken before it was listed, so a later entry added or
    /// removed shows as a newer stamp, even when the folder's mtime is set
    /// back (the catalog keeps them to notice new files without a walk).
    pub folders: Vec<(String, i64)>,
}

fn known_folder(name: &str) -> bool {
    matches!(name, "v2" | "v3" | "json" | "protobuf")
        || (matches!(name.len(), 2 | 4) && name.bytes().all(|b| b.is_ascii_digit()))
}

/// Layout folders directly below a store root (spec §2).
const LAYOUT_DIRS: [&str; 4] = ["v2", "v3", "json", "protobuf"];

/// Whether `p` is a store root: a folder, not itself a layout folder, with
/// a layout folder directly below it.
fn is_root(p: &Path) -> bool {
    let own = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    !LAYOUT_DIRS.contains(&own)
        && LAYOUT_DIRS
            .iter()
            .any(|d| fs::symlink_metadata(p.join(d)).is_ok_and(|m| m.is_dir()))
}

/// The store root for a command that changes a store: `path` itself (a
/// symbolic link such as `storage-active` is resolved) when it holds the
/// layout folders `v2/`, `v3/`, `json/` or `protobuf/` directly. Anything
/// else is refused, naming the root that was probably meant.
pub fn store_root(path: &Path) -> Result<PathBuf> {
    let root = fs::canonicalize(path).map_err(|e| Error::path(path, e))?;
    let refuse = |why: String| Error::NotStoreRoot {
        path: path.to_owned(),
        why,
    };
    if !root.is_dir() {
        return Err(refuse(
            "a file; give the folder that holds v2/, v3/, json/ or protobuf/".into(),
        ));
    }
    if is_root(&root) {
        return Ok(root);
    }
    if let Some(up) = root.ancestors().skip(1).find(|a| is_root(a)) {
        return Err(refuse(format!(
            "it is inside the store {}; use --path {}",
            up.display(),
            up.display()
        )));
    }
    let mut stores: Vec<String> = fs::read_dir(&root)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()) && is_root(&e.path()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    stores.sort();
    if !stores.is_empty() {
        return Err(refuse(format!(
            "it holds {} stores ({}); give one of them",
            stores.len(),
            stores.join(", ")
        )));
    }
    Err(refuse(
        "no v2/, v3/, json/ or protobuf/ folder directly below it".into(),
    ))
}

/// Discovers data files under `path` (a store root, any folder in it, or one
/// file). The root itself may be a symlink (e.g. `storage-active`).
pub fn discover(path: &Path) -> Result<Discovery> {
    let root = fs::canonicalize(path).map_err(|e| Error::path(path, e))?;
    let meta = fs::metadata(&root).map_err(|e| Error::path(path, e))?;
    let mut d = Discovery {
        root: root.clone(),
        ..Discovery::default()
    };
    if meta.is_file() {
        let name = root
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_owned();
        match Extension::from_path(&root) {
            Some(ext) => {
                d.total_bytes = meta.len();
                d.files.push(Found {
                    file: classify(&root, name, ext, meta.len()),
                    abs: root,
                })
            }
            None => d.findings.push(Finding::new(
                Kind::UnknownFile,
                &name,
                "not a data file (.jsonl, .pb, .jsonl.zst, .pb.zst)",
            )),
        }
        return Ok(d);
    }
    let (files, findings, mut folders) = walk(&root, &root, "", Path::new(""));
    folders.sort();
    d.folders = folders;
    d.files = files;
    d.files.sort_by(|a, b| a.file.rel.cmp(&b.file.rel));
    d.findings = findings;
    d.total_bytes = d.files.iter().map(|f| f.file.size).sum();
    Ok(d)
}

fn join(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_owned()
    } else {
        format!("{rel}/{name}")
    }
}

/// The exact bytes of a relative path whose name is not UTF-8 (its report
/// path is then lossy), for the `file_bytes` of findings.
fn raw_bytes(raw: &Path) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt as _;
    raw.to_str()
        .is_none()
        .then(|| raw.as_os_str().as_bytes().to_vec())
}

/// mtime of a path in ns since the epoch (0: unknown).
pub fn mtime_ns_of(m: &fs::Metadata) -> i64 {
    use std::os::unix::fs::MetadataExt as _;
    m.mtime().saturating_mul(1_000_000_000) + m.mtime_nsec()
}

/// A folder's change stamp in ns: its ctime, which moves with every entry
/// added, removed or renamed (as the mtime does) and also when its times
/// are set back (`touch -r`, a restore tool), which no call can undo.
pub fn folder_stamp_ns_of(m: &fs::Metadata) -> i64 {
    use std::os::unix::fs::MetadataExt as _;
    m.ctime().saturating_mul(1_000_000_000) + m.ctime_nsec()
}

type Walked = (Vec<Found>, Vec<Finding>, Vec<(String, i64)>);

fn walk(root: &Path, dir: &Path, rel: &str, raw: &Path) -> Walked {
    let mut files = Vec::new();
    let mut findings = Vec::new();
    let mut folders = Vec::new();
    let mtime = fs::symlink_metadata(dir).map_or(0, |m| folder_stamp_ns_of(&m));
    folders.push((
        crate::fsutil::rel_key(rel, raw_bytes(raw).as_deref()),
        mtime,
    ));
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            findings.push(
                Finding::new(Kind::Unreadable, rel, format!("cannot list folder: {e}"))
                    .bytes(raw_bytes(raw)),
            );
            return (files, findings, folders);
        }
    };
    let mut subdirs = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                findings.push(
                    Finding::new(Kind::Unreadable, rel, format!("cannot list folder: {e}"))
                        .bytes(raw_bytes(raw)),
                );
                continue;
            }
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let erel = join(rel, &name);
        let eraw = raw.join(entry.file_name());
        let bytes = raw_bytes(&eraw);
        let named = |f: Finding| f.bytes(bytes.clone());
        let ft = match entry.file_type() {
            Ok(t) => t,
            Err(e) => {
                findings.push(named(Finding::new(
                    Kind::Unreadable,
                    &erel,
                    format!("cannot stat: {e}"),
                )));
                continue;
            }
        };
        if ft.is_symlink() {
            findings.push(named(symlink_finding(root, &path, &erel)));
        } else if ft.is_dir() {
            if name == STATE_DIR && rel.is_empty() {
                continue;
            }
            if Extension::from_path(&path).is_some() {
                findings.push(named(Finding::new(
                    Kind::FolderNamedLikeData,
                    &erel,
                    "a folder is named like a data file; its contents are scanned",
                )));
            } else if !known_folder(&name) {
                findings.push(named(Finding::new(
                    Kind::UnknownFolder,
                    &erel,
                    "folder outside the IB-Stream layout; its contents are scanned",
                )));
            }
            subdirs.push((path, erel, eraw));
        } else if !ft.is_file() {
            findings.push(named(
                Finding::new(
                    Kind::UnknownFile,
                    &erel,
                    "not a regular file (a device, FIFO or socket); not opened",
                )
                .severity(Severity::Warning),
            ));
        } else if let Some(ext) = Extension::from_path(&path) {
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            let mut file = classify(&path, erel, ext, size);
            file.raw = bytes;
            files.push(Found { file, abs: path });
        } else if is_stale_temp(&path) {
            findings.push(named(Finding::new(
                Kind::StaleTemp,
                &erel,
                "temp file of an interrupted ibstore write; repair --apply moves it to the quarantine",
            )));
        } else {
            findings.push(named(Finding::new(
                Kind::UnknownFile,
                &erel,
                "not a data file (.jsonl, .pb, .jsonl.zst, .pb.zst)",
            )));
        }
    }
    let nested: Vec<_> = subdirs
        .par_iter()
        .map(|(p, r, w)| walk(root, p, r, w))
        .collect();
    for (f, g, d) in nested {
        files.extend(f);
        findings.extend(g);
        folders.extend(d);
    }
    (files, findings, folders)
}

fn symlink_finding(root: &Path, link: &Path, rel: &str) -> Finding {
    match fs::canonicalize(link) {
        Ok(target) if target.starts_with(root) => Finding::new(Kind::Symlink, rel, format!("symbolic link to {} inside the store; not followed (the target is scanned where it lies)", target.display())),
        Ok(target) => Finding::new(Kind::Symlink, rel, format!("symbolic link out of the store to {}; not followed", target.display())).severity(Severity::Warning),
        Err(e) => Finding::new(Kind::Symlink, rel, format!("broken or looping symbolic link ({e}); not followed")).severity(Severity::Warning),
    }
}

/// Whether `path` is the temp file ibstore writes beside a data file
/// (`NAME.ibstore-tmp`, NAME a data file name): what an interrupted write
/// leaves behind. Other names ending in the suffix are not ibstore's.
fn is_stale_temp(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let name = path.file_name().map(|n| n.as_bytes()).unwrap_or_default();
    name.strip_suffix(crate::fsutil::TEMP_SUFFIX.as_bytes())
        .is_some_and(|stem| {
            Extension::from_path(&path.with_file_name(std::ffi::OsStr::from_bytes(stem))).is_some()
        })
}
