//! The library's error type: operational failures that stop a command
//! (as opposed to findings, which are data).

use std::io;
use std::path::PathBuf;

/// An operational failure, naming the path involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The path to work on does not exist or cannot be examined.
    #[error("{}", path.display())]
    Path {
        /// The path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A write or other I/O step failed.
    #[error("{}: {what}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// Why.
        source: io::Error,
    },
    /// Arguments that cannot work together.
    #[error("{0}")]
    Usage(String),
    /// Could not build the worker pool.
    #[error("cannot start {0} worker threads")]
    Threads(usize),
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
