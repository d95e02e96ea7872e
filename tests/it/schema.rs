//! `--format json` output validates against docs/report.schema.json (the documented contract).
//! The validator covers the keywords that schema uses: type, enum, required, properties,
//! additionalProperties: false, items.

use crate::cli::{kubeharden, scratch};
use serde_json::Value;
use std::path::Path;

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "string" => v.is_string(),
        "integer" => v.is_u64() || v.is_i64(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        other => panic!("schema uses unsupported type {other}"),
    }
}

fn validate(schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(t) = schema.get("type") {
        let ok = match t {
            Value::String(s) => type_ok(s, v),
            Value::Array(ts) => ts.iter().any(|t| type_ok(t.as_str().unwrap_or(""), v)),
            _ => false,
        };
        if !ok {
            errors.push(format!("{at}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(Value::Array(allowed)) = schema.get("enum") {
        if !allowed.contains(v) {
            errors.push(format!("{at}: {v} is not one of {allowed:?}"));
        }
    }
    if let (Some(obj), Some(props)) = (
        v.as_object(),
        schema.get("properties").and_then(Value::as_object),
    ) {
        for r in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = r.as_str().unwrap_or("");
            if !obj.contains_key(key) {
                errors.push(format!("{at}: missing required `{key}`"));
            }
        }
        for (k, val) in obj {
            match props.get(k) {
                Some(s) => validate(s, val, &format!("{at}.{k}"), errors),
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errors.push(format!("{at}: unexpected property `{k}`"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, item) in arr.iter().enumerate() {
            validate(items, item, &format!("{at}[{i}]"), errors);
        }
    }
}

#[test]
fn json_reports_validate_against_the_documented_schema() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json"),
        )
        .expect("schema"),
    )
    .expect("schema is JSON");
    let dir = scratch("broken.yaml", b"kind: Pod\nspec: [\n");
    std::fs::write(
        dir.path().join("web.yaml"),
        "kind: Pod\nspec:\n  containers:\n  - command: [nginx]\n",
    )
    .expect("write");
    for fixture in ["v1.19", "v1.30", "v1.34"] {
        std::fs::copy(
            crate::conformance::fixture_dir()
                .join(fixture)
                .join("kube-apiserver.yaml"),
            dir.path().join(format!("{fixture}.yaml")),
        )
        .expect("copy");
    }
    for profile in ["baseline", "strict"] {
        let out = kubeharden()
            .args(["check", "--format", "json", "--profile", profile])
            .arg(dir.path())
            .output()
            .expect("runs");
        let v: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
        let mut errors = Vec::new();
        validate(&schema, &v, "$", &mut errors);
        assert!(errors.is_empty(), "{profile}: {errors:#?}");
        let statuses: Vec<&str> = v["files"]
            .as_array()
            .expect("files")
            .iter()
            .filter_map(|f| f["status"].as_str())
            .collect();
        assert!(
            statuses.contains(&"error")
                && statuses.contains(&"skipped")
                && statuses.contains(&"ok"),
            "{statuses:?}"
        );
    }
    // The validator itself rejects what the schema forbids.
    let mut errors = Vec::new();
    validate(
        &schema,
        &serde_json::json!({"schema_version": 2, "extra": true}),
        "$",
        &mut errors,
    );
    assert!(errors.len() >= 3, "{errors:?}");
}
