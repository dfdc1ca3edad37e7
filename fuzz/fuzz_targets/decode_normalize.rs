//! Any byte string must decode and normalize without panicking, and the result must render.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let tree = orcheo_span_tree::decode_and_normalize(data, orcheo_span_tree::Format::Auto);
    let _ = orcheo_span_tree::render::tree_json(
        &tree,
        &orcheo_span_tree::render::RenderOptions::default(),
    );
    let _ = orcheo_span_tree::render::flat_json(&tree);
});
