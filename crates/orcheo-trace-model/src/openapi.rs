//! OpenAPI schemas of the types that serialize by hand: ids and times (strings), and key-value
//! lists (JSON objects). The derived schemas of the served types refer to these.

use std::borrow::Cow;

use utoipa::openapi::schema::{AdditionalProperties, KnownFormat, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{Object, ObjectBuilder, RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::ids::{SpanId, TraceId};
use crate::time::Timestamp;

fn hex(description: &str, digits: usize) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^[0-9a-f]{{{digits}}}$")))
        .description(Some(description))
        .into()
}

impl PartialSchema for TraceId {
    fn schema() -> RefOr<Schema> {
        hex("A trace id: 32 lowercase hex digits.", 32)
    }
}

impl ToSchema for TraceId {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("TraceId")
    }
}

impl PartialSchema for SpanId {
    fn schema() -> RefOr<Schema> {
        hex("A span id: 16 lowercase hex digits.", 16)
    }
}

impl ToSchema for SpanId {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("SpanId")
    }
}

impl PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some(
                "RFC 3339 in UTC with nanoseconds: `2026-11-22T05:16:00.123456789Z`.",
            ))
            .into()
    }
}

impl ToSchema for Timestamp {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Timestamp")
    }
}

/// A key-value list as it is served: a JSON object of any values (`schema_with` of the fields
/// that serialize with [`crate::raw::serialize_attributes`]).
pub fn attributes() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(true)))
        .build()
}
