//! Peak memory of decode + normalize relative to the payload size.
//!
//! `peak_memory write FILE N` writes an OTLP/JSON (or, with FILE ending in `.pb`, protobuf)
//! payload of N spans; `peak_memory measure FILE` reads it, then reports how far the process's
//! peak resident set (`VmHWM`) rose above its size after loading the payload, as a multiple of
//! the payload. Linux only (reads `/proc/self/status`).
#![allow(clippy::print_stdout, clippy::unwrap_used, reason = "a measuring tool")]

#[path = "../benches/support/mod.rs"]
mod support;

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("write") => {
            let n: usize = args[3].parse().unwrap();
            let spans = support::spans(n);
            let bytes = if std::path::Path::new(&args[2])
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("pb"))
            {
                support::otlp_protobuf(&spans)
            } else {
                support::otlp_json(&spans)
            };
            std::fs::write(&args[2], bytes).unwrap();
        }
        Some("measure") => {
            let payload = std::fs::read(&args[2]).unwrap();
            let before = status_kib("VmRSS:");
            let tree =
                orcheo_span_tree::decode_and_normalize(&payload, orcheo_span_tree::Format::Auto);
            let peak = status_kib("VmHWM:");
            let extra = peak.saturating_sub(before) as f64 * 1024.0;
            println!(
                "payload {} bytes, {} spans: peak rose {:.1} MiB = {:.2}x the payload",
                payload.len(),
                tree.stats.span_count,
                extra / 1_048_576.0,
                extra / payload.len() as f64
            );
        }
        _ => println!("usage: peak_memory write FILE N | peak_memory measure FILE"),
    }
}
