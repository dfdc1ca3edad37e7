//! `normalize`: a payload file → its span tree as JSON on standard output.

use std::io::{Read as _, Write as _};
use std::path::Path;

use anyhow::Context as _;
use orcheo_span_tree::filter::{self, ContentPolicy};
use orcheo_span_tree::redact::Redactor;
use orcheo_span_tree::render::{self, RenderOptions};

use crate::cli::{NormalizeArgs, View};

pub(crate) fn run(args: &NormalizeArgs) -> anyhow::Result<()> {
    let bytes = read_input(args.input.as_deref())?;
    let decoded = orcheo_span_tree::decode(&bytes, args.format)?;
    let mut tree = orcheo_span_tree::normalize_decoded(decoded);

    let redactor = if args.redact || !args.redact_patterns.is_empty() {
        Some(Redactor::new(&args.redact_patterns)?)
    } else {
        None
    };
    let policy = ContentPolicy {
        withhold_content: args.withhold_content,
        redactor: redactor.as_ref(),
        preview_max_chars: args.preview_length.map(|n| n as usize),
        attribute_max_chars: None,
    };
    filter::apply(&mut tree, &policy);

    let json = match args.view {
        View::Tree => render::tree_document(
            &tree,
            &RenderOptions {
                max_depth: args.depth,
                ..RenderOptions::default()
            },
        )?,
        View::Flat => render::flat_json(&tree)?,
    };
    let json = if args.pretty { indent(&json) } else { json };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&json)?;
    stdout.write_all(b"\n")?;
    stdout.flush()?;
    Ok(())
}

/// Re-indents compact JSON, two spaces a level. A byte scanner rather than a parse, so a
/// 10,000-deep tree prints as well as a shallow one and keys keep their order.
fn indent(compact: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.resize(out.len() + 2 * depth, b' ');
    };
    for (i, &b) in compact.iter().enumerate() {
        if in_string {
            out.push(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                out.push(b);
            }
            b'{' | b'[' => {
                out.push(b);
                // Empty containers stay on one line.
                if !matches!(compact.get(i + 1), Some(b'}' | b']')) {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            b'}' | b']' => {
                if !matches!(
                    i.checked_sub(1).and_then(|j| compact.get(j)),
                    Some(b'{' | b'[')
                ) {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(b);
            }
            b',' => {
                out.push(b);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            _ => out.push(b),
        }
    }
    out
}

fn read_input(path: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    match path {
        None => read_stdin(),
        Some(p) if p.as_os_str() == "-" => read_stdin(),
        Some(p) => std::fs::read(p).with_context(|| format!("cannot read {}", p.display())),
    }
}

fn read_stdin() -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .context("cannot read standard input")?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn indent_keeps_strings_order_and_empty_containers() {
        let out = super::indent(br#"{"b":[1,{}],"a":"x,{\"]}"}"#);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "{\n  \"b\": [\n    1,\n    {}\n  ],\n  \"a\": \"x,{\\\"]}\"\n}"
        );
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["a"], "x,{\"]}");
    }
}
