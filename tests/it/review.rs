//! Reviewing a change: `check --changed-since REV` in a git repository the test builds (two
//! commits, a manifest weakened in the second), and the formats reviewers read:
//! `--format github` against GitHub's workflow-command syntax
//! (tests/data/github-workflow-commands.txt) and `--format gitlab` against GitLab's Code
//! Quality report format (tests/data/gitlab-code-quality.schema.json), both restated there
//! with their sources.

use crate::cli::kubeharden;
use crate::schema::{errors, load_schema};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const MANIFEST: &str = "tests/fixtures/kubeadm/v1.30/kube-apiserver.yaml";

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A repository with the kubeadm 1.30 kube-apiserver manifest (and a file that is not a
/// manifest) committed, then `change` made to the manifest and committed.
fn repository(change: &dyn Fn(&str) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["config", "user.email", "review@example.com"]);
    git(root, &["config", "user.name", "review"]);
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(MANIFEST))
        .expect("fixture");
    std::fs::create_dir(root.join("manifests")).expect("mkdir");
    std::fs::write(root.join("manifests/kube-apiserver.yaml"), &text).expect("write");
    std::fs::write(root.join("values.yaml"), "replicas: 1\n").expect("write");
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "first"]);
    std::fs::write(root.join("manifests/kube-apiserver.yaml"), change(&text)).expect("write");
    git(root, &["commit", "-q", "-a", "-m", "second"]);
    dir
}

fn check(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = kubeharden()
        .current_dir(dir)
        .arg("check")
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code(),
        String::from_utf8(out.stdout).expect("UTF-8"),
        String::from_utf8(out.stderr).expect("UTF-8"),
    )
}

fn json_findings(stdout: &str) -> Vec<(String, u64)> {
    let v: Value = serde_json::from_str(stdout).expect("JSON");
    v["files"]
        .as_array()
        .expect("files")
        .iter()
        .flat_map(|f| f["findings"].as_array().cloned().unwrap_or_default())
        .map(|f| {
            (
                f["rule_id"].as_str().expect("rule").to_string(),
                f["line"].as_u64().expect("line"),
            )
        })
        .collect()
}

fn weaken(text: &str) -> String {
    text.replace(
        "--authorization-mode=Node,RBAC",
        "--authorization-mode=Node,RBAC,AlwaysAllow",
    )
}

fn line_of(text: &str, needle: &str) -> u64 {
    1 + text.lines().position(|l| l.contains(needle)).expect("line") as u64
}

#[test]
fn a_review_reports_only_what_the_change_did() {
    let repo = repository(&weaken);
    let dir = repo.path();
    let changed = std::fs::read_to_string(dir.join("manifests/kube-apiserver.yaml")).expect("read");
    let line = line_of(&changed, "AlwaysAllow");
    // The whole file has more findings than the change made.
    let (_, all, _) = check(dir, &["--format", "json", "manifests"]);
    let all = json_findings(&all);
    assert!(all.len() > 1, "{all:?}");
    let (code, out, err) = check(dir, &["--changed-since", "HEAD~1", "--format", "json"]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        json_findings(&out),
        vec![("apiserver-authorization-no-always-allow".to_string(), line)],
        "{err}"
    );
    // Against the second commit itself nothing changed: nothing to report, and that passes.
    let (code, out, err) = check(dir, &["--changed-since", "HEAD"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("0 file(s) checked"), "{out}");
}

#[test]
fn a_flag_taken_out_is_reported_where_it_is_missing() {
    let repo = repository(&|t: &str| {
        t.lines()
            .filter(|l| !l.contains("--enable-admission-plugins="))
            .map(|l| format!("{l}\n"))
            .collect()
    });
    let (code, out, err) = check(
        repo.path(),
        &["--changed-since", "HEAD~1", "--format", "json"],
    );
    assert_eq!(code, Some(1), "{err}");
    let found = json_findings(&out);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "apiserver-admission-node-restriction");
}

#[test]
fn new_files_report_every_finding_and_unchanged_ones_nothing() {
    let repo = repository(&weaken);
    let dir = repo.path();
    std::fs::copy(
        dir.join("manifests/kube-apiserver.yaml"),
        dir.join("manifests/new.yaml"),
    )
    .expect("copy");
    let (_, whole, _) = check(dir, &["--format", "json", "manifests/new.yaml"]);
    let (code, out, err) = check(dir, &["--changed-since", "HEAD", "--format", "json"]);
    assert_eq!(code, Some(1), "{err}");
    let v: Value = serde_json::from_str(&out).expect("JSON");
    let files: Vec<&str> = v["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path"))
        .collect();
    assert_eq!(files, vec!["./manifests/new.yaml"], "{err}");
    assert_eq!(json_findings(&out).len(), json_findings(&whole).len());
}

#[test]
fn a_review_outside_a_repository_or_of_no_commit_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, out, err) = check(dir.path(), &["--changed-since", "HEAD"]);
    assert_eq!(code, Some(2));
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("--changed-since HEAD") && err.contains("not in a git repository"),
        "{err}"
    );
    let repo = repository(&weaken);
    let (code, _, err) = check(repo.path(), &["--changed-since", "no-such-branch"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no such commit"), "{err}");
    // A shallow clone lacks the base: the error says how to get it.
    let shallow = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", repo.path().display());
    let target = shallow.path().join("clone");
    git(
        shallow.path(),
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            &url,
            target.to_str().expect("UTF-8"),
        ],
    );
    let (code, _, err) = check(&target, &["--changed-since", "HEAD~1"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("shallow clone") && err.contains("fetch-depth"),
        "{err}"
    );
    // A path outside the repository cannot have changed in it.
    let outside = dir.path().to_str().expect("UTF-8");
    let (code, out, err) = check(repo.path(), &["--changed-since", "HEAD", outside]);
    assert_eq!(code, Some(2));
    assert!(out.is_empty());
    assert!(err.contains("is outside the repository"), "{err}");
}

/// The grammar of tests/data/github-workflow-commands.txt: the `key:` lines.
fn grammar() -> std::collections::HashMap<String, Vec<String>> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/github-workflow-commands.txt"),
    )
    .expect("grammar");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.split(' ').map(str::to_string).collect()))
        .collect()
}

/// `s` with the escapes `allowed` undone; an error for a `%` that starts none of them, or for a
/// character that must be escaped.
fn unescape(s: &str, allowed: &[String], must: &[char]) -> Result<String, String> {
    if let Some(c) = s.chars().find(|c| must.contains(c)) {
        return Err(format!("unescaped {c:?} in {s:?}"));
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let esc = rest.get(i..i + 3).ok_or(format!("a bare % in {s:?}"))?;
        if !allowed.iter().any(|a| a == esc) {
            return Err(format!("{esc} is not an escape here: {s:?}"));
        }
        let byte = u8::from_str_radix(&esc[1..], 16).map_err(|e| e.to_string())?;
        out.push(char::from(byte));
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A workflow command: its command, properties and message, unescaped.
type Command3 = (String, Vec<(String, String)>, String);

/// A workflow command line, parsed.
fn parse_command(
    line: &str,
    g: &std::collections::HashMap<String, Vec<String>>,
) -> Result<Command3, String> {
    let rest = line.strip_prefix("::").ok_or("no leading ::")?;
    let (head, message) = rest.split_once("::").ok_or("no :: before the message")?;
    let (command, props) = head.split_once(' ').unwrap_or((head, ""));
    if !g["commands"].iter().any(|c| c == command) {
        return Err(format!("unknown command {command}"));
    }
    let mut out = Vec::new();
    for p in props.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = p
            .split_once('=')
            .ok_or(format!("property without =: {p}"))?;
        if !g["properties"].iter().any(|x| x == k) {
            return Err(format!("unknown property {k}"));
        }
        let v = unescape(v, &g["property-escapes"], &['\n', '\r', ':', ','])?;
        if g["numeric"].iter().any(|x| x == k) && v.parse::<u64>().map_or(true, |n| n == 0) {
            return Err(format!("{k}={v} is not a line or column"));
        }
        out.push((k.to_string(), v));
    }
    let message = unescape(message, &g["data-escapes"], &['\n', '\r'])?;
    Ok((command.to_string(), out, message))
}

#[test]
fn github_annotations_follow_the_documented_syntax_and_match_the_report() {
    let repo = repository(&weaken);
    let dir = repo.path();
    // A file name that needs escaping in a property, and a broken file.
    std::fs::copy(
        dir.join("manifests/kube-apiserver.yaml"),
        dir.join("manifests/a,b:c%.yaml"),
    )
    .expect("copy");
    std::fs::write(dir.join("manifests/broken.yaml"), "kind: Pod\nspec: [\n").expect("write");
    let g = grammar();
    let (code, out, err) = check(dir, &["--format", "github", "manifests"]);
    assert_eq!(code, Some(2), "the broken file is an error: {err}");
    let (_, json, _) = check(dir, &["--format", "json", "manifests"]);
    let v: Value = serde_json::from_str(&json).expect("JSON");
    let mut want: Vec<(String, String, u64)> = Vec::new();
    for f in v["files"].as_array().expect("files") {
        let path = f["path"].as_str().expect("path").to_string();
        for x in f["findings"].as_array().expect("findings") {
            want.push((
                path.clone(),
                x["rule_id"].as_str().expect("rule").to_string(),
                x["line"].as_u64().expect("line"),
            ));
        }
    }
    let mut got = Vec::new();
    let mut errors_said = 0;
    let lines: Vec<&str> = out.lines().collect();
    let (summary, commands) = lines.split_last().expect("lines");
    assert!(
        summary.starts_with("kubeharden: 2 file(s) checked"),
        "{summary}"
    );
    for line in commands {
        let (command, props, message) =
            parse_command(line, &g).unwrap_or_else(|e| panic!("{e}: {line}"));
        let prop = |k: &str| props.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
        let file = prop("file").expect("every annotation names its file");
        if file.ends_with("broken.yaml") {
            assert_eq!(command, "error");
            errors_said += 1;
            continue;
        }
        let title = prop("title").expect("title");
        let rule = title
            .strip_prefix("kubeharden ")
            .expect("rule in the title");
        assert!(!message.is_empty());
        got.push((
            format!(
                "manifests/{}",
                file.strip_prefix("manifests/").expect("relative")
            ),
            rule.to_string(),
            prop("line").expect("line").parse::<u64>().expect("number"),
        ));
    }
    assert_eq!(errors_said, 1);
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert!(got.iter().any(|(p, _, _)| p == "manifests/a,b:c%.yaml"));
}

#[test]
fn gitlab_reports_follow_the_documented_format_with_stable_fingerprints() {
    let repo = repository(&weaken);
    let dir = repo.path();
    let schema = load_schema("tests/data/gitlab-code-quality.schema.json");
    let (code, out, err) = check(
        dir,
        &["--format", "gitlab", "--profile", "strict", "manifests"],
    );
    assert_eq!(code, Some(1), "{err}");
    let v: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(errors(&schema, &v), Vec::<String>::new());
    let issues = v.as_array().expect("array");
    let (_, json, _) = check(
        dir,
        &["--format", "json", "--profile", "strict", "manifests"],
    );
    assert_eq!(issues.len(), json_findings(&json).len());
    let prints = |v: &Value| -> Vec<(String, String)> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|i| {
                (
                    i["check_name"].as_str().expect("name").to_string(),
                    i["fingerprint"].as_str().expect("fingerprint").to_string(),
                )
            })
            .collect()
    };
    let first = prints(&v);
    let unique: std::collections::BTreeSet<&String> = first.iter().map(|(_, f)| f).collect();
    assert_eq!(unique.len(), first.len(), "fingerprints are unique");
    // Stable: a line added above the findings moves them, not their fingerprints.
    let path = dir.join("manifests/kube-apiserver.yaml");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, format!("# reviewed\n{text}")).expect("write");
    let (_, again, _) = check(
        dir,
        &["--format", "gitlab", "--profile", "strict", "manifests"],
    );
    let again_v: Value = serde_json::from_str(&again).expect("JSON");
    let mut a = first.clone();
    let mut b = prints(&again_v);
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert_ne!(
        v[0]["location"]["lines"]["begin"], again_v[0]["location"]["lines"]["begin"],
        "the lines moved"
    );
    // Nothing found is an empty array.
    let (_, empty, _) = check(
        dir,
        &["--format", "gitlab", "values.yaml", "--skip-unrecognized"],
    );
    assert_eq!(empty, "[]\n");
}

fn suggestions(dir: &Path, args: &[&str]) -> (Option<i32>, Value, String) {
    let out = kubeharden()
        .current_dir(dir)
        .args(["diff", "--format", "github-suggestions"])
        .args(args)
        .output()
        .expect("runs");
    let v = serde_json::from_slice(&out.stdout).expect("a review is JSON");
    (
        out.status.code(),
        v,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The text of a ```` ```suggestion ```` block in a comment's body.
fn suggested(body: &str) -> Vec<String> {
    let (_, rest) = body
        .split_once("```suggestion\n")
        .expect("a suggestion block");
    let (block, _) = rest.rsplit_once("```").expect("the block ends");
    block.lines().map(str::to_string).collect()
}

/// `text` with the comments' suggestions carried out as GitHub carries them out: each
/// replaces the lines from `start_line` (or `line`) to `line`, the last first.
fn apply_suggestions(text: &str, comments: &[Value]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut edits: Vec<(usize, usize, Vec<String>)> = comments
        .iter()
        .map(|c| {
            let end = c["line"].as_u64().expect("line") as usize;
            let start = c["start_line"].as_u64().map_or(end, |s| s as usize);
            assert_eq!(c["side"], "RIGHT");
            if c.get("start_line").is_some() {
                assert_eq!(c["start_side"], "RIGHT");
            }
            (start, end, suggested(c["body"].as_str().expect("body")))
        })
        .collect();
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (start, end, new) in edits {
        lines.splice(start - 1..end, new);
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn suggestions_applied_give_what_fix_writes() {
    let repo = repository(&weaken);
    let dir = repo.path();
    for profile in ["baseline", "strict"] {
        let path = "manifests/kube-apiserver.yaml";
        let (code, review, err) = suggestions(dir, &["--profile", profile, path]);
        assert_eq!(code, Some(1), "{err}");
        assert_eq!(review["event"], "COMMENT");
        let comments = review["comments"].as_array().expect("comments");
        assert!(comments.len() > 1, "{review}");
        for c in comments {
            assert_eq!(c["path"], path);
        }
        let fixed = kubeharden()
            .current_dir(dir)
            .args(["fix", "--profile", profile, path, "--output", "-"])
            .output()
            .expect("runs");
        let text = std::fs::read_to_string(dir.join(path)).expect("read");
        assert_eq!(
            apply_suggestions(&text, comments),
            String::from_utf8(fixed.stdout).expect("UTF-8"),
            "{profile}"
        );
        // Every change was a suggestion: nothing is left for the body.
        assert!(!review["body"].as_str().expect("body").contains("```diff"));
    }
}

#[test]
fn suggestions_stay_on_the_lines_of_the_pull_request() {
    let repo = repository(&weaken);
    let dir = repo.path();
    let text = std::fs::read_to_string(dir.join("manifests/kube-apiserver.yaml")).expect("read");
    let line = line_of(&text, "AlwaysAllow");
    let (code, review, err) = suggestions(dir, &["--changed-since", "HEAD~1"]);
    assert_eq!(code, Some(1), "{err}");
    let comments = review["comments"].as_array().expect("comments");
    // The weakened line is suggested back; the other changes are far from it.
    assert!(!comments.is_empty());
    for c in comments {
        let end = c["line"].as_u64().expect("line");
        let start = c["start_line"].as_u64().unwrap_or(end);
        assert!(start + 3 >= line && end <= line + 3, "{c}");
        assert_eq!(c["path"], "manifests/kube-apiserver.yaml");
    }
    assert!(comments
        .iter()
        .any(|c| suggested(c["body"].as_str().expect("body"))
            == ["    - --authorization-mode=Node,RBAC"]));
    // The rest is a patch in the body that git applies to the file as it is.
    let body = review["body"].as_str().expect("body");
    let (_, patch) = body.split_once("```diff\n").expect("a patch in the body");
    let (patch, _) = patch.rsplit_once("```").expect("the block ends");
    std::fs::write(dir.join("rest.patch"), patch).expect("write");
    git(dir, &["apply", "--check", "rest.patch"]);
    // Nothing changed since the last commit: an empty review, and that is no failure.
    let (code, review, err) = suggestions(dir, &["--changed-since", "HEAD"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(review["comments"], serde_json::json!([]));
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn binary() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("kubeharden")
}

/// A `gh` that records its arguments and the file it is given with `--input`.
fn fake_gh(dir: &Path) -> std::path::PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let gh = bin.join("gh");
    std::fs::write(
        &gh,
        "#!/bin/sh\necho \"$@\" >\"$GH_LOG\"\nwhile [ $# -gt 0 ]; do if [ \"$1\" = --input ]; then cp \"$2\" \"$GH_LOG.json\"; fi; shift; done\n",
    )
    .expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&gh, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    bin
}

fn review_script(repo: &Path, work: &Path, base: &str) -> (Option<i32>, String, String) {
    let bin = fake_gh(work);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg(root().join("ci/review.sh"))
        .current_dir(repo)
        .env("PATH", path)
        .env("KUBEHARDEN", binary())
        .env("KH_PLATFORM", "github")
        .env("KH_BASE", base)
        .env("KH_OUT", work.join("out"))
        .env("KH_SUGGEST", "1")
        .env("KH_PR", "7")
        .env("GITHUB_REPOSITORY", "owner/repo")
        .env("GH_LOG", work.join("gh.log"))
        .output()
        .expect("bash runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_action_s_script_annotates_the_change_and_posts_its_fixes() {
    let repo = repository(&weaken);
    let dir = repo.path();
    let work = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(dir.join("manifests/kube-apiserver.yaml")).expect("read");
    let line = line_of(&text, "AlwaysAllow");
    let (code, out, err) = review_script(dir, work.path(), "HEAD~1");
    assert_eq!(code, Some(1), "{out}{err}");
    let annotations: Vec<&str> = out.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(
        annotations.len(),
        1,
        "only the change's finding is annotated: {out}"
    );
    assert!(
        annotations[0].starts_with(&format!(
            "::error file=manifests/kube-apiserver.yaml,line={line},"
        )),
        "{out}"
    );
    // Code scanning gets every finding of the file.
    let sarif: Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("out/kubeharden.sarif")).expect("SARIF"),
    )
    .expect("JSON");
    assert!(
        sarif["runs"][0]["results"]
            .as_array()
            .expect("results")
            .len()
            > 1
    );
    // The review went to the pull request's reviews.
    let log = std::fs::read_to_string(work.path().join("gh.log")).expect("gh was run");
    assert_eq!(
        log.trim(),
        format!(
            "api --method POST repos/owner/repo/pulls/7/reviews --input {}",
            work.path().join("out/review.json").display()
        )
    );
    let posted: Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("gh.log.json")).expect("posted"),
    )
    .expect("JSON");
    assert!(posted["comments"]
        .as_array()
        .expect("comments")
        .iter()
        .any(|c| c["line"] == line
            && suggested(c["body"].as_str().expect("body"))
                == ["    - --authorization-mode=Node,RBAC"]));
    // A change that adds nothing: the job passes and nothing is posted.
    let work = tempfile::tempdir().expect("tempdir");
    let (code, out, err) = review_script(dir, work.path(), "HEAD");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(!work.path().join("gh.log").exists(), "{out}");
}

#[test]
fn the_action_passes_the_script_what_it_reads() {
    let action: yaml_serde::Value = yaml_serde::from_str(
        &std::fs::read_to_string(root().join("action.yml")).expect("action.yml"),
    )
    .expect("YAML");
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));
    let text = std::fs::read_to_string(root().join("action.yml")).expect("action.yml");
    let inputs = action["inputs"].as_mapping().expect("inputs");
    // Every input the steps use is declared.
    let used = regex::Regex::new(r"inputs\.([a-z-]+)").expect("regex");
    for c in used.captures_iter(&text) {
        assert!(
            inputs.contains_key(yaml_serde::Value::String(c[1].to_string())),
            "inputs.{} is not declared",
            &c[1]
        );
    }
    // The review step sets every variable ci/review.sh reads.
    let script = std::fs::read_to_string(root().join("ci/review.sh")).expect("script");
    let steps = action["runs"]["steps"].as_sequence().expect("steps");
    let review = steps
        .iter()
        .find(|s| s["id"].as_str() == Some("review"))
        .expect("the review step");
    assert!(review["run"]
        .as_str()
        .expect("run")
        .contains("ci/review.sh"));
    let env = review["env"].as_mapping().expect("env");
    let read = regex::Regex::new(r"\$\{?(KH_[A-Z_]+|KUBEHARDEN)\b").expect("regex");
    for c in read.captures_iter(&script) {
        assert!(
            env.contains_key(yaml_serde::Value::String(c[1].to_string())),
            "the review step does not set {}",
            &c[1]
        );
    }
}

/// The GitLab template's job, its lines run as GitLab's runner runs them: one bash session.
fn gitlab_job(repo: &Path, base: Option<&str>) -> (Option<i32>, String) {
    let template: yaml_serde::Value = yaml_serde::from_str(
        &std::fs::read_to_string(root().join("ci/kubeharden.gitlab-ci.yml")).expect("template"),
    )
    .expect("YAML");
    let job = &template["kubeharden"];
    let lines = |key: &str| -> Vec<String> {
        job[key]
            .as_sequence()
            .expect(key)
            .iter()
            .map(|l| l.as_str().expect("a line").to_string())
            .collect()
    };
    let mut program = String::from("set -eo pipefail\n");
    for l in lines("before_script").into_iter().chain(lines("script")) {
        program.push_str(&l);
        program.push('\n');
    }
    let bin = binary();
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(program).current_dir(repo).env(
        "PATH",
        format!(
            "{}:{}",
            bin.parent().expect("dir").display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    );
    for (k, v) in job["variables"].as_mapping().expect("variables") {
        cmd.env(k.as_str().expect("name"), v.as_str().expect("value"));
    }
    if let Some(b) = base {
        cmd.env("CI_MERGE_REQUEST_DIFF_BASE_SHA", b);
    }
    let out = cmd.output().expect("bash runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_gitlab_template_reports_the_merge_request_s_findings() {
    let repo = repository(&weaken);
    let dir = repo.path();
    let base = String::from_utf8(
        Command::new("git")
            .current_dir(dir)
            .args(["rev-parse", "HEAD~1"])
            .output()
            .expect("git")
            .stdout,
    )
    .expect("UTF-8");
    let schema = load_schema("tests/data/gitlab-code-quality.schema.json");
    let report = || -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(dir.join("gl-code-quality-report.json")).expect("report"),
        )
        .expect("JSON")
    };
    let (code, err) = gitlab_job(dir, Some(base.trim()));
    assert_eq!(code, Some(1), "{err}");
    let v = report();
    assert_eq!(errors(&schema, &v), Vec::<String>::new());
    let issues = v.as_array().expect("array");
    assert_eq!(issues.len(), 1, "{v}");
    assert_eq!(
        issues[0]["check_name"],
        "apiserver-authorization-no-always-allow"
    );
    assert_eq!(
        issues[0]["location"]["path"],
        "manifests/kube-apiserver.yaml"
    );
    // On the default branch every file is judged whole.
    let (code, err) = gitlab_job(dir, None);
    assert_eq!(code, Some(1), "{err}");
    assert!(report().as_array().expect("array").len() > 1);
}

#[test]
fn a_file_the_fix_creates_goes_to_the_review_s_body() {
    // strict on a kubeadm configuration needs kubeadm's probe patch, a new file.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        root().join("tests/fixtures/kubeadm-config/v1beta3-init-cluster.yaml"),
        dir.path().join("cluster.yaml"),
    )
    .expect("copy");
    let (code, review, err) = suggestions(dir.path(), &["--profile", "strict", "cluster.yaml"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(!review["comments"].as_array().expect("comments").is_empty());
    let body = review["body"].as_str().expect("body");
    let (_, patch) = body.split_once("```diff\n").expect("a patch in the body");
    assert!(
        patch.contains("+++ b/kube-apiserver+strategic.yaml") && patch.contains("tcpSocket"),
        "{body}"
    );
}
