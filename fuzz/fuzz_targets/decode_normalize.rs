//! Any byte string must decode and normalize without panicking, and the result must render.
//! Read as OTLP protobuf, bytes the generated `prost` types refuse must be refused too: a
//! payload misread into a partial tree is worse than an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::trace::v1::TracesData;
use orcheo_span_tree::Format;
use prost::Message as _;

fuzz_target!(|data: &[u8]| {
    let tree = orcheo_span_tree::decode_and_normalize(data, Format::Auto);
    let _ = orcheo_span_tree::render::tree_json(
        &tree,
        &orcheo_span_tree::render::RenderOptions::default(),
    );
    let _ = orcheo_span_tree::render::flat_json(&tree);
    if TracesData::decode(data).is_err() {
        assert!(
            orcheo_span_tree::decode(data, Format::OtlpProto).is_err(),
            "prost refuses these bytes, the span tree read them"
        );
    }
});
