//! What a caller may see of a tree: content withheld (keeping counts and a marker), redacted,
//! and cut to a preview length. Applied in that order, so a secret cut in half by truncation has
//! already been redacted whole.

use orcheo_trace_model::content::{ELLIPSIS, REDACTED, WITHHELD};
use orcheo_trace_model::semconv::{self, CONTENT_ATTR_ROLE, CONTENT_EVENT_NAMES};
use orcheo_trace_model::{
    AttributeValue, ContentItem, KeyValue, SmolStr, SpanEvent, SpanLink, SpanNode, TraceTree,
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

/// Applies the policy to every node.
pub fn apply(tree: &mut TraceTree, policy: &ContentPolicy<'_>) {
    for node in &mut tree.nodes {
        apply_to_node(node, policy);
    }
}

/// Applies the policy to one node.
pub fn apply_to_node(node: &mut SpanNode, policy: &ContentPolicy<'_>) {
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
    let lists = std::iter::once(&mut node.attributes)
        .chain(events.iter_mut().map(|e| &mut e.attributes))
        .chain(links.iter_mut().map(|l| &mut l.attributes));
    for list in lists {
        for kv in list.iter_mut() {
            visit_strings(&mut kv.value, &mut |s| {
                if let Some(r) = policy.redactor
                    && let std::borrow::Cow::Owned(red) = r.redact(s)
                {
                    *s = SmolStr::from(red);
                }
                if let Some(max) = policy.attribute_max_chars {
                    truncate_text(s, max);
                }
            });
        }
    }
    if let Some(r) = policy.redactor
        && let Some(message) = node.status.message.as_mut()
        && let std::borrow::Cow::Owned(red) = r.redact(message)
    {
        *message = red;
    }
    if let (Some(r), Some(error)) = (policy.redactor, node.error.as_mut()) {
        for text in [&mut error.message, &mut error.stack_trace, &mut error.hint]
            .into_iter()
            .flatten()
        {
            if let std::borrow::Cow::Owned(red) = r.redact(text) {
                *text = red;
            }
        }
    }
}

fn withhold(item: &mut ContentItem) {
    if let Some(text) = item.content.take() {
        item.length.get_or_insert(text.chars().count() as u64);
    }
    item.withheld = true;
}

fn redact_item(item: &mut ContentItem, redactor: &Redactor) {
    if let Some(text) = item.content.as_mut()
        && let std::borrow::Cow::Owned(red) = redactor.redact(text)
    {
        *text = SmolStr::from(red);
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

fn visit_strings(value: &mut AttributeValue, f: &mut impl FnMut(&mut SmolStr)) {
    // Attribute values nest at most as deep as the decoders allow (serde_json and prost both
    // bound recursion), so recursion here is bounded.
    match value {
        AttributeValue::String(s) => f(s),
        AttributeValue::Array(items) => items.iter_mut().for_each(|v| visit_strings(v, f)),
        AttributeValue::Map(kvs) => kvs
            .iter_mut()
            .for_each(|KeyValue { value, .. }| visit_strings(value, f)),
        _ => {}
    }
}
