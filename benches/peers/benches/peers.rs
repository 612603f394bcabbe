//! ibstore's hand-written v3 decoders against serde_json, simd-json and
//! prost, on the same bytes (written by ibstore's own encoder).
//!
//!   cargo bench --manifest-path benches/peers/Cargo.toml
//!
//! Results and verdicts: benches/README.md, "Peers: serde_json, simd-json,
//! prost, rust_anchor".

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ibstore_peers::*;

const RECORDS: usize = 20_000;

fn v3_json_decode(c: &mut Criterion) {
    let recs = records(RECORDS);
    let buf = adapter::encode_v3_json(&recs);
    let lines = split_lines(&buf);
    let ranges = line_ranges(&buf);
    let mut scratch = Vec::new();

    // Once: every implementation decodes the same records to the same digest.
    let want = json_ibstore(&lines);
    assert_eq!((want.records, want.bad), (RECORDS as u64, 0));
    for (name, got) in [
        ("serde_json", json_serde(&lines)),
        ("simd_json_serde", json_simd_serde(&lines)),
        ("simd_json_serde_buffers", json_simd_serde_buffers(&lines)),
        ("simd_json_borrowed_value", json_simd_borrowed_value(&lines)),
        ("simd_json_tape", json_simd_tape(&buf, &ranges, &mut scratch)),
        (
            "simd_json_tape_serde",
            json_simd_tape_serde(&buf, &ranges, &mut scratch),
        ),
    ] {
        assert_eq!(got, want, "{name} disagrees with ibstore");
    }
    eprintln!(
        "v3_json_decode: {} records, {} bytes, {:.1} bytes/record, simd-json stage 1: {}, digest {want:?}",
        lines.len(),
        buf.len(),
        buf.len() as f64 / lines.len() as f64,
        simd_json::Deserializer::algorithm()
    );

    let mut g = c.benchmark_group("v3_json_decode");
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("ibstore", |b| b.iter(|| black_box(json_ibstore(black_box(&lines)))));
    g.bench_function("serde_json", |b| b.iter(|| black_box(json_serde(black_box(&lines)))));
    g.bench_function("simd_json_serde", |b| {
        b.iter(|| black_box(json_simd_serde(black_box(&lines))))
    });
    g.bench_function("simd_json_serde_buffers", |b| {
        b.iter(|| black_box(json_simd_serde_buffers(black_box(&lines))))
    });
    g.bench_function("simd_json_borrowed_value", |b| {
        b.iter(|| black_box(json_simd_borrowed_value(black_box(&lines))))
    });
    g.bench_function("simd_json_tape", |b| {
        b.iter(|| black_box(json_simd_tape(black_box(&buf), &ranges, &mut scratch)))
    });
    g.bench_function("simd_json_tape_serde", |b| {
        b.iter(|| black_box(json_simd_tape_serde(black_box(&buf), &ranges, &mut scratch)))
    });
    g.finish();
}

fn v3_pb_decode(c: &mut Criterion) {
    let recs = records(RECORDS);
    let buf = adapter::encode_v3_pb(&recs);
    let bodies = split_frames(&buf);

    let want = pb_ibstore(&bodies);
    assert_eq!((want.records, want.bad), (RECORDS as u64, 0));
    // Same records as the JSON group decodes.
    assert_eq!(
        want,
        json_ibstore(&split_lines(&adapter::encode_v3_json(&recs)))
    );
    for (name, got) in [
        ("prost_decode", pb_prost_decode(&bodies)),
        ("prost_merge", pb_prost_merge(&bodies)),
    ] {
        assert_eq!(got, want, "{name} disagrees with ibstore");
    }
    eprintln!(
        "v3_pb_decode: {} records, {} bytes (with 4-byte prefixes), {:.1} bytes/record",
        bodies.len(),
        buf.len(),
        buf.len() as f64 / bodies.len() as f64
    );

    let mut g = c.benchmark_group("v3_pb_decode");
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("ibstore", |b| b.iter(|| black_box(pb_ibstore(black_box(&bodies)))));
    g.bench_function("prost_decode", |b| {
        b.iter(|| black_box(pb_prost_decode(black_box(&bodies))))
    });
    g.bench_function("prost_merge", |b| {
        b.iter(|| black_box(pb_prost_merge(black_box(&bodies))))
    });
    g.finish();
}

criterion_group!(benches, v3_json_decode, v3_pb_decode);
criterion_main!(benches);
