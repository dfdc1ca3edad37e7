//! `orcheo-trace-server demo` as a new user runs it: one command, three traces to look at.

use std::io::{BufRead as _, BufReader};
use std::time::{Duration, Instant};

#[test]
fn demo_serves_the_traces_it_prints() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = std::process::Command::new(env!("CARGO_BIN_EXE_orcheo-trace-server"))
        .current_dir(dir.path())
        .args(["demo", "--http-addr", "127.0.0.1:0"])
        .args([
            "--otlp-grpc-addr",
            "127.0.0.1:0",
            "--otlp-http-addr",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = demo.stdout.take().unwrap();
    let outcome = std::panic::catch_unwind(move || {
        let started = Instant::now();
        let mut urls = Vec::new();
        let mut pages = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(url) = line
                .trim()
                .strip_prefix("JSON:")
                .map(str::trim)
                .filter(|u| u.starts_with("http://") && u.ends_with("/trace"))
            {
                urls.push(url.to_owned());
            }
            if let Some(url) = line.trim().strip_prefix("viewer:").map(str::trim) {
                pages.push(url.to_owned());
            }
            if line.contains("Ctrl-C stops") {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_mins(1),
                "the demo did not report"
            );
        }
        assert_eq!(urls.len(), 3, "{urls:?}");
        assert_eq!(pages.len(), 3, "{pages:?}");
        assert!(urls[0].contains(pages[0].rsplit('/').next().unwrap()));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let client = reqwest::Client::new();
            // The printed links answer the flat view; the checks read the tree.
            let get = |url: String| {
                let client = client.clone();
                async move {
                    let url = format!("{url}?view=tree");
                    let response = client.get(&url).send().await.unwrap();
                    assert_eq!(response.status(), 200, "{url}");
                    response.json::<serde_json::Value>().await.unwrap()
                }
            };
            let support = get(urls[0].clone()).await;
            assert_eq!(support["execution"]["status"], "completed");
            let draft = &support["root"]["children"][2];
            assert_eq!(draft["name"], "Draft Reply");
            assert_eq!(
                draft["messages"][1]["redacted"], true,
                "the e-mail address is redacted"
            );
            let artifact_url = draft["artifacts"][0]["url"].as_str().unwrap().to_owned();
            let base = urls[0].split("/api/").next().unwrap().to_owned();
            let reply = client
                .get(format!("{base}{artifact_url}"))
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), 200);
            assert!(reply.text().await.unwrap().starts_with("Dear Ada"));
            let page = client.get(&pages[0]).send().await.unwrap();
            assert_eq!(page.status(), 200);
            assert!(page.text().await.unwrap().contains("/ui/app.js"));
            let invoice = get(urls[1].clone()).await;
            assert_eq!(invoice["execution"]["status"], "error");
            assert_eq!(
                invoice["root"]["children"][1]["error"]["code"],
                "CONTEXT_LENGTH"
            );
            let agent = get(urls[2].clone()).await;
            assert_eq!(agent["execution"]["span_count"], 9);
            assert!(agent["execution"]["token_usage"]["total"].as_u64().unwrap() > 5000);
        });
    });
    let _ = demo.kill();
    let _ = demo.wait();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
