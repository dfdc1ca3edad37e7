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
            },
        )?,
        View::Flat => render::flat_json(&tree)?,
    };
    let json = if args.pretty {
        let value: serde_json::Value = serde_json::from_slice(&json)?;
        serde_json::to_vec_pretty(&value)?
    } else {
        json
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&json)?;
    stdout.write_all(b"\n")?;
    stdout.flush()?;
    Ok(())
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
