//! Decodes (and optionally normalizes) one payload file in a loop, for profilers:
//! `perf record target/release/examples/decode_loop FILE 10 [--decode-only]`. With
//! `--rounds=N` it decodes exactly N times instead of for a number of seconds, for instruction
//! counts under `valgrind --tool=cachegrind`. With `--normalize-only` it decodes once and times
//! tree building alone, each round on a fresh copy of the spans (the copy is not timed). With
//! `--phases` it also prints how a full round's time splits into decoding, tree building and
//! dropping the tree.
#![allow(clippy::print_stdout, clippy::unwrap_used, reason = "a measuring tool")]

use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let payload = std::fs::read(&args[1]).unwrap();
    let seconds: u64 = args.get(2).map_or(5, |s| s.parse().unwrap());
    let decode_only = args.iter().any(|a| a == "--decode-only");
    let normalize_only = args.iter().any(|a| a == "--normalize-only");
    let decoded = normalize_only
        .then(|| orcheo_span_tree::decode(&payload, orcheo_span_tree::Format::Auto).unwrap());
    let phases = args.iter().any(|a| a == "--phases");
    let mut split = [Duration::ZERO; 3];
    let mut busy = Duration::ZERO;
    let fixed_rounds: Option<u64> = args
        .iter()
        .find_map(|a| a.strip_prefix("--rounds="))
        .map(|n| n.parse().unwrap());
    let (start, mut rounds, mut spans) = (Instant::now(), 0u64, 0u64);
    let mut fastest = Duration::MAX;
    while fixed_rounds.map_or(start.elapsed() < Duration::from_secs(seconds), |n| {
        rounds < n
    }) {
        let format = orcheo_span_tree::Format::Auto;
        let copy = decoded.as_ref().map(|d| d.spans.clone());
        let round = Instant::now();
        let count = if let Some(spans) = copy {
            orcheo_span_tree::normalize(spans).stats.span_count
        } else if phases {
            let decoded = orcheo_span_tree::decode(&payload, format).unwrap();
            let decoded_at = Instant::now();
            let tree = orcheo_span_tree::normalize_decoded(decoded);
            let built_at = Instant::now();
            let count = tree.stats.span_count;
            drop(tree);
            split[0] += decoded_at - round;
            split[1] += built_at - decoded_at;
            split[2] += built_at.elapsed();
            count
        } else if decode_only {
            orcheo_span_tree::decode(&payload, format)
                .unwrap()
                .spans
                .len() as u64
        } else {
            orcheo_span_tree::decode_and_normalize(&payload, format)
                .stats
                .span_count
        };
        let took = round.elapsed();
        fastest = fastest.min(took);
        busy += took;
        spans += count;
        rounds += 1;
    }
    let per_second = spans as f64 / busy.as_secs_f64();
    let best = spans as f64 / rounds as f64 / fastest.as_secs_f64();
    println!("{rounds} rounds, {per_second:.0} spans/s, fastest round {best:.0} spans/s");
    if phases {
        let [decode, build, drop] = split.map(|d| d.as_secs_f64() * 1e3 / rounds as f64);
        println!("per round: decode {decode:.2} ms, build {build:.2} ms, drop {drop:.2} ms");
    }
}
