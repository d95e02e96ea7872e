//! `check --format sarif`: the log validates against the project's restatement of the SARIF
//! 2.1.0 constraints (tests/data/sarif-2.1.0-subset.schema.json), every result points at the
//! setting it is about, rules and results agree, and the fixes give what `fix` writes.

use crate::cli::{kubeharden, scratch};
use crate::conformance::{builtins, fixture_dir};
use crate::schema::{errors, load_schema, with_suppressions};
use kubeharden::profile::Profile;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// A directory of real files: every kubeadm fixture (as `v1.NN-name.yaml`), two kubeadm
/// configuration files (one with CRLF line endings), a manifest with suppression comments,
/// and a broken file.
fn inputs() -> tempfile::TempDir {
    let dir = scratch("broken.yaml", b"kind: Pod\nspec: [\n");
    for version in std::fs::read_dir(fixture_dir()).expect("fixtures") {
        let version = version.expect("entry").path();
        if !version.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&version).expect("fixture dir") {
            let file = file.expect("entry").path();
            let name = format!(
                "{}-{}",
                version.file_name().expect("name").to_string_lossy(),
                file.file_name().expect("name").to_string_lossy()
            );
            std::fs::copy(&file, dir.path().join(name)).expect("copy");
        }
    }
    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kubeadm-config");
    for name in ["v1beta4-kubelet.yaml", "v1beta4-crlf.yaml"] {
        std::fs::copy(configs.join(name), dir.path().join(name)).expect("copy");
    }
    let text =
        std::fs::read_to_string(fixture_dir().join("v1.31/kube-apiserver.yaml")).expect("read");
    std::fs::write(dir.path().join("suppressed.yaml"), with_suppressions(&text)).expect("write");
    dir
}

fn sarif(dir: &Path, args: &[&str]) -> (Option<i32>, Value) {
    let out = kubeharden()
        .current_dir(dir)
        .args(["check", "--format", "sarif"])
        .args(args)
        .arg(".")
        .output()
        .expect("runs");
    let v = serde_json::from_slice(&out.stdout).expect("SARIF is JSON");
    (out.status.code(), v)
}

fn percent_decode(uri: &str) -> String {
    let b = uri.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).expect("hex");
            out.push(u8::from_str_radix(hex, 16).expect("hex"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf8")
}

/// The byte offset of a 1-based line and column (columns count characters; the column after
/// the last one of a line may lie past its line break, SARIF §3.30.2).
fn offset(text: &str, line: u64, column: u64) -> Option<usize> {
    let mut start = 0;
    for _ in 1..line {
        start += text.get(start..)?.find('\n')? + 1;
    }
    let rest = text.get(start..)?;
    let skip = usize::try_from(column.checked_sub(1)?).ok()?;
    rest.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(rest.len()))
        .nth(skip)
        .map(|i| start + i)
}

/// The text a region covers, if it is a valid region of `text`.
fn region_text<'a>(text: &'a str, region: &Value) -> Option<&'a str> {
    let n = |k: &str| region[k].as_u64();
    let start = offset(text, n("startLine")?, n("startColumn")?)?;
    let end = offset(text, n("endLine")?, n("endColumn")?)?;
    text.get(start..end)
}

/// What is wrong with a result's region: it must cover exactly the item the finding is about.
/// - a flag item (`--flag=value`, quoted or not), whose flag the message names;
/// - the program item at the start of the command list, for a flag that is missing;
/// - a configuration entry (`key: value`, or a `name: flag` item), which the message names,
///   or the key a missing setting is reported at.
fn region_problem(text: &str, result: &Value, component: &str) -> Option<String> {
    let loc = &result["locations"][0]["physicalLocation"]["region"];
    let Some(t) = region_text(text, loc) else {
        return Some(format!("{loc} is not a region of the file"));
    };
    let message = result["message"]["text"].as_str().unwrap_or("");
    let start = offset(
        text,
        loc["startLine"].as_u64()?,
        loc["startColumn"].as_u64()?,
    )?;
    if !t.contains('\n') {
        // The item ends the line's content: only a comment may follow it.
        let rest = &text[start..];
        let line = rest.split(['\r', '\n']).next().unwrap_or("");
        let content = line.split(" #").next().unwrap_or("").trim_end();
        let content = content.trim_end_matches([',', ']', ' ']);
        if !(content == t
            || content.starts_with(t) && content[t.len()..].starts_with([',', ' ', ':']))
        {
            return Some(format!("{t:?} is not a whole item of the line {line:?}"));
        }
    }
    let unquoted = t.trim_start_matches(['"', '\'']);
    if let Some(flag) = unquoted.strip_prefix("--") {
        let name = flag.split(['=', '"', '\'']).next().unwrap_or("");
        if !message.contains(&format!("--{name}")) {
            return Some(format!(
                "{t:?}: the message does not name --{name}: {message}"
            ));
        }
        return None;
    }
    if text.contains("kind: Pod") {
        if !t.ends_with(component) {
            return Some(format!(
                "{t:?} is neither a flag nor the program {component}"
            ));
        }
        return None;
    }
    let key = t.split(':').next().unwrap_or("");
    let setting = match key {
        "name" => format!(
            "--{}",
            t.split(['\n', '\r']).next().unwrap_or("")["name:".len()..].trim()
        ),
        k => k.to_string(),
    };
    let head = ["apiVersion", "kind", "apiServer"].contains(&key);
    if !head && !message.contains(&setting) {
        return Some(format!(
            "{t:?}: the message does not name {setting}: {message}"
        ));
    }
    None
}

/// Applies replacements given by lines and columns to `text`, last first.
fn apply(text: &str, replacements: &[Value]) -> Option<String> {
    let mut ranges = Vec::new();
    for r in replacements {
        let d = &r["deletedRegion"];
        let n = |k: &str| d[k].as_u64();
        let a = offset(text, n("startLine")?, n("startColumn")?)?;
        let b = offset(text, n("endLine")?, n("endColumn")?)?;
        let ins = r["insertedContent"]["text"]
            .as_str()
            .unwrap_or("")
            .to_string();
        ranges.push((a, b, ins));
    }
    ranges.sort_by_key(|r| r.0);
    let mut out = text.to_string();
    for (a, b, ins) in ranges.into_iter().rev() {
        out.replace_range(a..b, &ins);
    }
    Some(out)
}

/// Everything the log must satisfy beyond the schema: the problems found, and how many files'
/// fixes were compared with `fix --output -`.
fn check_log(
    dir: &Path,
    log: &Value,
    profile: &Profile,
    fix_args: &[&str],
) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ids: Vec<&str> = rules.iter().filter_map(|r| r["id"].as_str()).collect();
    let want: Vec<&str> = profile.rules.iter().map(|r| r.id.as_str()).collect();
    if ids != want {
        out.push(format!("rules {ids:?} are not the profile's {want:?}"));
    }
    let mut fixes: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (i, res) in run["results"].as_array().into_iter().flatten().enumerate() {
        let id = res["ruleId"].as_str().unwrap_or("");
        let Some(rule) = profile.rule(id) else {
            out.push(format!(
                "result {i}: {id} is not a rule of {}",
                profile.name
            ));
            continue;
        };
        let index = res["ruleIndex"].as_u64().unwrap_or(u64::MAX) as usize;
        if rules.get(index).and_then(|r| r["id"].as_str()) != Some(id) {
            out.push(format!("result {i}: rules[{index}] is not {id}"));
        }
        if res["level"] != kubeharden::render::sarif::level(rule.severity) {
            out.push(format!("result {i}: level {} for {id}", res["level"]));
        }
        let artifact = &res["locations"][0]["physicalLocation"]["artifactLocation"];
        let uri = artifact["uri"].as_str().unwrap_or("");
        if artifact["uriBaseId"] != kubeharden::render::sarif::SRCROOT || uri.starts_with("./") {
            out.push(format!(
                "result {i}: {artifact} is not relative to %SRCROOT%"
            ));
        }
        let path = percent_decode(uri);
        let Ok(text) = std::fs::read_to_string(dir.join(&path)) else {
            out.push(format!("result {i}: no file {path}"));
            continue;
        };
        let text = text.trim_start_matches('\u{feff}');
        if let Some(p) = region_problem(text, res, &rule.component) {
            out.push(format!("result {i} ({path}, {id}): {p}"));
        }
        let suppressed = res["suppressions"]
            .as_array()
            .is_some_and(|s| !s.is_empty());
        let fixable = res["properties"]["fixable"] == true;
        match res["fixes"].as_array() {
            Some(f) if suppressed || !fixable => out.push(format!(
                "result {i}: fixes on a result that is suppressed or not fixable: {f:?}"
            )),
            Some(f) => fixes
                .entry(path.clone())
                .or_default()
                .extend(f.iter().cloned()),
            None => {}
        }
        if res["properties"]["versionSource"] == "node" {
            out.push(format!(
                "result {i}: the version came from another file; compare with --kubernetes-version"
            ));
        }
    }
    let compared = fixes.len();
    // Each file's fixes are one fix, attached to each of its fixable results; applied to the
    // original, it gives exactly what `kubeharden fix --output -` writes.
    for (path, list) in &fixes {
        if list.windows(2).any(|w| w[0] != w[1]) {
            out.push(format!("{path}: the fixes of its results differ"));
        }
        let reps = list[0]["artifactChanges"][0]["replacements"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let original = std::fs::read_to_string(dir.join(path)).expect("read");
        let bom = if original.starts_with('\u{feff}') {
            "\u{feff}"
        } else {
            ""
        };
        let fixed = kubeharden()
            .current_dir(dir)
            .args(["fix", "--output", "-"])
            .args(fix_args)
            .arg(path)
            .output()
            .expect("runs");
        let Some(applied) = apply(&original[bom.len()..], &reps) else {
            out.push(format!("{path}: a replacement is not a region of the file"));
            continue;
        };
        if fixed.status.code() != Some(0) || format!("{bom}{applied}").as_bytes() != fixed.stdout {
            out.push(format!(
                "{path}: the fixes do not give what `fix --output -` writes ({:?})",
                fixed.status.code()
            ));
        }
    }
    (out, compared)
}

fn problems(dir: &Path, log: &Value, profile: &Profile, fix_args: &[&str]) -> Vec<String> {
    check_log(dir, log, profile, fix_args).0
}

#[test]
fn sarif_logs_validate_point_at_the_settings_and_carry_the_fixes() {
    let schema = load_schema("tests/data/sarif-2.1.0-subset.schema.json");
    let dir = inputs();
    let (_, baseline, strict) = builtins();
    for profile in [baseline, strict] {
        let (code, log) = sarif(dir.path(), &["--profile", &profile.name]);
        assert_eq!(code, Some(2), "the broken file makes the run fail");
        let errs = errors(&schema, &log);
        assert!(errs.is_empty(), "{}: {errs:#?}", profile.name);
        let (found, compared) = check_log(dir.path(), &log, profile, &["--profile", &profile.name]);
        assert!(found.is_empty(), "{}: {found:#?}", profile.name);
        assert!(compared >= 30, "fixes of {compared} files compared");

        let run = &log["runs"][0];
        let results = run["results"].as_array().expect("results");
        assert!(results.len() > 50, "{}", results.len());
        assert!(
            results.iter().any(|r| r["fixes"].is_array()),
            "some results carry fixes"
        );
        // The broken file: an error notification with its position; the run failed.
        let invocation = &run["invocations"][0];
        assert_eq!(invocation["executionSuccessful"], false);
        let notes = invocation["toolExecutionNotifications"]
            .as_array()
            .expect("notifications");
        let broken = notes
            .iter()
            .find(|n| n["level"] == "error")
            .expect("an error notification");
        let loc = &broken["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "broken.yaml");
        assert_eq!(loc["region"]["startLine"], 3);
        // Suppression comments: the silenced finding is an inSource suppression with the
        // reason; the comments that silence nothing are notifications at their position.
        let silenced: Vec<&Value> = results
            .iter()
            .filter(|r| r["suppressions"].as_array().is_some_and(|s| !s.is_empty()))
            .collect();
        assert_eq!(silenced.len(), 1, "{silenced:#?}");
        assert_eq!(silenced[0]["ruleId"], "apiserver-profiling");
        assert_eq!(silenced[0]["suppressions"][0]["kind"], "inSource");
        assert_eq!(
            silenced[0]["suppressions"][0]["justification"],
            "profiled by our debug tooling"
        );
        assert!(
            results.iter().all(|r| r["suppressions"].is_array()),
            "§3.27.23: all results carry suppressions, or none"
        );
        let unused: Vec<&str> = notes
            .iter()
            .filter_map(|n| n["descriptor"]["id"].as_str())
            .filter(|id| id.contains("suppression"))
            .collect();
        assert_eq!(
            unused,
            [
                "kubeharden-unused-suppression",
                "kubeharden-invalid-suppression"
            ]
        );
    }
    // The exit code is the same as for the other formats.
    std::fs::remove_file(dir.path().join("broken.yaml")).expect("remove");
    let (code, log) = sarif(dir.path(), &[]);
    assert_eq!(code, Some(1));
    assert_eq!(
        log["runs"][0]["invocations"][0]["executionSuccessful"],
        true
    );
    // Without reading suppression comments, results carry no suppression information.
    let (_, log) = sarif(dir.path(), &["--no-ignores"]);
    let results = log["runs"][0]["results"].as_array().expect("results");
    assert!(results.iter().all(|r| r.get("suppressions").is_none()));
}

#[test]
fn the_checks_of_the_sarif_test_catch_what_is_wrong() {
    let schema = load_schema("tests/data/sarif-2.1.0-subset.schema.json");
    let text = std::fs::read(fixture_dir().join("v1.31/kube-apiserver.yaml")).expect("read");
    let dir = scratch("kube-apiserver.yaml", &text);
    let (_, baseline, _) = builtins();
    let (code, good) = sarif(dir.path(), &[]);
    assert_eq!(code, Some(1));
    assert!(errors(&schema, &good).is_empty());
    assert!(problems(dir.path(), &good, baseline, &[]).is_empty());
    let first = 0;
    type Break = fn(&mut Value, usize);
    let breaks: [(&str, Break, bool); 7] = [
        (
            "a region one column off",
            |v, i| {
                let c = &mut v["runs"][0]["results"][i]["locations"][0]["physicalLocation"]
                    ["region"]["startColumn"];
                *c = (c.as_u64().unwrap_or(0) + 1).into();
            },
            false,
        ),
        (
            "a region one line off",
            |v, i| {
                let r =
                    &mut v["runs"][0]["results"][i]["locations"][0]["physicalLocation"]["region"];
                r["startLine"] = (r["startLine"].as_u64().unwrap_or(0) + 1).into();
                r["endLine"] = (r["endLine"].as_u64().unwrap_or(0) + 1).into();
            },
            false,
        ),
        (
            "a line 0",
            |v, i| {
                v["runs"][0]["results"][i]["locations"][0]["physicalLocation"]["region"]
                    ["startLine"] = 0.into();
            },
            true,
        ),
        (
            "a wrong ruleIndex",
            |v, i| {
                let x = &mut v["runs"][0]["results"][i]["ruleIndex"];
                *x = (x.as_u64().unwrap_or(0) + 1).into();
            },
            false,
        ),
        (
            "a level outside the enum",
            |v, i| {
                v["runs"][0]["results"][i]["level"] = "fatal".into();
            },
            true,
        ),
        (
            "a uri with ./",
            |v, i| {
                v["runs"][0]["results"][i]["locations"][0]["physicalLocation"]
                    ["artifactLocation"]["uri"] = "./kube-apiserver.yaml".into();
            },
            true,
        ),
        (
            "a fix that deletes one more line",
            |v, _| {
                for r in v["runs"][0]["results"].as_array_mut().into_iter().flatten() {
                    let at = "/fixes/0/artifactChanges/0/replacements";
                    if let Some(reps) = r.pointer_mut(at).and_then(Value::as_array_mut) {
                        let d = &mut reps[0]["deletedRegion"];
                        d["endLine"] = (d["endLine"].as_u64().unwrap_or(0) + 1).into();
                    }
                }
            },
            false,
        ),
    ];
    for (what, break_it, by_schema) in breaks {
        let mut bad = good.clone();
        break_it(&mut bad, first);
        let caught = if by_schema {
            !errors(&schema, &bad).is_empty()
        } else {
            !problems(dir.path(), &bad, baseline, &[]).is_empty()
        };
        assert!(caught, "{what} went unnoticed");
    }
}

/// `check --format sarif` with exactly these arguments, in `dir`.
fn sarif_of(dir: &Path, args: &[&str]) -> (Option<i32>, Value) {
    let out = kubeharden()
        .current_dir(dir)
        .args(["check", "--format", "sarif"])
        .args(args)
        .output()
        .expect("runs");
    let v = serde_json::from_slice(&out.stdout).expect("SARIF is JSON");
    (out.status.code(), v)
}

#[test]
fn a_files_fix_is_carried_once_and_paths_through_links_are_resolved() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text =
        std::fs::read_to_string(fixture_dir().join("v1.31/kube-apiserver.yaml")).expect("fixture");
    std::fs::write(dir.path().join("a.yaml"), &text).expect("write");
    let (code, log) = sarif_of(dir.path(), &["--profile", "strict", "a.yaml"]);
    assert_eq!(code, Some(1));
    let results = log["runs"][0]["results"].as_array().expect("results");
    let fixable = results
        .iter()
        .filter(|r| r["properties"]["fixable"] == true)
        .count();
    let with_fix = results.iter().filter(|r| r.get("fixes").is_some()).count();
    assert!(fixable > 1, "{fixable}");
    assert_eq!(with_fix, 1, "the file's one fix goes with one result");

    // `link/../b.yaml` is the b.yaml beside the link's target, not the one here.
    std::fs::create_dir_all(dir.path().join("deep/x")).expect("mkdir");
    std::fs::write(
        dir.path().join("deep/b.yaml"),
        format!("# one\n# two\n{text}"),
    )
    .expect("write");
    std::fs::write(dir.path().join("b.yaml"), &text).expect("write");
    std::os::unix::fs::symlink("deep/x", dir.path().join("link")).expect("symlink");
    let (_, log) = sarif_of(dir.path(), &["link/../b.yaml"]);
    let uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
        ["uri"]
        .as_str()
        .expect("uri")
        .to_string();
    assert_eq!(uri, "deep/b.yaml");
}

#[test]
fn empty_files_are_not_ours_and_a_run_with_nothing_to_check_can_be_fine() {
    let dir = scratch("empty.yaml", b"");
    std::fs::write(dir.path().join("comments.yaml"), "# only a comment\n---\n").expect("write");
    // Named without --skip-unrecognized: an error; in a directory or with it: skipped.
    let out = kubeharden()
        .current_dir(dir.path())
        .args(["check", "empty.yaml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let (code, log) = sarif_of(
        dir.path(),
        &["--skip-unrecognized", "empty.yaml", "comments.yaml"],
    );
    assert_eq!(code, Some(0));
    let inv = &log["runs"][0]["invocations"][0];
    assert_eq!(inv["executionSuccessful"], true, "{inv}");
    let levels: Vec<&str> = inv["toolExecutionNotifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .filter_map(|n| n["level"].as_str())
        .collect();
    assert!(!levels.contains(&"error"), "{levels:?}");
}

/// The log is written around results spooled file by file: its bytes are still those of
/// serde_json's pretty printer over the whole log (`version` first, then `$schema` and `runs`),
/// with results, notifications and an empty result list alike.
#[test]
fn the_streamed_log_is_the_whole_log_pretty_printed() {
    let dir = inputs();
    let empty = scratch("notes.txt", b"nothing\n");
    for (cwd, args) in [
        (dir.path(), vec!["--profile", "strict"]),
        (dir.path(), vec!["--profile", "baseline", "--no-ignores"]),
        (empty.path(), vec!["--skip-unrecognized"]),
    ] {
        let out = kubeharden()
            .current_dir(cwd)
            .args(["check", "--format", "sarif"])
            .args(&args)
            .arg(".")
            .output()
            .expect("runs");
        let text = String::from_utf8(out.stdout).expect("UTF-8");
        let v: Value = serde_json::from_str(&text).expect("SARIF is JSON");
        // The top level's keys in the log's order, around each value pretty-printed whole.
        let mut want = String::from("{\n");
        let parts: Vec<String> = ["version", "$schema", "runs"]
            .iter()
            .map(|k| {
                let value = serde_json::to_string_pretty(&v[*k]).expect("serializes");
                format!(
                    "  {}: {}",
                    serde_json::to_string(k).expect("key"),
                    value.replace('\n', "\n  ")
                )
            })
            .collect();
        want.push_str(&parts.join(",\n"));
        want.push_str("\n}\n");
        assert!(
            text == want,
            "{args:?}: the log differs from its pretty-printed whole"
        );
        let results = v["runs"][0]["results"].as_array().expect("results").len();
        assert_eq!(
            results == 0,
            cwd == empty.path(),
            "{args:?}: {results} results"
        );
    }
}
