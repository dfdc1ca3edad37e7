//! The `normalize` subcommand as a user runs it.
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/orcheo-span-tree/tests/data")
        .join(path)
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_orcheo-trace-server"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn normalize_prints_the_tree_of_a_file() {
    let file = data("orcheo/workflow-run.otlp.json");
    let out = json(&run(&["normalize", file.to_str().unwrap()], None));
    assert_eq!(out["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(out["stats"]["span_count"], 6);
    assert_eq!(out["root"]["name"], "workflow.execution");
    assert_eq!(out["root"]["children"][1]["name"], "Draft Email");
    assert_eq!(out["root"]["token_usage"]["total"], 2252);
}

#[test]
fn normalize_reads_stdin_with_an_explicit_format_and_flat_view() {
    let bytes = std::fs::read(data("tempo/v2-orcheo-run-partial.json")).unwrap();
    let out = json(&run(
        &["normalize", "--format", "tempo", "--view", "flat", "-"],
        Some(&bytes),
    ));
    assert_eq!(out["spans"].as_array().unwrap().len(), 6);
    assert_eq!(out["anomalies"][0]["kind"], "partial");
}

#[test]
fn normalize_applies_redaction_withholding_truncation_and_depth() {
    let file = data("orcheo/workflow-run.otlp.json");
    let file = file.to_str().unwrap();
    let out = json(&run(
        &[
            "normalize",
            "--redact",
            "--preview-length",
            "16",
            "--depth",
            "1",
            file,
        ],
        None,
    ));
    let prompt = &out["root"]["children"][1]["prompts"][0];
    assert_eq!(prompt["redacted"], true);
    assert_eq!(prompt["truncated"], true);
    assert_eq!(prompt["content"].as_str().unwrap().chars().count(), 16);
    assert_eq!(out["root"]["children"][1]["child_count"], 1);
    assert_eq!(
        out["root"]["children"][1]["children"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let out = run(&["normalize", "--withhold-content", file], None);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success() && !text.contains("jane.doe") && text.contains("\"withheld\":true")
    );
}

#[test]
fn undecodable_input_fails_with_one_line() {
    let out = run(&["normalize", "-"], Some(b"{\"resourceSpans\": ["));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("orcheo-trace-server: auto: EOF while parsing"),
        "{stderr}"
    );

    let out = run(&["normalize", "no/such/file.json"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("cannot read no/such/file.json")
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    for args in [
        &["normalize", "--format", "zipkin"][..],
        &["normalize", "--preview-length", "3"],
    ] {
        let out = run(args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    let out = run(
        &["normalize", "--redact-pattern", "(unclosed", "-"],
        Some(b"{}"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("not a valid regular expression")
    );
}

#[test]
fn migrate_creates_the_schema_once_and_reports_what_it_did() {
    let dir = std::env::temp_dir().join(format!("orcheo-migrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("trace.db").display());
    let first = run(&["migrate", "--database-url", &url], None);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let text = String::from_utf8(first.stdout).unwrap();
    assert!(
        text.contains("applied 5 migration(s)")
            && text.contains("20261122000001")
            && text.contains("20261206000001")
            && text.contains("20261206000002")
            && text.contains("20261206000003")
            && text.contains("20261206000004"),
        "{text}"
    );
    let again = run(&["migrate", "--database-url", &url], None);
    assert!(
        String::from_utf8(again.stdout)
            .unwrap()
            .contains("up to date")
    );
    let _ = std::fs::remove_dir_all(&dir);

    let bad = run(&["migrate", "--database-url", "mysql://nope"], None);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8(bad.stderr)
            .unwrap()
            .contains("neither sqlite://PATH nor postgres://")
    );
}

#[test]
fn help_never_shows_a_secret_taken_from_the_environment() {
    for command in ["serve", "migrate"] {
        let output = Command::new(env!("CARGO_BIN_EXE_orcheo-trace-server"))
            .args([command, "--help"])
            .env("ORCHEO_DATABASE_URL", "postgres://trace:s3cr3t-db@db/trace")
            .env(
                "ORCHEO_AUTH_JWT_SECRET",
                "s3cr3t-jwt-0123456789abcdef0123456789",
            )
            .env("ORCHEO_OTLP_INGEST_TOKEN", "s3cr3t-ingest")
            .env(
                "ORCHEO_TRACE_BACKEND_HEADERS",
                "Authorization=Bearer%20s3cr3t-hdr",
            )
            .env(
                "ORCHEO_ARTIFACT_LINK_KEY",
                "s3cr3t-link-0123456789abcdef0123456789",
            )
            .output()
            .unwrap();
        assert!(output.status.success(), "{command} --help failed");
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(help.contains("ORCHEO_DATABASE_URL"), "{help}");
        assert!(
            !help.contains("s3cr3t"),
            "{command} --help shows a secret:\n{help}"
        );
    }
}
