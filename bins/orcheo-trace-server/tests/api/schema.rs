//! Real answers against the OpenAPI document: every key an answer has is documented, every
//! required key is there, and values have the documented types, enums, formats and patterns. The trace
//! and span answers are written piece by piece, not serialized from the documented types, so
//! this is what keeps the two together.

use orcheo_trace_model::{ExecutionStatus, Timestamp};
use serde_json::{Value, json};

use crate::helpers::{Db, STATIC_TOKEN, TestApp, on_each_backend, span_id, spawn_app, trace_id};

on_each_backend!(trace_span_and_error_answers_match_the_document);

/// What `value` breaks of `schema` (a schema of `doc`, or a reference into it).
pub fn violations(doc: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    check(doc, schema, value, "$", &mut found);
    found
}

/// The schema a `$ref` names, followed to the end.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("not a local schema: {reference}"));
            let target = &doc["components"]["schemas"][name];
            assert!(!target.is_null(), "{reference} is not in the document");
            resolve(doc, target)
        }
        None => schema,
    }
}

fn is_type(value: &Value, name: &str) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        other => panic!("unknown type {other}"),
    }
}

fn check(doc: &Value, schema: &Value, value: &Value, at: &str, found: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = options
            .iter()
            .filter(|option| violations(doc, option, value).is_empty())
            .count();
        if matching != 1 {
            found.push(format!(
                "{at}: {value} matches {matching} of the schemas {options:?}"
            ));
        }
        return;
    }
    if let Some(types) = schema.get("type") {
        let names: Vec<&str> = match types {
            Value::String(name) => vec![name.as_str()],
            Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
            other => panic!("a type of {other}"),
        };
        if !names.iter().any(|name| is_type(value, name)) {
            found.push(format!("{at}: {value} is not of the type {names:?}"));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        found.push(format!("{at}: {value} is none of {allowed:?}"));
    }
    if schema["format"] == "date-time"
        && let Some(text) = value.as_str()
        && Timestamp::parse_rfc3339(text).is_none()
    {
        found.push(format!("{at}: {text} is not an RFC 3339 time"));
    }
    if let (Some(pattern), Some(text)) = (schema["pattern"].as_str(), value.as_str()) {
        // The answers' only patterns are the ids': a fixed number of lowercase hex digits.
        let digits = pattern
            .strip_prefix("^[0-9a-f]{")
            .and_then(|p| p.strip_suffix("}$"))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("a pattern this check does not read: {pattern}"));
        let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        if text.len() != digits || !text.chars().all(hex) {
            found.push(format!("{at}: {text} does not match {pattern}"));
        }
    }
    if let (Some(minimum), Some(number)) = (schema["minimum"].as_f64(), value.as_f64())
        && number < minimum
    {
        found.push(format!("{at}: {number} is below {minimum}"));
    }
    match value {
        Value::Object(fields) => {
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for required in schema["required"].as_array().into_iter().flatten() {
                    let key = required.as_str().unwrap();
                    if !fields.contains_key(key) {
                        found.push(format!("{at}: the required key {key} is missing"));
                    }
                }
                for (key, field) in fields {
                    match properties.get(key) {
                        Some(property) => {
                            check(doc, property, field, &format!("{at}.{key}"), found);
                        }
                        None => found.push(format!("{at}: {key} is not documented")),
                    }
                }
            } else if let Some(extra) = schema.get("additionalProperties").filter(|s| s.is_object())
            {
                for (key, field) in fields {
                    check(doc, extra, field, &format!("{at}.{key}"), found);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, element) in items.iter().enumerate() {
                    check(doc, item, element, &format!("{at}[{i}]"), found);
                }
            }
        }
        _ => {}
    }
}

/// The schema the document gives for `status` of `GET path`.
fn answer_schema<'a>(doc: &'a Value, path: &str, status: u16) -> &'a Value {
    let schema = &doc["paths"][path]["get"]["responses"][status.to_string()]["content"]["application/json"]
        ["schema"];
    assert!(!schema.is_null(), "no schema for {status} of {path}");
    schema
}

/// GETs `url` and checks the answer against what the document says of `path` (its template).
async fn assert_documented(
    app: &TestApp,
    doc: &Value,
    path: &str,
    url: &str,
    status: u16,
) -> Value {
    let answer = app.get(url, Some(STATIC_TOKEN)).await;
    assert_eq!(answer.status, status, "{url}: {}", answer.text);
    let body = answer.json();
    let broken = violations(doc, answer_schema(doc, path, status), &body);
    assert!(broken.is_empty(), "{url}:\n{}\n{body:#}", broken.join("\n"));
    body
}

async fn trace_span_and_error_answers_match_the_document(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    let trace = trace_id(9);
    app.tempo
        .put(trace, &crate::canvas::orcheo_trace(trace, "exec_doc"));
    app.execution("exec_doc", "acme", Some(trace), ExecutionStatus::Completed);
    app.seed("exec_seeded", "acme", 10, 3, ExecutionStatus::Running);
    let doc = app.get("/api/openapi.json", None).await.json();
    let trace_path = "/api/executions/{execution_id}/trace";
    for execution in ["exec_doc", "exec_seeded"] {
        let base = format!("/api/executions/{execution}/trace");
        for query in ["", "?view=flat&limit=1", "?view=tree", "?view=tree&depth=0"] {
            assert_documented(&app, &doc, trace_path, &format!("{base}{query}"), 200).await;
        }
        // A later page of the tree: its spans as subtrees.
        let first = assert_documented(
            &app,
            &doc,
            trace_path,
            &format!("{base}?view=tree&limit=1"),
            200,
        )
        .await;
        let cursor = first["page_info"]["cursor"].as_str().unwrap();
        let later = assert_documented(
            &app,
            &doc,
            trace_path,
            &format!("{base}?view=tree&limit=2&cursor={cursor}"),
            200,
        )
        .await;
        assert!(later["root"].is_null(), "{later}");
        assert!(!later["subtrees"].as_array().unwrap().is_empty(), "{later}");
    }
    let cut = assert_documented(
        &app,
        &doc,
        trace_path,
        "/api/executions/exec_doc/trace?limit=1",
        200,
    )
    .await;
    assert_eq!(
        cut["anomalies"].as_array().unwrap().last().unwrap()["kind"],
        "truncated"
    );
    let span_path = "/api/executions/{execution_id}/trace/spans/{span_id}";
    let span = assert_documented(
        &app,
        &doc,
        span_path,
        &format!("/api/executions/exec_doc/trace/spans/{}", span_id(2)),
        200,
    )
    .await;
    assert!(!span["span"]["attributes"].as_object().unwrap().is_empty());
    assert_documented(
        &app,
        &doc,
        trace_path,
        "/api/executions/exec_nope/trace",
        404,
    )
    .await;
    assert_documented(&app, &doc, "/api/executions", "/api/executions", 200).await;

    // The check finds an undocumented key, a missing one, a wrong type and a value outside
    // an enum.
    let mut flat = app
        .get("/api/executions/exec_doc/trace", Some(STATIC_TOKEN))
        .await
        .json();
    let schema = answer_schema(&doc, trace_path, 200);
    assert_eq!(violations(&doc, schema, &flat), Vec::<String>::new());
    let span = &mut flat["spans"][0];
    span["extra"] = json!(1);
    span.as_object_mut().unwrap().remove("status");
    span["start_time"] = json!(12);
    flat["anomalies"] = json!([{"kind": "no_such_kind", "span_id": null, "detail": ""}]);
    let flat_span = json!({"$ref": "#/components/schemas/FlatSpan"});
    let broken = violations(&doc, &flat_span, &flat["spans"][0]);
    assert_eq!(broken.len(), 3, "{broken:?}");
    assert!(!violations(&doc, schema, &flat).is_empty());
}
