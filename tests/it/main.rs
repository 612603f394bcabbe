//! Every integration test in one binary (one link instead of one per file): each
//! module drives the real `ibstore` binary on folders in a temp dir.

mod backup;
mod bomb;
mod common;
mod compare;
mod config;
mod conformance;
mod convert;
mod convert_compare;
mod convert_hardening;
mod convert_v2;
mod fidelity;
mod hardening;
mod index;
mod index_catalog;
mod migrate;
mod parquet;
mod props;
mod query;
mod repair;
mod shape;
mod sparse;
mod switch;
mod undo_memory;
mod validate;
