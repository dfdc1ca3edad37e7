//! Finding traces by a span attribute: the queries sent to each store and the reading of their
//! answers. Pure functions, so that what goes over the wire is tested without a network.
//!
//! The searched value is caller input (an execution id from a URL): every query builder quotes
//! or encodes it for its syntax, so it can neither widen the search nor break the request.

use std::fmt::Write as _;

use orcheo_trace_model::TraceId;
use serde::Deserialize;

/// A query in Tempo's language (`TraceQL`) for spans whose attribute `key` equals `value`:
/// `{ span."key" = "value" }`, both strings quoted.
pub fn traceql_equals(key: &str, value: &str) -> String {
    format!("{{ span.{} = {} }}", quote(key), quote(value))
}

/// The fields a free-text `TraceQL` search looks in: span name, status message, and the
/// attributes that name a node or an error.
const TEXT_FIELDS: [&str; 5] = [
    "name",
    "statusMessage",
    "span.\"orcheo.node.id\"",
    "span.\"error.type\"",
    "span.\"orcheo.error.code\"",
];

/// A query in Tempo's language (`TraceQL`) for spans holding `words` in order (case ignored,
/// anything but letters and digits between them) in a [`TEXT_FIELDS`] field: `{ name =~
/// "(?i).*a[^[:alnum:]]+b.*" || … }`. Every character of a word that is not a letter or digit is
/// escaped for the regular expression, and the expression quoted, so a word can neither widen
/// the search nor leave the string. `None` for no words.
pub fn traceql_text(words: &[String]) -> Option<String> {
    if words.iter().all(String::is_empty) {
        return None;
    }
    let mut pattern = String::from("(?i).*");
    for (i, word) in words.iter().filter(|w| !w.is_empty()).enumerate() {
        if i > 0 {
            pattern.push_str("[^[:alnum:]]+");
        }
        for c in word.chars() {
            if !c.is_alphanumeric() {
                pattern.push('\\');
            }
            pattern.push(c);
        }
    }
    pattern.push_str(".*");
    let pattern = quote(&pattern);
    let alternatives: Vec<String> = TEXT_FIELDS
        .iter()
        .map(|field| format!("{field} =~ {pattern}"))
        .collect();
    Some(format!("{{ {} }}", alternatives.join(" || ")))
}

/// Tempo's older `tags` search parameter (logfmt): `key="value"`.
pub fn tempo_tags(key: &str, value: &str) -> String {
    // logfmt keys end at `=` or a space and cannot be quoted; attribute keys of ours have
    // neither, and anything else in one is dropped rather than allowed to start a second pair.
    let key: String = key
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control() && *c != '=' && *c != '"')
        .collect();
    format!("{key}={}", quote(value))
}

/// Jaeger's `tags` search parameter: a JSON object of one key and its value.
pub fn jaeger_tags(key: &str, value: &str) -> String {
    let mut object = serde_json::Map::new();
    object.insert(key.to_owned(), serde_json::Value::String(value.to_owned()));
    serde_json::Value::Object(object).to_string()
}

/// A double-quoted string literal in the escaping `TraceQL` and logfmt share (Go's): `"` and `\`
/// escaped, control characters as `\u00XX`.
fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(quoted, "\\u{:04x}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// Percent-encodes a query-string component: everything but RFC 3986's unreserved characters.
pub fn encode_component(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

#[derive(Deserialize)]
struct TempoSearch {
    #[serde(default)]
    traces: Option<Vec<TempoHit>>,
}

#[derive(Deserialize)]
struct TempoHit {
    #[serde(rename = "traceID")]
    trace_id: String,
}

/// The trace ids of a Tempo search answer (`{"traces": [{"traceID": …}], "metrics": …}`), in
/// its order, without repeats. Tempo drops leading zeros of the ids; they are put back.
pub fn parse_tempo_search(body: &[u8]) -> Result<Vec<TraceId>, String> {
    let answer: TempoSearch =
        serde_json::from_slice(body).map_err(|e| format!("not a Tempo search answer: {e}"))?;
    ids(answer
        .traces
        .unwrap_or_default()
        .into_iter()
        .map(|t| t.trace_id))
}

#[derive(Deserialize)]
struct JaegerSearch {
    #[serde(default)]
    data: Option<Vec<JaegerHit>>,
}

#[derive(Deserialize)]
struct JaegerHit {
    #[serde(rename = "traceID")]
    trace_id: String,
}

/// The trace ids of a Jaeger query search answer (`{"data": [{"traceID": …, "spans": …}]}`).
pub fn parse_jaeger_search(body: &[u8]) -> Result<Vec<TraceId>, String> {
    let answer: JaegerSearch =
        serde_json::from_slice(body).map_err(|e| format!("not a Jaeger search answer: {e}"))?;
    ids(answer
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|t| t.trace_id))
}

#[derive(Deserialize)]
struct JaegerServices {
    #[serde(default)]
    data: Option<Vec<String>>,
}

/// The services of Jaeger's `GET /api/services` answer (`{"data": ["a", "b"], …}`).
pub fn parse_jaeger_services(body: &[u8]) -> Result<Vec<String>, String> {
    let answer: JaegerServices =
        serde_json::from_slice(body).map_err(|e| format!("not a Jaeger services answer: {e}"))?;
    Ok(answer.data.unwrap_or_default())
}

fn ids(hex: impl Iterator<Item = String>) -> Result<Vec<TraceId>, String> {
    let mut found: Vec<TraceId> = Vec::new();
    for text in hex {
        let id = TraceId::from_hex(&text)
            .map_err(|e| format!("the store named a trace {text:?} that is not an id: {e}"))?;
        if !found.contains(&id) {
            found.push(id);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceql_quotes_the_value_so_it_cannot_leave_the_string() {
        assert_eq!(
            traceql_equals("orcheo.execution.id", "run_42"),
            r#"{ span."orcheo.execution.id" = "run_42" }"#
        );
        assert_eq!(
            traceql_equals("orcheo.execution.id", r#"x" || span.a != "\"#),
            r#"{ span."orcheo.execution.id" = "x\" || span.a != \"\\" }"#
        );
        assert_eq!(
            traceql_equals("k", "a\nb\u{7f}"),
            r#"{ span."k" = "a\u000ab\u007f" }"#
        );
    }

    #[test]
    fn traceql_text_matches_the_words_in_order_in_each_field_quoted() {
        let words = vec!["rate".to_owned(), "limit".to_owned()];
        let query = traceql_text(&words).unwrap();
        assert_eq!(
            query,
            r#"{ name =~ "(?i).*rate[^[:alnum:]]+limit.*" || statusMessage =~ "(?i).*rate[^[:alnum:]]+limit.*" || span."orcheo.node.id" =~ "(?i).*rate[^[:alnum:]]+limit.*" || span."error.type" =~ "(?i).*rate[^[:alnum:]]+limit.*" || span."orcheo.error.code" =~ "(?i).*rate[^[:alnum:]]+limit.*" }"#
        );
        // Whatever a caller passes as a word is escaped for the expression, then quoted.
        let odd = traceql_text(&[r#"a".*|\"#.to_owned()]).unwrap();
        assert!(
            odd.starts_with(r#"{ name =~ "(?i).*a\\\"\\.\\*\\|\\\\.*" ||"#),
            "{odd}"
        );
        assert_eq!(traceql_text(&[]), None);
    }

    #[test]
    fn tempo_tags_are_one_logfmt_pair() {
        assert_eq!(
            tempo_tags("orcheo.execution.id", "run_42"),
            r#"orcheo.execution.id="run_42""#
        );
        assert_eq!(
            tempo_tags("a b=c", r#"v" other="x"#),
            r#"abc="v\" other=\"x""#
        );
    }

    #[test]
    fn jaeger_tags_are_a_json_object() {
        assert_eq!(
            jaeger_tags("orcheo.execution.id", r#"run"42"#),
            r#"{"orcheo.execution.id":"run\"42"}"#
        );
    }

    #[test]
    fn query_components_keep_only_unreserved_characters() {
        assert_eq!(encode_component("run_42.a-b~"), "run_42.a-b~");
        assert_eq!(
            encode_component(r#"{ span."k" = "v&x=1" }"#),
            "%7B%20span.%22k%22%20%3D%20%22v%26x%3D1%22%20%7D"
        );
        assert_eq!(encode_component("é"), "%C3%A9");
    }

    #[test]
    fn tempo_search_answers_give_their_trace_ids_padded_and_once() {
        let body = br#"{"traces":[
            {"traceID":"2f3e0cee77ae5dc9c17ade3689eb2e54","rootServiceName":"orcheo-backend",
             "rootTraceName":"workflow.execution","startTimeUnixNano":"1684778327699392724",
             "durationMs":557,"spanSets":[{"spans":[{"spanID":"563d623c76514f8e",
             "startTimeUnixNano":"1684778327735077898","durationNanos":"446979497",
             "attributes":[{"key":"orcheo.execution.id","value":{"stringValue":"run_42"}}]}],
             "matched":1}]},
            {"traceID":"3e0cee77ae5dc9c17ade3689eb2e54"},
            {"traceID":"2F3E0CEE77AE5DC9C17ADE3689EB2E54"}],
            "metrics":{"inspectedBytes":"1024","totalBlocks":13,"completedJobs":1}}"#;
        let ids = parse_tempo_search(body).unwrap();
        assert_eq!(
            ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "2f3e0cee77ae5dc9c17ade3689eb2e54",
                "003e0cee77ae5dc9c17ade3689eb2e54"
            ]
        );
        assert_eq!(
            parse_tempo_search(br#"{"metrics":{}}"#).unwrap(),
            Vec::<TraceId>::new()
        );
        assert!(parse_tempo_search(b"<html>").is_err());
        assert!(parse_tempo_search(br#"{"traces":[{"traceID":"not hex"}]}"#).is_err());
    }

    #[test]
    fn jaeger_answers_give_trace_ids_and_services() {
        let body = br#"{"data":[{"traceID":"00000000000000000000000000000abc","spans":[
            {"traceID":"00000000000000000000000000000abc","spanID":"0000000000000001",
             "operationName":"workflow.execution","references":[],"startTime":1,"duration":2,
             "tags":[{"key":"orcheo.execution.id","type":"string","value":"run_42"}],
             "logs":[],"processID":"p1","warnings":null}],
            "processes":{"p1":{"serviceName":"orcheo-backend","tags":[]}},"warnings":null}],
            "total":0,"limit":0,"offset":0,"errors":null}"#;
        assert_eq!(
            parse_jaeger_search(body).unwrap(),
            vec![TraceId::from_hex("abc").unwrap()]
        );
        assert!(
            parse_jaeger_search(br#"{"data":null,"errors":null}"#)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            parse_jaeger_services(br#"{"data":["orcheo-backend","jaeger"],"total":2}"#).unwrap(),
            ["orcheo-backend", "jaeger"]
        );
        assert!(parse_jaeger_services(br#"{"data":"orcheo-backend"}"#).is_err());
    }
}
