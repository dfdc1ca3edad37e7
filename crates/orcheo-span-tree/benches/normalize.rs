//! Throughput of tree building and of decode + normalize (`cargo xtask bench`).
//! Results and the machine they were taken on are in `docs/benchmarks.md`.

mod support;

use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use orcheo_span_tree::{Format, decode_and_normalize, normalize};

fn tree_building(c: &mut Criterion) {
    let mut group = c.benchmark_group("tree_building");
    for n in [10_000usize, 100_000] {
        let spans = support::spans(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("{n}_spans"), |b| {
            b.iter_batched(|| spans.clone(), normalize, BatchSize::LargeInput);
        });
    }
    group.finish();
}

fn decode_normalize(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_normalize");
    for n in [10_000usize, 100_000] {
        let spans = support::spans(n);
        for (format, payload) in [
            ("otlp_json", support::otlp_json(&spans)),
            ("otlp_protobuf", support::otlp_protobuf(&spans)),
        ] {
            group.throughput(Throughput::Elements(n as u64));
            group.bench_function(format!("{format}/{n}_spans"), |b| {
                b.iter(|| decode_and_normalize(&payload, Format::Auto));
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    targets = tree_building, decode_normalize
}
criterion_main!(benches);
