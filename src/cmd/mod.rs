//! One module per command: its clap arguments (raw input) and a `run` that
//! checks them once, calls the command's library entry point, renders its
//! report and returns the exit code.

pub mod backup;
pub mod bench;
pub mod compare;
pub mod config;
pub mod convert;
pub mod gen;
pub mod index;
pub mod man;
pub mod migrate;
pub mod query;
pub mod repair;
pub mod stats;
pub mod switch;
pub mod validate;
