//! Decodes (and optionally normalizes) one payload file in a loop, for profilers:
//! `perf record target/release/examples/decode_loop FILE 10 [--decode-only]`.
#![allow(clippy::print_stdout, clippy::unwrap_used, reason = "a measuring tool")]

use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let payload = std::fs::read(&args[1]).unwrap();
    let seconds: u64 = args.get(2).map_or(5, |s| s.parse().unwrap());
    let decode_only = args.iter().any(|a| a == "--decode-only");
    let (start, mut rounds, mut spans) = (Instant::now(), 0u64, 0u64);
    while start.elapsed() < Duration::from_secs(seconds) {
        let format = orcheo_span_tree::Format::Auto;
        spans += if decode_only {
            orcheo_span_tree::decode(&payload, format)
                .unwrap()
                .spans
                .len() as u64
        } else {
            orcheo_span_tree::decode_and_normalize(&payload, format)
                .stats
                .span_count
        };
        rounds += 1;
    }
    let per_second = spans as f64 / start.elapsed().as_secs_f64();
    println!("{rounds} rounds, {per_second:.0} spans/s");
}
