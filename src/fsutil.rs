//! Every filesystem effect that changes a store goes through here, done so a
//! crash at any instant leaves the old or the new state: write a temp file
//! in the same folder, fsync it, rename it over the target, fsync the folder.
//!
//! Paths inside a store are resolved with [`resolve_in`], which walks them
//! one component at a time from the store root and refuses a symbolic link
//! anywhere below the root, so no write can leave the store through a link
//! swapped in after it was scanned.

use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Component, Path, PathBuf};

/// A step boundary of a command that changes a store. Debug builds (the
/// ones tests drive) abort the process at the N-th boundary when
/// `IBSTORE_CRASH_AT=N`, to prove that a crash at any step loses nothing.
pub fn crash_point() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STEPS: AtomicU64 = AtomicU64::new(0);
    let n = STEPS.fetch_add(1, Ordering::SeqCst) + 1;
    if cfg!(debug_assertions)
        && std::env::var("IBSTORE_CRASH_AT")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            == Some(n)
    {
        std::process::abort();
    }
}

/// Suffix of ibstore's temp files (ignored by discovery, cleaned by repair).
pub const TEMP_SUFFIX: &str = ".ibstore-tmp";

fn io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        path: path.to_owned(),
        what,
        source,
    }
}

/// The folder holding `path`: `.` for a bare file name (whose
/// `Path::parent` is the empty path).
pub fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// fsyncs a folder, so renames and creations in it are durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io(dir, "fsync folder"))
}

/// The temp path used for `target`.
pub fn temp_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(TEMP_SUFFIX);
    target.with_file_name(name)
}

/// The key of a relative path in journals and quarantine names: the path
/// itself, with `%` and every byte of a name that is not UTF-8 written
/// `%XX`, so any file name survives a round trip through JSON.
pub fn rel_key(rel: &str, raw: Option<&[u8]>) -> String {
    let bytes = raw.unwrap_or(rel.as_bytes());
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '%' {
                out.push_str("%25");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The relative path a [`rel_key`] stands for.
pub fn key_path(key: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt as _;
    let b = key.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// Resolves `rel` (a [`rel_key`] relative to `root`) for writing:
/// every folder on the way must be a real folder inside the root (created
/// when `create` and missing), and the last component, if it exists, must
/// not be a symbolic link or a folder.
pub fn resolve_in(root: &Path, rel: &str, create: bool) -> Result<PathBuf> {
    let path = key_path(rel);
    if rel.is_empty() || !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(Error::Unsafe {
            path: root.join(rel),
            why: "the path leaves the store".into(),
        });
    }
    let comps: Vec<&std::ffi::OsStr> = path.iter().collect();
    let mut p = root.to_path_buf();
    for (i, c) in comps.iter().enumerate() {
        p.push(c);
        let last = i + 1 == comps.len();
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::Unsafe {
                    path: p,
                    why: "a symbolic link inside the store; ibstore never writes through one"
                        .into(),
                })
            }
            Ok(m) if !last && !m.is_dir() => {
                return Err(Error::Unsafe {
                    path: p,
                    why: "not a folder".into(),
                })
            }
            Ok(m) if last && m.is_dir() => {
                return Err(Error::Unsafe {
                    path: p,
                    why: "a folder where a file belongs".into(),
                })
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !last && create => {
                match fs::create_dir(&p) {
                    Ok(()) => fsync_dir(p.parent().unwrap_or(root))?,
                    // Another process made it first: it must be a real folder.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        if !fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                            return Err(Error::Unsafe {
                                path: p,
                                why: "not a folder (made by another process while this one looked)"
                                    .into(),
                            });
                        }
                    }
                    Err(e) => return Err(io(&p, "create folder")(e)),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && last => {}
            Err(source) => return Err(Error::path(p, source)),
        }
    }
    Ok(p)
}

/// A file being written durably: bytes counted and CRC'd on the way;
/// [`Durable::finish`] fsyncs it and its folder.
#[derive(Debug)]
pub struct Durable {
    file: File,
    path: PathBuf,
    crc: crc32fast::Hasher,
    len: u64,
}

impl Durable {
    /// Creates `path` (`new`: it must not exist; else truncated).
    pub fn create(path: &Path, new: bool) -> Result<Self> {
        let dir = parent_of(path);
        fs::create_dir_all(dir).map_err(io(dir, "create folder"))?;
        let file = OpenOptions::new()
            .write(true)
            .create_new(new)
            .create(true)
            .truncate(!new)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(io(path, "create file"))?;
        Ok(Self {
            file,
            path: path.to_owned(),
            crc: crc32fast::Hasher::new(),
            len: 0,
        })
    }

    /// A temp file beside `target`, always a new file: whatever holds the
    /// temp name (a killed run's temp, a hard link or FIFO planted there) is
    /// unlinked first, never written through; a folder there is refused.
    pub fn temp_for(target: &Path) -> Result<Self> {
        let t = temp_path(target);
        match fs::symlink_metadata(&t) {
            Ok(m) if m.is_dir() => {
                return Err(Error::Unsafe {
                    path: t,
                    why: "a folder holds ibstore's temp file name".into(),
                })
            }
            Ok(_) => fs::remove_file(&t).map_err(io(&t, "remove stale temp file"))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::path(&t, e)),
        }
        Self::create(&t, true)
    }

    /// fsyncs; returns the path, size and CRC-32 of what was written.
    pub fn finish(self) -> Result<(PathBuf, u64, u32)> {
        self.file.sync_all().map_err(io(&self.path, "fsync file"))?;
        fsync_dir(parent_of(&self.path))?;
        Ok((self.path, self.len, self.crc.finalize()))
    }

    /// fsyncs the file only (not its folder): for a temp file renamed with
    /// [`rename_deferred`], whose folder the caller fsyncs once afterwards.
    pub fn finish_file(self) -> Result<(PathBuf, u64, u32)> {
        self.file.sync_all().map_err(io(&self.path, "fsync file"))?;
        Ok((self.path, self.len, self.crc.finalize()))
    }

    /// Path being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Ends writing without syncing, for a caller that fsyncs many files at
    /// once ([`sync_all_files`]) before it renames any of them: the open
    /// file, its path, size and CRC-32.
    pub fn into_unsynced(self) -> (File, PathBuf, u64, u32) {
        (self.file, self.path, self.len, self.crc.finalize())
    }
}

/// fsyncs many files (or folders) concurrently, so their flushes share
/// journal commits instead of waiting for one each; the first error wins.
/// The waits run on a pool of their own, made once (a conversion fsyncs
/// one batch per hour: new threads for each cost more than the fsyncs),
/// apart from rayon's, whose threads keep computing meanwhile.
pub fn sync_all_files(items: &[(&File, &Path)]) -> Result<()> {
    use rayon::prelude::*;
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    let sync = || {
        items
            .par_iter()
            .with_max_len(1)
            .try_for_each(|(f, p)| f.sync_all().map_err(io(p, "fsync")))
    };
    let pool = POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(16)
            .thread_name(|i| format!("ibstore-fsync-{i}"))
            .build()
            .ok()
    });
    match pool {
        Some(p) => p.install(sync),
        // No threads to be had: one file after another.
        None => items
            .iter()
            .try_for_each(|(f, p)| f.sync_all().map_err(io(p, "fsync"))),
    }
}

impl Write for Durable {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.crc.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Writes `bytes` to a durable temp file beside `target` and returns its
/// path; [`commit`] renames it into place.
pub fn write_temp(target: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let mut t = Durable::temp_for(target)?;
    t.write_all(bytes).map_err(io(target, "write temp file"))?;
    Ok(t.finish()?.0)
}

/// Renames a temp file over its target and fsyncs the folder.
pub fn commit(tmp: &Path, target: &Path) -> Result<()> {
    fs::rename(tmp, target).map_err(io(target, "rename into place"))?;
    fsync_dir(parent_of(target))
}

/// Renames a durable temp file over its target without fsyncing the
/// folder: for many files in a few folders (a backup), whose folders the
/// caller fsyncs once each ([`fsync_dir`]) before the step that depends on
/// them (the manifest).
pub fn rename_deferred(tmp: &Path, target: &Path) -> Result<()> {
    fs::rename(tmp, target).map_err(io(target, "rename into place"))
}

/// `write_temp` then `commit`.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = write_temp(target, bytes)?;
    commit(&tmp, target)
}

/// Creates a new file (failing if it exists), writes and fsyncs it, and
/// fsyncs its folder.
pub fn create_durable(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = Durable::create(path, true)?;
    f.write_all(bytes).map_err(io(path, "write file"))?;
    f.finish().map(|_| ())
}

/// Removes a file and fsyncs its folder.
pub fn remove_durable(path: &Path) -> Result<()> {
    fs::remove_file(path).map_err(io(path, "remove file"))?;
    fsync_dir(parent_of(path))
}

/// Removes the folders of `rel` (a [`rel_key`] of a file relative to
/// `root`) that are empty, bottom-up, each durably (its parent fsynced),
/// stopping at the first that is not; `root` itself is never removed. A
/// path through a symbolic link or a non-folder touches nothing. Returns
/// the folders removed. A crash point follows each removal.
pub fn remove_empty_parents(root: &Path, rel: &str) -> Result<u64> {
    let path = key_path(rel);
    if !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Ok(0);
    }
    let Some(dir) = path.parent() else {
        return Ok(0);
    };
    // The real folders from the root down (a missing one ends the chain).
    let mut chain = Vec::new();
    let mut p = root.to_path_buf();
    for c in dir.iter() {
        p.push(c);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => chain.push(p.clone()),
            Ok(_) => return Ok(0),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(source) => return Err(Error::path(p, source)),
        }
    }
    let mut removed = 0;
    for d in chain.iter().rev() {
        match fs::remove_dir(d) {
            Ok(()) => {
                fsync_dir(parent_of(d))?;
                removed += 1;
                crash_point();
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::DirectoryNotEmpty
                    || e.raw_os_error() == Some(libc::ENOTEMPTY)
                    || e.raw_os_error() == Some(libc::EEXIST) =>
            {
                break
            }
            Err(e) => return Err(io(d, "remove empty folder")(e)),
        }
    }
    Ok(removed)
}

/// Appends one line to a journal and fsyncs it.
pub fn append_line(path: &Path, line: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(io(path, "open journal"))?;
    let mut buf = line.to_vec();
    buf.push(b'\n');
    f.write_all(&buf).map_err(io(path, "append to journal"))?;
    f.sync_all().map_err(io(path, "fsync journal"))
}

/// Points the symbolic link `link` at `target` atomically: a new link is
/// made under a temp name in the same folder, renamed over `link`, and the
/// folder fsynced. A reader resolving `link` sees the old target or the new
/// one, never nothing (`ln -sfn` unlinks first). A temp link left by a
/// crash is replaced. Crash points after each step.
pub fn replace_symlink(link: &Path, target: &Path) -> Result<()> {
    let tmp = temp_path(link);
    match fs::symlink_metadata(&tmp) {
        Ok(m) if m.file_type().is_symlink() => {
            fs::remove_file(&tmp).map_err(io(&tmp, "remove stale temp link"))?
        }
        Ok(_) => {
            return Err(Error::Unsafe {
                path: tmp,
                why: "not a symbolic link where ibstore makes its temp link; move it away".into(),
            })
        }
        Err(_) => {}
    }
    std::os::unix::fs::symlink(target, &tmp).map_err(io(&tmp, "create temp link"))?;
    crash_point();
    fs::rename(&tmp, link).map_err(io(link, "rename link into place"))?;
    crash_point();
    fsync_dir(parent_of(link))
}

/// Whether a `/`-separated relative path stays inside its root (no `..`,
/// no absolute part, not empty).
pub fn is_contained(rel: &str) -> bool {
    !rel.is_empty()
        && Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// CRC-32 of bytes.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_and_containment() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("a.jsonl");
        write_atomic(&t, b"one\n").unwrap();
        write_atomic(&t, b"two\n").unwrap();
        assert_eq!(fs::read(&t).unwrap(), b"two\n");
        assert!(!temp_path(&t).exists());
        assert!(create_durable(&t, b"x").is_err(), "never overwrites");
        assert!(is_contained("v3/json/a.jsonl"));
        for bad in ["", "../x", "v3/../../x", "/etc/passwd", "./a"] {
            assert!(!is_contained(bad), "{bad}");
        }
    }

    #[test]
    fn resolve_refuses_links_and_creates_folders() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("store");
        fs::create_dir(&root).unwrap();
        let out = d.path().join("outside");
        fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(&out, root.join("v3")).unwrap();
        let e = resolve_in(&root, "v3/json/a.jsonl", true).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(!out.join("json").exists());
        let p = resolve_in(&root, "v2/json/a.jsonl", true).unwrap();
        assert_eq!(p, root.join("v2/json/a.jsonl"));
        assert!(root.join("v2/json").is_dir());
        assert!(resolve_in(&root, "../x", true).is_err());
        assert!(resolve_in(&root, "%2E%2E/x", true).is_err());
    }

    #[test]
    fn keys_round_trip_any_name() {
        use std::os::unix::ffi::OsStrExt as _;
        let raw = b"v3/json/a\xff%b\x1b.jsonl";
        let key = rel_key("ignored", Some(raw));
        assert_eq!(key, "v3/json/a%FF%25b\u{1b}.jsonl");
        assert_eq!(key_path(&key).as_os_str().as_bytes(), raw);
        assert_eq!(rel_key("v3/json/x.jsonl", None), "v3/json/x.jsonl");
    }
}
