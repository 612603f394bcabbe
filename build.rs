//! Compiles `proto/*.proto` with prost-build, using protox (a pure-Rust
//! protobuf compiler) so that no system `protoc` is needed.
fn main() {
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=build.rs");
    let files = ["proto/tick_stream.proto", "proto/tick_message_v3.proto"];
    let fds = protox::compile(files, ["proto"]).expect("proto/ does not compile");
    prost_build::Config::new()
        // Ordered maps, so encoding is deterministic (same input, same bytes).
        .btree_map(["."])
        .compile_fds(fds)
        .expect("prost-build failed on proto/");
}
