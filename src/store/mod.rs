//! Store layout, file naming and discovery.

pub mod discover;
pub mod layout;
pub mod naming;
