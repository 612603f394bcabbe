//! The library's error type: operational failures that stop a command
//! (as opposed to findings, which are data). Every variant names the path
//! it is about and reads as a sentence a person can act on.

use std::io;
use std::path::PathBuf;

/// An operational failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The path to work on does not exist.
    #[error("{}: no such file or folder", path.display())]
    NotFound {
        /// The path.
        path: PathBuf,
    },
    /// The path to work on cannot be examined.
    #[error("{}: {source}", path.display())]
    Path {
        /// The path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A write or other I/O step failed.
    #[error("{}: {what}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// Why.
        source: io::Error,
    },
    /// A command that changes a store was pointed at something that is not
    /// a store root.
    #[error("{}: not a store root ({why})", path.display())]
    NotStoreRoot {
        /// The path given.
        path: PathBuf,
        /// What it is instead, and what to use.
        why: String,
    },
    /// Another process holds the store's lock.
    #[error("{} is locked: held by another repair or convert ({holder}); wait for it to finish", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// Its holder line.
        holder: String,
    },
    /// A journal that cannot be used.
    #[error("{}: {why}", path.display())]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// What is wrong with it, in words.
        why: String,
    },
    /// A repair run id that does not exist.
    #[error("no repair run {run:?} in {} (known runs: {known})", state.display())]
    UnknownRun {
        /// The id given.
        run: String,
        /// The state folder.
        state: PathBuf,
        /// The runs there, comma-separated, or `none`.
        known: String,
    },
    /// A write would leave the store through a symbolic link.
    #[error("{}: refused: {why}", path.display())]
    Unsafe {
        /// The path.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// A step refused for a reason about the file a finding already names.
    #[error("refused: {0}")]
    Refused(String),
    /// A backup stopped before its manifest was written.
    #[error("{why}; the backup {} is incomplete (it has no manifest): remove it and run again", path.display())]
    Incomplete {
        /// The backup folder.
        path: PathBuf,
        /// What stopped it.
        why: String,
    },
    /// Arguments that cannot work together.
    #[error("{0}")]
    Usage(String),
    /// Could not build the worker pool.
    #[error("cannot start {0} worker threads")]
    Threads(usize),
}

impl Error {
    /// The error for a path that cannot be examined (`NotFound` when missing).
    pub fn path(path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        if source.kind() == io::ErrorKind::NotFound {
            Self::NotFound { path }
        } else {
            Self::Path { path, source }
        }
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
