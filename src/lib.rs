//! ibstore: validation, repair and migration of IB-Stream tick stores.
//!
//! Every on-disk format (v2/v3 × JSONL/protobuf, optionally zstd) decodes into
//! one canonical [`tick::Tick`] through one codec per format
//! ([`format::Format::decode`]); every command reads through that path and
//! reports problems as [`report::Finding`] values.
//!
//! ```no_run
//! let report = ibstore::validate::validate_store(
//!     std::path::Path::new("storage"),
//!     &ibstore::validate::Options::default(),
//!     &|_| {},
//! )?;
//! println!("{} records, {} errors", report.records(), report.tally().errors);
//! # Ok::<(), ibstore::Error>(())
//! ```
#![deny(missing_docs)]
#![warn(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod config;
pub mod error;
pub mod format;
pub mod fsutil;
pub mod gen;
pub mod proto;
pub mod repair;
pub mod report;
pub mod store;
pub mod tick;
pub mod time;
pub mod validate;

pub use error::{Error, Result};
