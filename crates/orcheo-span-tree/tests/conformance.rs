//! The conformance run over the shared fixture corpus (`cargo xtask conformance DIR`).
//!
//! Reads every `*.json` file under `ORCHEO_FIXTURES_DIR`; each must decode and normalize with no
//! error, no unreadable span, and the span count the corpus README gives. Without the variable
//! there is nothing to check (a fresh clone has no corpus): the test says it was skipped, and in
//! CI, which must run it, fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap is a failed test"
)]

use std::io::Write as _;
use std::path::Path;

use orcheo_span_tree::{Format, decode, normalize_decoded};
use orcheo_trace_model::AnomalyKind;

/// Span counts from the corpus README.
const EXPECTED: &[(&str, usize)] = &[
    ("tempo/v2-trace-with-failed-requests.json", 15),
    ("tempo/v2-trace-with-queue-database.json", 19),
    ("tempo/v2-trace-with-virtual-nodes.json", 3),
    ("tempo/vulture-trace.json", 6),
    ("tempo/v1-batches-hex-ids-negative.json", 1),
    ("jaeger-v1/otlp2jaeger-out.json", 2),
    ("jaeger-v1/ui_01-trace-object.json", 5),
    ("jaeger-v1/petclinic-unpadded-ids.json", 17),
    ("jaeger-v1/span-longer-than-parent.json", 8),
    ("jaeger-v1/normal-5-spans.json", 5),
    ("jaeger-v1/genai-trace.json", 57),
    ("jaeger-v3/GetTrace.json", 1),
    ("otlp/example_trace.json", 5),
    ("otlp/otlp2jaeger-in.json", 2),
    ("otlp/opentelemetry-proto-example-trace.json", 1),
];

fn json_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

#[test]
fn shared_fixture_corpus_conforms() {
    let Some(dir) = std::env::var_os("ORCHEO_FIXTURES_DIR") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set ORCHEO_FIXTURES_DIR to the fixture corpus"
        );
        // Straight to stderr: the test harness captures `eprintln!`, and a skip must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: shared_fixture_corpus_conforms (no fixture corpus given, set ORCHEO_FIXTURES_DIR to run it)"
        );
        return;
    };
    let dir = Path::new(&dir);
    let mut files = Vec::new();
    json_files(dir, &mut files);
    assert!(!files.is_empty(), "no fixtures under {}", dir.display());
    for (name, _) in EXPECTED {
        assert!(dir.join(name).exists(), "corpus is missing {name}");
    }
    for path in files {
        let rel = path
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let bytes = std::fs::read(&path).unwrap();
        let decoded = decode(&bytes, Format::Auto).unwrap_or_else(|e| panic!("{rel}: {e}"));
        if let Some((_, count)) = EXPECTED.iter().find(|(n, _)| *n == rel) {
            assert_eq!(decoded.spans.len(), *count, "{rel}");
        }
        let tree = normalize_decoded(decoded);
        let bad: Vec<_> = tree
            .anomalies
            .iter()
            .filter(|a| matches!(a.kind, AnomalyKind::DecodeError | AnomalyKind::InvalidSpan))
            .collect();
        assert!(bad.is_empty(), "{rel}: {bad:?}");
        assert!(tree.root.is_some(), "{rel}: no root");
        orcheo_span_tree::render::tree_document(
            &tree,
            &orcheo_span_tree::render::RenderOptions::default(),
        )
        .unwrap();
    }
}
