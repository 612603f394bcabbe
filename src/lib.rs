//! ibstore: validation, repair and migration of IB-Stream tick stores.
pub mod format;
pub mod proto;
pub mod tick;
pub mod time;
