//! What a caller may see of a tree: content withheld (keeping counts and a marker), redacted,
//! and cut to a preview length. Applied in that order, so a secret cut in half by truncation has
//! already been redacted whole.
//!
//! Withholding concerns prompt, response and message text only. Redaction concerns every text a
//! tree carries (names, attribute keys and values, resources, scopes, events, statuses, errors,
//! models, artifacts, anomaly details), and [`ContentPolicy::redact`] is the same redaction for
//! texts served beside a tree.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use orcheo_trace_model::content::{ELLIPSIS, REDACTED, WITHHELD};
use orcheo_trace_model::semconv::{self, CONTENT_ATTR_ROLE, CONTENT_EVENT_NAMES};
use orcheo_trace_model::{
    Artifact, AttributeValue, ContentItem, KeyValue, ModelInfo, NodeKind, Resource, Scope, SmolStr,
    SpanEvent, SpanLink, SpanNode, TraceTree,
};

pub use orcheo_content::truncate_str;
use orcheo_content::{Redactor, cut_at};

/// The content policy for one response.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContentPolicy<'a> {
    /// `true`: prompt, response and message text is withheld everywhere it appears.
    pub withhold_content: bool,
    /// Redact every string the tree carries with these patterns.
    pub redactor: Option<&'a Redactor>,
    /// Cut prompts, responses and messages to this many characters.
    pub preview_max_chars: Option<usize>,
    /// Cut attribute and event values to this many characters (bounds huge attributes).
    pub attribute_max_chars: Option<usize>,
}

impl ContentPolicy<'_> {
    /// `text` redacted as the tree's texts are, for what is served beside a tree (an
    /// execution's error, a live update); borrowed when nothing matched or nothing redacts.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match self.redactor {
            Some(r) => r.redact(text),
            None => Cow::Borrowed(text),
        }
    }
}

/// Applies the policy to every node, and redacts the anomalies' details (they can quote what
/// a source said about a span).
pub fn apply(tree: &mut TraceTree, policy: &ContentPolicy<'_>) {
    let mut shared = Shared::default();
    for node in &mut tree.nodes {
        apply_shared(node, policy, &mut shared);
    }
    if let Some(r) = policy.redactor {
        for anomaly in &mut tree.anomalies {
            redact_string(&mut anomaly.detail, r);
        }
    }
}

/// Applies the policy to one node.
pub fn apply_to_node(node: &mut SpanNode, policy: &ContentPolicy<'_>) {
    apply_shared(node, policy, &mut Shared::default());
}

fn apply_shared(node: &mut SpanNode, policy: &ContentPolicy<'_>, shared: &mut Shared) {
    if let Some(content) = node.content.as_deref_mut() {
        let items = content
            .prompts
            .iter_mut()
            .chain(&mut content.responses)
            .chain(&mut content.messages);
        for item in items {
            if policy.withhold_content {
                withhold(item);
            }
            if let Some(r) = policy.redactor {
                redact_item(item, r);
            }
            if let Some(max) = policy.preview_max_chars {
                truncate_item(item, max);
            }
        }
    }
    let (events, links): (&mut [SpanEvent], &mut [SpanLink]) = match node.content.as_deref_mut() {
        Some(content) => (&mut content.events, &mut content.links),
        None => (&mut [], &mut []),
    };
    if policy.withhold_content {
        for kv in &mut node.attributes {
            if semconv::is_content_attribute(&kv.key) {
                kv.value = AttributeValue::String(SmolStr::new_static(WITHHELD));
            }
        }
        for event in events
            .iter_mut()
            .filter(|e| CONTENT_EVENT_NAMES.contains(&e.name.as_str()))
        {
            for kv in event
                .attributes
                .iter_mut()
                .filter(|kv| kv.key != CONTENT_ATTR_ROLE)
            {
                if matches!(kv.value, AttributeValue::String(_)) {
                    kv.value = AttributeValue::String(SmolStr::new_static(WITHHELD));
                }
            }
        }
    }
    if let Some(r) = policy.redactor {
        for event in events.iter_mut() {
            redact_smol(&mut event.name, r);
        }
    }
    let lists = std::iter::once(&mut node.attributes)
        .chain(events.iter_mut().map(|e| &mut e.attributes))
        .chain(links.iter_mut().map(|l| &mut l.attributes));
    for list in lists {
        for kv in list.iter_mut() {
            if let Some(r) = policy.redactor {
                redact_smol(&mut kv.key, r);
                visit_strings(&mut kv.value, true, &mut |s| {
                    redact_smol(s, r);
                });
            }
            if let Some(max) = policy.attribute_max_chars {
                visit_strings(&mut kv.value, false, &mut |s| {
                    truncate_text(s, max);
                });
            }
        }
    }
    let Some(r) = policy.redactor else { return };
    redact_smol(&mut node.name, r);
    if let NodeKind::Other(kind) = &mut node.kind {
        redact_string(kind, r);
    }
    if let Some(message) = node.status.message.as_mut() {
        redact_string(message, r);
    }
    let errors = node
        .content
        .as_deref_mut()
        .map_or(&mut [][..], |c| &mut c.errors[..]);
    for error in node.error.as_deref_mut().into_iter().chain(errors) {
        let texts = [
            &mut error.error_type,
            &mut error.message,
            &mut error.stack_trace,
            &mut error.code,
            &mut error.hint,
        ];
        for text in texts.into_iter().flatten() {
            redact_string(text, r);
        }
    }
    if let Some(content) = node.content.as_deref_mut() {
        for artifact in &mut content.artifacts {
            redact_artifact(artifact, r);
        }
    }
    shared.redact(node, r);
}

/// Redacted copies of what nodes share (resources, scopes, models), each made once per tree
/// however many nodes point to it. Keyed by the original's address; the original is kept here
/// too, so no other value can be given that address while the map is in use.
#[derive(Default)]
struct Shared {
    resources: HashMap<usize, (Arc<Resource>, Arc<Resource>)>,
    scopes: HashMap<usize, (Arc<Scope>, Arc<Scope>)>,
    models: HashMap<usize, (Arc<ModelInfo>, Arc<ModelInfo>)>,
}

impl Shared {
    fn redact(&mut self, node: &mut SpanNode, r: &Redactor) {
        once(&mut self.resources, &mut node.resource, |resource| {
            let mut copy = resource.clone();
            let mut changed = false;
            for kv in &mut copy.attributes {
                changed |= redact_smol(&mut kv.key, r);
                visit_strings(&mut kv.value, true, &mut |s| changed |= redact_smol(s, r));
            }
            changed.then_some(copy)
        });
        if let Some(scope) = node.scope.as_mut() {
            once(&mut self.scopes, scope, |scope| {
                let mut copy = scope.clone();
                let mut changed = redact_string(&mut copy.name, r);
                if let Some(version) = copy.version.as_mut() {
                    changed |= redact_string(version, r);
                }
                changed.then_some(copy)
            });
        }
        if let Some(model) = node.model.as_mut() {
            once(&mut self.models, model, |model| {
                let mut copy = model.clone();
                let mut changed = false;
                let texts = [
                    &mut copy.name,
                    &mut copy.request,
                    &mut copy.response,
                    &mut copy.provider,
                    &mut copy.kind,
                    &mut copy.operation,
                ];
                for text in texts.into_iter().flatten() {
                    changed |= redact_smol(text, r);
                }
                changed.then_some(copy)
            });
        }
    }
}

/// Replaces `part` by its redacted copy, made by `redact` (`None`: nothing to redact) the first
/// time this part is seen.
fn once<T>(
    seen: &mut HashMap<usize, (Arc<T>, Arc<T>)>,
    part: &mut Arc<T>,
    redact: impl FnOnce(&T) -> Option<T>,
) {
    let key = Arc::as_ptr(part).addr();
    let (_, redacted) = seen.entry(key).or_insert_with(|| {
        let redacted = redact(part).map_or_else(|| Arc::clone(part), Arc::new);
        (Arc::clone(part), redacted)
    });
    *part = Arc::clone(redacted);
}

/// Redacts an artifact's texts; a redacted id gets the URL of the redacted id, so the secret
/// is not served percent-encoded in the URL either.
fn redact_artifact(artifact: &mut Artifact, r: &Redactor) {
    if redact_string(&mut artifact.id, r) {
        artifact.url = crate::normalize::artifact_url(&artifact.id);
    }
    redact_string(&mut artifact.url, r);
    let texts = [
        &mut artifact.name,
        &mut artifact.source_url,
        &mut artifact.content_type,
    ];
    for text in texts.into_iter().flatten() {
        redact_string(text, r);
    }
}

/// Redacts `text` in place; returns whether anything matched.
fn redact_string(text: &mut String, r: &Redactor) -> bool {
    match r.redact(text) {
        Cow::Owned(red) => {
            *text = red;
            true
        }
        Cow::Borrowed(_) => false,
    }
}

/// Redacts `text` in place; returns whether anything matched.
fn redact_smol(text: &mut SmolStr, r: &Redactor) -> bool {
    match r.redact(text) {
        Cow::Owned(red) => {
            *text = SmolStr::from(red);
            true
        }
        Cow::Borrowed(_) => false,
    }
}

fn withhold(item: &mut ContentItem) {
    if let Some(text) = item.content.take() {
        item.length.get_or_insert(text.chars().count() as u64);
    }
    item.withheld = true;
}

fn redact_item(item: &mut ContentItem, redactor: &Redactor) {
    if let Some(role) = item.role.as_mut() {
        redact_smol(role, redactor);
    }
    if let Some(text) = item.content.as_mut()
        && redact_smol(text, redactor)
    {
        item.redacted = true;
    }
    item.redacted |= item
        .content
        .as_deref()
        .is_some_and(|c| c.contains(REDACTED));
}

fn truncate_item(item: &mut ContentItem, max: usize) {
    if let Some(text) = item.content.as_mut() {
        let chars = text.chars().count();
        if truncate_text(text, max) {
            item.truncated = true;
            item.length.get_or_insert(chars as u64);
        }
    }
}

/// Cuts text to at most `max` characters, the last being `…`; returns whether it cut.
fn truncate_text(text: &mut SmolStr, max: usize) -> bool {
    let Some(cut) = cut_at(text, max) else {
        return false;
    };
    let mut kept = String::with_capacity(cut + ELLIPSIS.len_utf8());
    kept.push_str(&text[..cut]);
    kept.push(ELLIPSIS);
    *text = SmolStr::from(kept);
    true
}

/// Calls `f` on every string in `value`, and with `keys` on the keys of the maps in it too.
fn visit_strings(value: &mut AttributeValue, keys: bool, f: &mut impl FnMut(&mut SmolStr)) {
    // Attribute values nest at most as deep as the decoders allow (serde_json and prost both
    // bound recursion), so recursion here is bounded.
    match value {
        AttributeValue::String(s) => f(s),
        AttributeValue::Array(items) => items.iter_mut().for_each(|v| visit_strings(v, keys, f)),
        AttributeValue::Map(kvs) => {
            for KeyValue { key, value } in kvs {
                if keys {
                    f(key);
                }
                visit_strings(value, keys, f);
            }
        }
        _ => {}
    }
}
