//! ibstore: validation, repair and migration of IB-Stream tick stores.
//!
//! Every on-disk format (v2/v3 × JSONL/protobuf, optionally zstd) decodes into
//! one canonical [`Tick`] through one codec per format
//! ([`Format::decode`]). Every command reads a file through one scan
//! ([`scan::scan`]) into typed facts ([`FileScan`]) and reports problems as
//! [`Finding`] values; commands that change a store go through [`fsutil`].
//!
//! ```no_run
//! let d = ibstore::store::discover::discover(std::path::Path::new("storage"))?;
//! let report = ibstore::validate::run(d, &ibstore::ScanOptions::default(), &())?;
//! println!("{} records, {} errors", report.records(), report.tally().errors);
//! # Ok::<(), ibstore::Error>(())
//! ```
#![deny(missing_docs)]
#![warn(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod backup;
pub mod bench;
pub mod compare;
pub mod config;
pub mod convert;
pub mod error;
pub mod fingerprint;
pub mod format;
pub mod fsutil;
pub mod gen;
pub mod index;
pub mod migrate;
pub mod progress;
#[doc(hidden)]
pub mod proto;
pub mod query;
pub mod repair;
pub mod report;
pub mod scan;
pub mod stats;
pub mod store;
pub mod switch;
pub mod tick;
pub mod time;
pub mod validate;

pub use error::{Error, Result};
pub use format::{Compression, Format};
pub use progress::Progress;
pub use report::{Finding, Kind, Severity};
pub use scan::{FileScan, ScanOptions};
pub use tick::{Tick, TickType};
