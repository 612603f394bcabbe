//! Generated protobuf types (prost), in modules mirroring the proto packages.
#![allow(missing_docs, clippy::all)]
/// `package ib_stream` (v2 envelope).
pub mod ib_stream {
    include!(concat!(env!("OUT_DIR"), "/ib_stream.rs"));
    /// `package ib_stream.v3`.
    pub mod v3 {
        include!(concat!(env!("OUT_DIR"), "/ib_stream.v3.rs"));
    }
}
