//! `--format json` output validates against docs/report.schema.json (the documented contract).
//! The validator covers the keywords that schema and tests/data/sarif-2.1.0-subset.schema.json
//! use: type, enum, required, properties, additionalProperties (false or a schema), items,
//! minItems, maxItems, uniqueItems, minimum, minLength, pattern, and `$ref` to `#/$defs/NAME`.

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

/// Reads a JSON schema of the repository.
pub(crate) fn load_schema(relative: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("schema")).expect("schema is JSON")
}

/// The errors of `v` against `schema` (`$ref`s resolve in `schema` itself).
pub(crate) fn errors(schema: &Value, v: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    validate(schema, schema, v, "$", &mut errors);
    errors
}

const KNOWN: &[&str] = &[
    "$schema",
    "$comment",
    "$defs",
    "$ref",
    "title",
    "description",
    "type",
    "enum",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minimum",
    "minLength",
    "pattern",
];

fn validate(root: &Value, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(obj) = schema.as_object() {
        for k in obj.keys() {
            assert!(
                KNOWN.contains(&k.as_str()),
                "schema uses unsupported keyword {k}"
            );
        }
    }
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r
            .strip_prefix("#/$defs/")
            .expect("only #/$defs/ references");
        let target = root
            .get("$defs")
            .and_then(|d| d.get(name))
            .unwrap_or_else(|| panic!("no definition {name}"));
        validate(root, target, v, at, errors);
    }
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
    if let (Some(min), Some(n)) = (schema.get("minimum").and_then(Value::as_i64), v.as_i64()) {
        if n < min {
            errors.push(format!("{at}: {n} is less than {min}"));
        }
    }
    if let Some(s) = v.as_str() {
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
            if (s.chars().count() as u64) < min {
                errors.push(format!("{at}: {s:?} is shorter than {min}"));
            }
        }
        if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
            let re = regex::Regex::new(p).expect("pattern compiles");
            if !re.is_match(s) {
                errors.push(format!("{at}: {s:?} does not match {p}"));
            }
        }
    }
    if let Some(obj) = v.as_object() {
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
        let props = schema.get("properties").and_then(Value::as_object);
        for (k, val) in obj {
            match (
                props.and_then(|p| p.get(k)),
                schema.get("additionalProperties"),
            ) {
                (Some(s), _) => validate(root, s, val, &format!("{at}.{k}"), errors),
                (None, Some(Value::Bool(false))) => {
                    errors.push(format!("{at}: unexpected property `{k}`"))
                }
                (None, Some(s @ Value::Object(_))) => {
                    validate(root, s, val, &format!("{at}.{k}"), errors)
                }
                (None, _) => {}
            }
        }
    }
    if let Some(arr) = v.as_array() {
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
            if (arr.len() as u64) < min {
                errors.push(format!("{at}: fewer than {min} items"));
            }
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
            if (arr.len() as u64) > max {
                errors.push(format!("{at}: more than {max} items"));
            }
        }
        if schema.get("uniqueItems") == Some(&Value::Bool(true)) {
            for (i, x) in arr.iter().enumerate() {
                if arr[..i].contains(x) {
                    errors.push(format!("{at}[{i}]: repeats an earlier item"));
                }
            }
        }
        if let Some(items) = schema.get("items") {
            for (i, item) in arr.iter().enumerate() {
                validate(root, items, item, &format!("{at}[{i}]"), errors);
            }
        }
    }
}

/// `text` with a suppression comment after its `- kube-apiserver` item (silencing
/// apiserver-profiling), one without a reason, and one naming a rule no profile has.
pub(crate) fn with_suppressions(text: &str) -> String {
    let out = text
        .replacen(
            "    - kube-apiserver\n",
            "    - kube-apiserver # kubeharden: ignore[apiserver-profiling] profiled by our debug tooling\n",
            1,
        )
        .replacen(
            "    - --allow-privileged=true\n",
            "    - --allow-privileged=true # kubeharden: ignore[apiserver-anonymous-auth]\n",
            1,
        )
        .replacen(
            "  - command:\n",
            "  # kubeharden: ignore[no-such-rule] a rule that does not exist\n  - command:\n",
            1,
        );
    assert_eq!(out.matches("kubeharden:").count(), 3, "{out}");
    out
}

#[test]
fn json_reports_validate_against_the_documented_schema() {
    let schema = load_schema("docs/report.schema.json");
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
    let text = std::fs::read_to_string(
        crate::conformance::fixture_dir().join("v1.31/kube-apiserver.yaml"),
    )
    .expect("fixture");
    std::fs::write(dir.path().join("suppressed.yaml"), with_suppressions(&text)).expect("write");
    for profile in ["baseline", "strict"] {
        let out = kubeharden()
            .args(["check", "--format", "json", "--profile", profile])
            .arg(dir.path())
            .output()
            .expect("runs");
        let v: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
        let errors = errors(&schema, &v);
        assert!(errors.is_empty(), "{profile}: {errors:#?}");
        let files = v["files"].as_array().expect("files");
        let statuses: Vec<&str> = files.iter().filter_map(|f| f["status"].as_str()).collect();
        assert!(
            statuses.contains(&"error")
                && statuses.contains(&"skipped")
                && statuses.contains(&"ok"),
            "{statuses:?}"
        );
        // The suppression fields are there to validate.
        let suppressed = files
            .iter()
            .find(|f| {
                f["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("suppressed.yaml"))
            })
            .expect("the file with suppressions");
        let findings = suppressed["findings"].as_array().expect("findings");
        let silenced: Vec<&Value> = findings
            .iter()
            .filter(|f| f.get("suppressed").is_some())
            .collect();
        assert_eq!(silenced.len(), 1, "{findings:#?}");
        assert_eq!(silenced[0]["rule_id"], "apiserver-profiling");
        let kinds: Vec<&str> = suppressed["unused_suppressions"]
            .as_array()
            .expect("unused")
            .iter()
            .filter_map(|u| u["kind"].as_str())
            .collect();
        assert_eq!(kinds, ["unknown_rule", "no_reason"], "{suppressed:#?}");
        let active = files
            .iter()
            .flat_map(|f| f["findings"].as_array().into_iter().flatten())
            .filter(|f| f.get("suppressed").is_none())
            .count();
        assert_eq!(v["summary"]["findings"].as_u64(), Some(active as u64));
        assert_eq!(v["summary"]["suppressed"], 1);
    }
    // The validator itself rejects what the schema forbids.
    let errs = errors(
        &schema,
        &serde_json::json!({"schema_version": 2, "extra": true}),
    );
    assert!(errs.len() >= 3, "{errs:?}");
}
