//! Tool input schemas every agent host takes unchanged: OpenAI function
//! calling, Gemini function declarations, Ajv strict, Claude Code, Codex and the
//! MCP Inspector.
//!
//! schemars writes an optional field as `"type": ["integer", "null"]`, adds
//! Rust formats (`uint32`, `double`) and a `$schema`. Hosts choke on each: the
//! Inspector cannot pass a number to a type array, Gemini rewrites it, Ajv strict
//! refuses unknown formats. [`input`] turns a generated schema into the portable
//! subset: a flat object whose every property has one `type`, no `null`, no
//! combinators or references, only standard formats. An absent field is how a
//! caller leaves an optional argument out; Rust keeps it an `Option`.

use rmcp::model::JsonObject;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::sync::Arc;

/// Formats JSON Schema defines (and Ajv knows); any other is dropped.
const STANDARD_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "uuid",
];

/// The portable input schema of a tool whose arguments are `T`.
pub(crate) fn input<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    let generated = rmcp::handler::server::common::schema_for_input::<T>()
        .unwrap_or_else(|e| panic!("input schema of {}: {e}", std::any::type_name::<T>()));
    let mut schema = generated.as_ref().clone();
    schema.remove("$schema");
    schema
        .entry("properties")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        for prop in props.values_mut() {
            portable(prop);
        }
    }
    Arc::new(schema)
}

/// Makes one property schema (and its `items`) portable, in place.
fn portable(schema: &mut Value) {
    let Value::Object(obj) = schema else { return };
    if let Some(Value::Array(types)) = obj.get("type") {
        let mut one: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        if one.len() == 1 {
            obj.insert("type".into(), one.remove(0));
        }
    }
    if obj
        .get("format")
        .and_then(Value::as_str)
        .is_some_and(|f| !STANDARD_FORMATS.contains(&f))
    {
        obj.remove("format");
    }
    if obj.get("default") == Some(&Value::Null) {
        obj.remove("default");
    }
    if let Some(items) = obj.get_mut("items") {
        portable(items);
    }
}

/// A message `body`: any JSON value, as the protocol has it. Its schema says
/// `string`, the one type every host passes through with its description (an
/// untyped property reaches Codex as `{}` and the Inspector as a string), so a
/// string holding the JSON text of an object or array is sent as that value.
/// Other strings, and non-string values from hosts that send them, go as they are.
pub(crate) fn body<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) if s.trim_start().starts_with(['{', '[']) => {
            serde_json::from_str(&s).unwrap_or(Value::String(s))
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize)]
    struct B {
        #[serde(default, deserialize_with = "body")]
        body: Value,
    }

    fn b(v: Value) -> Value {
        serde_json::from_value::<B>(v).unwrap().body
    }

    #[test]
    fn a_body_string_of_object_or_array_text_is_that_value() {
        assert_eq!(b(json!({"body": "{\"a\": 1}"})), json!({"a": 1}));
        assert_eq!(b(json!({"body": " [1, 2]"})), json!([1, 2]));
        assert_eq!(b(json!({"body": "{not json"})), json!("{not json"));
        assert_eq!(b(json!({"body": "42"})), json!("42"));
        assert_eq!(b(json!({"body": "hi"})), json!("hi"));
        assert_eq!(b(json!({"body": {"a": 1}})), json!({"a": 1}));
        assert_eq!(b(json!({"body": 3})), json!(3));
        assert_eq!(b(json!({})), Value::Null);
    }
}
