//! Throughput of tree building and of decode + normalize (`cargo xtask bench`).
//! Results and the machine they were taken on are in `docs/benchmarks.md`.

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use orcheo_span_tree::{Format, decode_and_normalize, normalize};
use orcheo_trace_model::RawSpan;

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

/// Decode + normalize, from the payload to the tree. Dropping the tree is the caller's (the
/// server drops it after writing the response): it is timed apart, in `drop_tree`, as tree
/// building's `iter_batched` leaves its own output's drop out of the time.
fn decode_normalize(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_normalize");
    for n in [10_000usize, 100_000] {
        let spans = support::spans(n);
        for (format, payload) in payloads(&spans) {
            group.throughput(Throughput::Elements(n as u64));
            group.bench_function(format!("{format}/{n}_spans"), |b| {
                b.iter_custom(|rounds| {
                    timed(
                        rounds,
                        || decode_and_normalize(&payload, Format::Auto),
                        drop,
                    )
                });
            });
        }
    }
    group.finish();
}

/// Dropping the tree that decode + normalize built, which frees every node's lists and text.
fn drop_tree(c: &mut Criterion) {
    let mut group = c.benchmark_group("drop_tree");
    for n in [10_000usize, 100_000] {
        let spans = support::spans(n);
        for (format, payload) in payloads(&spans) {
            group.throughput(Throughput::Elements(n as u64));
            group.bench_function(format!("{format}/{n}_spans"), |b| {
                b.iter_custom(|rounds| {
                    let mut took = Duration::ZERO;
                    for _ in 0..rounds {
                        let tree = black_box(decode_and_normalize(&payload, Format::Auto));
                        let start = Instant::now();
                        drop(tree);
                        took += start.elapsed();
                    }
                    took
                });
            });
        }
    }
    group.finish();
}

fn payloads(spans: &[RawSpan]) -> [(&'static str, Vec<u8>); 2] {
    [
        ("otlp_json", support::otlp_json(spans)),
        ("otlp_protobuf", support::otlp_protobuf(spans)),
    ]
}

/// Runs `routine` `rounds` times, timing it alone: what it returns is handed to `after`
/// (dropped, as a rule) outside the time, so the allocator stays as warm as in a plain loop.
fn timed<T>(rounds: u64, mut routine: impl FnMut() -> T, mut after: impl FnMut(T)) -> Duration {
    let mut took = Duration::ZERO;
    for _ in 0..rounds {
        let start = Instant::now();
        let out = black_box(routine());
        took += start.elapsed();
        after(out);
    }
    took
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    targets = tree_building, decode_normalize, drop_tree
}
criterion_main!(benches);
