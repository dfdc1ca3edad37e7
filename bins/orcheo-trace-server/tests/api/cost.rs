//! What runs cost: each span's own tokens and the run's in the trace answers, each execution's in
//! the list (from its span summaries, at today's prices), the tenant's prices, and models with
//! no price, which say so instead of costing nothing.

use orcheo_trace_model::{ExecutionId, ExecutionStatus, SpanSummary, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Db, Options, StoreMode, at, jwt, on_each_backend, span_id, spawn_app_with, trace_id,
};

on_each_backend!(
    the_trace_answers_cost_each_span_and_the_run_and_name_what_has_no_price,
    the_list_costs_each_execution_from_its_span_summaries,
    a_tenant_with_prices_of_its_own_is_costed_with_them,
    a_degraded_tree_from_span_summaries_is_costed_too,
);

/// What `value` breaks of the document's schema `name`.
async fn undocumented(app: &crate::helpers::TestApp, name: &str, value: &Value) -> Vec<String> {
    let doc = app.get("/api/openapi.json", None).await.json();
    let schema = json!({"$ref": format!("#/components/schemas/{name}")});
    crate::schema::violations(&doc, &schema, value)
}

fn usd(value: &Value) -> f64 {
    value["usd"]
        .as_f64()
        .unwrap_or_else(|| panic!("no usd in {value}"))
}

/// Within a millionth of a cent.
fn close(value: &Value, expected: f64) -> bool {
    (usd(value) - expected).abs() < 1e-8
}

/// A root and four spans: a GPT-4o call with cached input, a model no table lists, a tool
/// without tokens, and tokens without a model.
fn priced_trace(trace: orcheo_trace_model::TraceId, execution: &str) -> Value {
    let nanos = |s: u64| at(s).unix_nanos().to_string();
    let span = |n: u64, name: &str, attributes: Value| {
        let mut attributes = attributes.as_array().unwrap().clone();
        attributes.push(json!({"key": "orcheo.execution.id", "value": {"stringValue": execution}}));
        json!({
            "traceId": trace.to_string(),
            "spanId": span_id(n).to_string(),
            "parentSpanId": if n == 1 { Value::Null } else { span_id(1).to_string().into() },
            "name": name,
            "kind": 1,
            "startTimeUnixNano": nanos(n),
            "endTimeUnixNano": nanos(n + 1),
            "attributes": attributes,
            "status": {"code": 1}
        })
    };
    let int = |n: u64| json!({"intValue": n.to_string()});
    let text = |s: &str| json!({"stringValue": s});
    let spans = vec![
        span(1, "workflow.execution", json!([])),
        span(
            2,
            "draft",
            json!([
                {"key": "gen_ai.operation.name", "value": text("chat")},
                {"key": "gen_ai.system", "value": text("openai")},
                {"key": "gen_ai.request.model", "value": text("gpt-4o")},
                {"key": "gen_ai.response.model", "value": text("gpt-4o-2024-08-06")},
                {"key": "gen_ai.usage.input_tokens", "value": int(1_000_000)},
                {"key": "gen_ai.usage.output_tokens", "value": int(100_000)},
                {"key": "gen_ai.usage.cache_read_input_tokens", "value": int(400_000)}
            ]),
        ),
        span(
            3,
            "in-house",
            json!([
                {"key": "llm.model_name", "value": text("acme-llm-7b")},
                {"key": "llm.token_count.prompt", "value": int(10)},
                {"key": "llm.token_count.completion", "value": int(10)}
            ]),
        ),
        span(
            4,
            "lookup",
            json!([{"key": "orcheo.node.kind", "value": text("tool")}]),
        ),
        span(
            5,
            "unnamed",
            json!([
                {"key": "orcheo.token.input", "value": int(5)},
                {"key": "orcheo.token.output", "value": int(5)}
            ]),
        ),
    ];
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": text("orcheo-backend")}]},
        "scopeSpans": [{"scope": {"name": "orcheo.tracing"}, "spans": spans}]
    }]})
}

async fn the_trace_answers_cost_each_span_and_the_run_and_name_what_has_no_price(db: Db) {
    let Some(app) = spawn_app_with(db, Options::default()).await else {
        return;
    };
    let trace = trace_id(41);
    app.tempo.put(trace, &priced_trace(trace, "priced"));
    app.execution("priced", "acme", Some(trace), ExecutionStatus::Completed);
    let token = jwt("acme", "traces:read");
    let body = app
        .get("/api/executions/priced/trace?view=tree", Some(&token))
        .await
        .json();
    let root = &body["root"];
    assert_eq!(
        root["cost"],
        Value::Null,
        "the root has no tokens of its own"
    );
    let child = |name: &str| {
        root["children"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap()
    };
    // 600k uncached at $2.50, 400k cached at $1.25, 100k out at $10 (a million tokens each).
    let draft = child("draft");
    assert!(close(&draft["cost"], 1.5 + 0.5 + 1.0), "{}", draft["cost"]);
    assert_eq!(draft["cost"]["priced_as"], "gpt-4o");
    assert_eq!(draft["self_token_usage"]["cached_input"], 400_000);
    assert_eq!(
        child("in-house")["cost"],
        json!({"usd": null, "unpriced": "model_not_in_price_table"})
    );
    assert_eq!(child("lookup")["cost"], Value::Null);
    assert_eq!(
        child("unnamed")["cost"],
        json!({"usd": null, "unpriced": "no_model"})
    );
    let run = &body["execution"]["cost"];
    assert!(close(run, 3.0), "{run}");
    assert_eq!(run["complete"], false);
    assert_eq!(run["unpriced_spans"], 2);
    assert_eq!(run["unpriced_models"], json!(["acme-llm-7b"]));

    // The flat view (Canvas's) carries the run's cost; the span route the span's.
    let flat = app
        .get("/api/executions/priced/trace", Some(&token))
        .await
        .json();
    assert!(close(&flat["execution"]["cost"], 3.0));
    let span = app
        .get(
            &format!("/api/executions/priced/trace/spans/{}", span_id(2)),
            Some(&token),
        )
        .await
        .json();
    assert!(close(&span["span"]["cost"], 3.0), "{span}");
    // Every cost shape, priced, unpriced and null, is the documented one.
    assert_eq!(
        undocumented(&app, "TraceResponse", &body).await,
        Vec::<String>::new()
    );
    assert_eq!(
        undocumented(&app, "SpanResponse", &span).await,
        Vec::<String>::new()
    );
    // A second answer comes from the cache, with the same costs.
    let again = app
        .get("/api/executions/priced/trace?view=tree", Some(&token))
        .await
        .json();
    assert_eq!(again["execution"]["cost"], body["execution"]["cost"]);
}

fn summary(
    execution: &str,
    span: u64,
    model: Option<&str>,
    tokens: Option<(u64, u64)>,
) -> SpanSummary {
    SpanSummary {
        execution_id: ExecutionId::new(execution).unwrap(),
        span_id: span_id(span),
        parent_span_id: (span > 1).then(|| span_id(1)),
        name: format!("span {span}"),
        kind: "llm".to_owned(),
        start_time: at(span),
        end_time: Some(at(span + 1)),
        status_code: StatusCode::Ok,
        status_message: None,
        input_tokens: tokens.map(|t| t.0),
        output_tokens: tokens.map(|t| t.1),
        cached_input_tokens: None,
        model: model.map(str::to_owned),
        provider: None,
    }
}

fn listed(body: &Value, id: &str) -> Value {
    body["executions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} not listed: {body}"))
}

async fn the_list_costs_each_execution_from_its_span_summaries(db: Db) {
    let Some(app) = spawn_app_with(db, Options::default()).await else {
        return;
    };
    for id in ["priced", "partly", "tokenless"] {
        app.execution(id, "acme", None, ExecutionStatus::Completed);
    }
    let mut cached = summary(
        "priced",
        2,
        Some("gpt-4o-mini-2024-07-18"),
        Some((1_000_000, 0)),
    );
    cached.cached_input_tokens = Some(1_000_000);
    app.store
        .record_summaries(&[
            summary("priced", 1, None, None),
            cached,
            summary(
                "priced",
                3,
                Some("claude-3-5-haiku-20241022"),
                Some((0, 1_000_000)),
            ),
            summary("partly", 2, Some("gpt-4o"), Some((1_000_000, 0))),
            summary("partly", 3, Some("acme-llm-7b"), Some((10, 10))),
            summary("partly", 4, Some("acme-llm-7b"), Some((10, 10))),
            summary("partly", 5, Some("ORDER-123-llm"), Some((10, 10))),
            summary("tokenless", 2, None, None),
        ])
        .unwrap();
    let body = app
        .get("/api/executions", Some(&jwt("acme", "traces:read")))
        .await
        .json();
    // A million cached gpt-4o-mini input tokens at $0.075, a million Haiku output at $4.
    let priced = listed(&body, "priced");
    assert!(close(&priced["cost"], 0.075 + 4.0), "{priced}");
    assert_eq!(priced["cost"]["complete"], true);
    assert_eq!(priced["token_usage"]["cached_input"], 1_000_000);
    let partly = listed(&body, "partly");
    assert!(close(&partly["cost"], 2.5), "{partly}");
    assert_eq!(partly["cost"]["complete"], false);
    assert_eq!(partly["cost"]["unpriced_spans"], 3);
    // Model names are shown redacted, as every text read off spans.
    assert_eq!(
        partly["cost"]["unpriced_models"],
        json!(["[REDACTED]-llm", "acme-llm-7b"])
    );
    assert!(listed(&body, "tokenless").get("cost").is_none());
    assert_eq!(
        undocumented(&app, "ExecutionList", &body).await,
        Vec::<String>::new()
    );
}

async fn a_tenant_with_prices_of_its_own_is_costed_with_them(db: Db) {
    let prices = orcheo_pricing::PriceTable::builtin()
        .unwrap()
        .with_file(
            "prices.toml",
            r#"
            [[tenants.acme.prices]]
            model = "gpt-4o"
            input = 1.0
            output = 1.0
            "#,
        )
        .unwrap();
    let Some(app) = spawn_app_with(
        db,
        Options {
            prices: Some(prices),
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    for (execution, tenant, n) in [("ours", "acme", 42), ("theirs", "globex", 43)] {
        let trace = trace_id(n);
        app.tempo.put(trace, &priced_trace(trace, execution));
        app.execution(execution, tenant, Some(trace), ExecutionStatus::Completed);
        app.store
            .record_summaries(&[summary(
                execution,
                2,
                Some("gpt-4o"),
                Some((1_000_000, 1_000_000)),
            )])
            .unwrap();
    }
    let ours = app
        .get(
            "/api/executions/ours/trace?view=tree",
            Some(&jwt("acme", "traces:read")),
        )
        .await
        .json();
    // 1.1 M tokens at $1 (the tenant's gpt-4o, which lists no cached price).
    assert!(
        close(&ours["execution"]["cost"], 1.1),
        "{}",
        ours["execution"]
    );
    let theirs = app
        .get(
            "/api/executions/theirs/trace?view=tree",
            Some(&jwt("globex", "traces:read")),
        )
        .await
        .json();
    assert!(close(&theirs["execution"]["cost"], 3.0));

    let admin = jwt("acme", "traces:read traces:admin");
    let list = |tenant: &'static str| {
        let admin = admin.clone();
        let app = &app;
        async move {
            app.get(&format!("/api/executions?tenant={tenant}"), Some(&admin))
                .await
                .json()
        }
    };
    assert!(close(&listed(&list("acme").await, "ours")["cost"], 2.0));
    assert!(close(
        &listed(&list("globex").await, "theirs")["cost"],
        12.5
    ));
}

async fn a_degraded_tree_from_span_summaries_is_costed_too(db: Db) {
    let Some(app) = spawn_app_with(db, Options::default()).await else {
        return;
    };
    let trace = trace_id(44);
    app.execution("down", "acme", Some(trace), ExecutionStatus::Completed);
    let mut llm = summary("down", 2, Some("gpt-4o"), Some((1_000_000, 100_000)));
    llm.cached_input_tokens = Some(400_000);
    llm.provider = Some("openai".to_owned());
    app.store
        .record_summaries(&[summary("down", 1, None, None), llm])
        .unwrap();
    app.tempo.set_mode(StoreMode::Down);
    let body = app
        .get(
            "/api/executions/down/trace?view=tree",
            Some(&jwt("acme", "traces:read")),
        )
        .await
        .json();
    assert_eq!(body["source"]["degraded"], true, "{body}");
    let child = &body["root"]["children"][0];
    assert_eq!(child["model"]["provider"], "openai");
    assert!(close(&child["cost"], 3.0), "{}", child["cost"]);
    assert!(close(&body["execution"]["cost"], 3.0));
}
