//! Criterion benchmarks: decoding every format, and validating one file.
//! Inputs are built deterministically with the project's own generator.
//!
//! Run: `cargo bench --bench throughput`. Whole-store figures against `cat`
//! come from `benches/run.sh` (see benches/README.md).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ibstore::format::{Extension, Format};
use ibstore::gen::{file_ticks, GenOptions};
use ibstore::scan::{scan, ScanOptions};
use ibstore::store::discover::Found;
use ibstore::store::layout::classify;
use ibstore::tick::TickType;

fn encoded(format: Format, records: usize) -> Vec<u8> {
    let o = GenOptions {
        records,
        ..GenOptions::default()
    };
    let mut out = Vec::new();
    for t in file_ticks(&o, 0, TickType::BidAsk, o.start) {
        format.encode(&t, &mut out).expect("encode");
    }
    out
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    for format in Format::ALL {
        let buf = encoded(format, 20_000);
        g.throughput(Throughput::Bytes(buf.len() as u64));
        g.bench_function(format.name(), |b| {
            b.iter(|| {
                let mut n = 0u64;
                format.walk(black_box(&buf), |p| {
                    if let ibstore::format::piece::Piece::Record { bytes, .. } = p {
                        n += u64::from(format.decode(bytes).is_ok());
                    }
                });
                n
            })
        });
    }
    g.finish();
}

fn validate(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut g = c.benchmark_group("scan");
    for format in [Format::V3Json, Format::V3Pb, Format::V2Json] {
        let buf = encoded(format, 20_000);
        let rel = if format.is_v3() {
            format!(
                "v3/{}/2025/08/01/00/711280073_bid_ask_1754006400.{}",
                format.family_dir(),
                format.extension()
            )
        } else {
            format!(
                "v2/json/2025/08/01/00/bg_711280073_bid_ask.{}",
                format.extension()
            )
        };
        let abs = dir.path().join(&rel);
        std::fs::create_dir_all(abs.parent().expect("parent")).expect("mkdir");
        std::fs::write(&abs, &buf).expect("write");
        let file = classify(
            &abs,
            rel,
            Extension::from_path(&abs).expect("ext"),
            buf.len() as u64,
        );
        g.throughput(Throughput::Bytes(buf.len() as u64));
        let found = Found {
            abs: abs.clone(),
            file,
        };
        g.bench_function(format.name(), |b| {
            b.iter(|| scan(&found, &ScanOptions::default()).records)
        });
    }
    g.finish();
}

criterion_group!(benches, decode, validate);
criterion_main!(benches);
