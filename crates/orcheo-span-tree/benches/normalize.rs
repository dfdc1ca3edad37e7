//! Throughput of tree building and of decode + normalize (`cargo xtask bench`).
//! Results and the machine they were taken on are in `docs/benchmarks.md`.

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

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

/// Decode + normalize, from the payload to the tree. Dropping the tree is the caller's (the
/// server drops it after writing the response): it is timed apart, in `drop_tree`, as tree
/// building's `iter_batched` leaves its own output's drop out of the time. Each call is timed
/// alone and its tree dropped straight after, so the allocator stays as warm as in a plain loop.
fn decode_normalize(c: &mut Criterion) {
    over_payloads(c, "decode_normalize", |payload, rounds| {
        let mut took = Duration::ZERO;
        for _ in 0..rounds {
            let start = Instant::now();
            let tree = black_box(decode_and_normalize(payload, Format::Auto));
            took += start.elapsed();
            drop(tree);
        }
        took
    });
}

/// Dropping the tree that decode + normalize built, which frees every node's lists and text.
fn drop_tree(c: &mut Criterion) {
    over_payloads(c, "drop_tree", |payload, rounds| {
        let mut took = Duration::ZERO;
        for _ in 0..rounds {
            let tree = black_box(decode_and_normalize(payload, Format::Auto));
            let start = Instant::now();
            drop(tree);
            took += start.elapsed();
        }
        took
    });
}

/// Times `rounds` on each payload, OTLP/JSON and protobuf, of 10,000 and 100,000 spans:
/// `rounds` runs the given number of rounds and returns the time that counts.
fn over_payloads(c: &mut Criterion, group: &str, rounds: fn(&[u8], u64) -> Duration) {
    let mut group = c.benchmark_group(group);
    for n in [10_000usize, 100_000] {
        let spans = support::spans(n);
        let payloads = [
            ("otlp_json", support::otlp_json(&spans)),
            ("otlp_protobuf", support::otlp_protobuf(&spans)),
        ];
        for (format, payload) in payloads {
            group.throughput(Throughput::Elements(n as u64));
            group.bench_function(format!("{format}/{n}_spans"), |b| {
                b.iter_custom(|count| rounds(&payload, count));
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    targets = tree_building, decode_normalize, drop_tree
}
criterion_main!(benches);
