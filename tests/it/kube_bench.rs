//! An independent test oracle: kube-bench's CIS checks, evaluated the way kube-bench evaluates them.
//!
//! The checks come from `tests/data/cis-checks.yaml` (kubeharden's own compact record, compiled into
//! the test binary so the oracle works anywhere), or from kube-bench's own control files when they
//! are available next to the repository (`../shared/peers/kube-bench`, CI only).  A cross-check test
//! requires both sources to agree.
//!
//! Semantics mirrored from kube-bench (`check/test.go`, `check/check.go`):
//! * a flag is *found* when it occurs anywhere in the `ps` line (plain substring), and its value is
//!   taken from the FIRST occurrence, as the regex `(<flag>)(=|: *)*([^\s]*) *` would: group 3, or
//!   `"true"` when that is empty and the flag starts with `--` (so `--flag value` reads as `"true"`);
//! * `set: false` passes iff the setting is not found; a compare on a setting that is not found fails;
//! * `eq`/`noteq` ignore case only when the actual value lower-cases to `true`/`false`;
//!   `gt`/`gte`/`lt`/`lte` need integers on both sides (else fail); `has`/`nothave` are substring
//!   tests; `regex` is unanchored; `valid_elements` is a comma-list subset test; `bitmask` is octal;
//! * items combine with `and` (default) or `or`; a `manual` check is not evaluated; a failed test is
//!   FAIL when the check is scored and WARN otherwise.
#![allow(dead_code)]

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// kubeharden's own check data, embedded so that the oracle needs no file outside the package.
const OWN_DATA: &str = include_str!("../data/cis-checks.yaml");

// ---------------------------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------------------------

/// Result of one check, as kube-bench would report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Pass,
    /// Test failed on a scored check.
    Fail,
    /// Test failed on an unscored check.
    Warn,
    /// `type: manual` (or `skip`) check, or an audit that does not read the process command line.
    NotEvaluated,
}

/// What a check's audit reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audit {
    /// The component's `ps` command line (plus config file / environment for `path:` / `env:` items).
    Process,
    /// Any other shell pipeline (file permissions, the encryption config file, ...): not evaluated here.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    And,
    Or,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    NotEq,
    Gt,
    Gte,
    Lt,
    Lte,
    Has,
    NotHave,
    Regex,
    ValidElements,
    Bitmask,
}

impl Op {
    pub const ALL: [Op; 11] = [
        Op::Eq,
        Op::NotEq,
        Op::Gt,
        Op::Gte,
        Op::Lt,
        Op::Lte,
        Op::Has,
        Op::NotHave,
        Op::Regex,
        Op::ValidElements,
        Op::Bitmask,
    ];

    /// kube-bench's spelling of the operator.
    pub fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::NotEq => "noteq",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Has => "has",
            Op::NotHave => "nothave",
            Op::Regex => "regex",
            Op::ValidElements => "valid_elements",
            Op::Bitmask => "bitmask",
        }
    }

    pub fn parse(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    pub op: Op,
    /// Operand exactly as kube-bench reads it (YAML scalars as text; lists comma-joined).
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestItem {
    /// Searched in the command line.
    pub flag: Option<String>,
    /// JSONPath into the component's config file (used when the flag is not on the command line).
    pub path: Option<String>,
    /// Environment variable (used when neither flag nor path produced the setting).
    pub env: Option<String>,
    /// `false`: passes iff the setting is absent.
    pub set: bool,
    pub compare: Option<Compare>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub id: String,
    pub scored: bool,
    /// kube-bench `type: manual` (or `skip`): nothing is run.
    pub manual: bool,
    pub audit: Audit,
    /// The check has an `audit_config` (a config file that `path:` items read).
    pub reads_config: bool,
    pub bin_op: BinOp,
    pub items: Vec<TestItem>,
}

impl Check {
    /// Canonical form used by both loaders so that equivalent spellings compare equal:
    /// the combinator of a single item is irrelevant (-> And), and `set: false` ignores any compare.
    fn normalized(mut self) -> Check {
        if self.items.len() <= 1 {
            self.bin_op = BinOp::And;
        }
        for item in &mut self.items {
            if !item.set {
                item.compare = None;
            }
        }
        self
    }
}

/// What the oracle is given about the running component.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inputs<'a> {
    /// The `ps -ef` line: argv joined by single spaces.
    pub cmdline: &'a str,
    /// The component's config file (e.g. the kubelet's KubeletConfiguration) as JSON, if any.
    pub config: Option<&'a serde_json::Value>,
    /// The process environment as `KEY=value` lines, if any.
    pub environ: Option<&'a str>,
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

/// Evaluates `check` against a `ps`-style command line only.
pub fn evaluate(check: &Check, cmdline: &str) -> Outcome {
    evaluate_with(
        check,
        &Inputs {
            cmdline,
            ..Inputs::default()
        },
    )
}

/// Evaluates `check` against a command line plus optional config file and environment.
pub fn evaluate_with(check: &Check, inputs: &Inputs<'_>) -> Outcome {
    if check.manual || check.audit != Audit::Process {
        return Outcome::NotEvaluated;
    }
    let passed = if check.items.is_empty() {
        // kube-bench: "No tests defined" -> FAIL / WARN.
        false
    } else {
        let mut results = check
            .items
            .iter()
            .map(|item| item_passes(check, item, inputs));
        match check.bin_op {
            BinOp::And => results.all(|r| r),
            BinOp::Or => results.any(|r| r),
        }
    };
    if passed {
        Outcome::Pass
    } else if check.scored {
        Outcome::Fail
    } else {
        Outcome::Warn
    }
}

/// Looks the item's setting up the way kube-bench does (command line, then config file, then
/// environment) and returns its value when found.
pub fn lookup(check: &Check, item: &TestItem, inputs: &Inputs<'_>) -> Option<String> {
    let mut value = item
        .flag
        .as_deref()
        .and_then(|flag| find_flag(inputs.cmdline, flag));
    if value.is_none() && check.reads_config {
        if let (Some(path), Some(config)) = (item.path.as_deref(), inputs.config) {
            value = json_path(config, path);
        }
    }
    if value.is_none() {
        if let (Some(env), Some(environ)) = (item.env.as_deref(), inputs.environ) {
            value = find_env(environ, env);
        }
    }
    value
}

fn item_passes(check: &Check, item: &TestItem, inputs: &Inputs<'_>) -> bool {
    let value = lookup(check, item, inputs);
    if !item.set {
        return value.is_none();
    }
    match (&item.compare, value) {
        (Some(cmp), Some(actual)) => compare(cmp.op, &actual, &cmp.value),
        (None, found) => found.is_some(),
        // An absent setting always fails a compare, whatever the component's default is.
        (Some(_), None) => false,
    }
}

/// kube-bench `flagTestItem.findValue`: `None` when `flag` is not a substring of `haystack`,
/// else the value read at its FIRST occurrence.
pub fn find_flag(haystack: &str, flag: &str) -> Option<String> {
    if haystack.is_empty() || flag.is_empty() {
        return None;
    }
    let pos = haystack.find(flag)?;
    // `(=|: *)*` -- greedy, so every leading '=' or ':'+spaces is skipped.
    let mut rest = &haystack[pos + flag.len()..];
    loop {
        if let Some(r) = rest.strip_prefix('=') {
            rest = r;
        } else if let Some(r) = rest.strip_prefix(':') {
            rest = r.trim_start_matches(' ');
        } else {
            break;
        }
    }
    // `([^\s]*)` with RE2's ASCII `\s`.
    let end = rest
        .find([' ', '\t', '\n', '\x0c', '\r'])
        .unwrap_or(rest.len());
    let value = &rest[..end];
    Some(if !value.is_empty() {
        value.to_string()
    } else if flag.starts_with("--") {
        "true".to_string()
    } else {
        flag.to_string()
    })
}

/// kube-bench `envTestItem.findValue`: the first `NAME=` occurrence, value up to the end of the line;
/// an empty value counts as not found.
pub fn find_env(environ: &str, name: &str) -> Option<String> {
    if environ.is_empty() || name.is_empty() {
        return None;
    }
    let key = format!("{name}=");
    let pos = environ.find(&key)?;
    let rest = &environ[pos + key.len()..];
    let value = rest.split('\n').next().unwrap_or_default();
    (!value.is_empty()).then(|| value.to_string())
}

/// The subset of Kubernetes JSONPath used by kube-bench's kubelet checks: `{.a.b.c}` and
/// `{range .a[:]}{}{','}{end}` (elements each followed by a comma).  A missing key or null is
/// "not found", as is an empty result.
pub fn json_path(config: &serde_json::Value, path: &str) -> Option<String> {
    fn walk<'v>(v: &'v serde_json::Value, dotted: &str) -> Option<&'v serde_json::Value> {
        let keys = dotted
            .strip_prefix('.')
            .unwrap_or_else(|| panic!("unsupported JSONPath expression {dotted:?}"));
        keys.split('.').try_fold(v, |v, key| v.get(key))
    }
    fn text(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        }
    }
    let out = if let Some(inner) = path
        .strip_prefix("{range ")
        .and_then(|r| r.strip_suffix("[:]}{}{','}{end}"))
    {
        walk(config, inner)?
            .as_array()?
            .iter()
            .map(|e| format!("{},", text(e)))
            .collect::<String>()
    } else {
        let inner = path
            .strip_prefix('{')
            .and_then(|r| r.strip_suffix('}'))
            .filter(|inner| !inner.contains(['{', '}', '[', ' ']))
            .unwrap_or_else(|| panic!("unsupported JSONPath expression {path:?}"));
        text(walk(config, inner)?)
    };
    (!out.is_empty()).then_some(out)
}

/// kube-bench `compareOp`.
pub fn compare(op: Op, actual: &str, expected: &str) -> bool {
    let equal = || {
        let lower = actual.to_lowercase();
        if lower == "true" || lower == "false" {
            lower == expected
        } else {
            actual == expected
        }
    };
    let numbers = || -> Option<(i64, i64)> {
        Some((
            actual.trim().parse::<i64>().ok()?,
            expected.trim().parse::<i64>().ok()?,
        ))
    };
    match op {
        Op::Eq => equal(),
        Op::NotEq => !equal(),
        Op::Gt => numbers().is_some_and(|(a, b)| a > b),
        Op::Gte => numbers().is_some_and(|(a, b)| a >= b),
        Op::Lt => numbers().is_some_and(|(a, b)| a < b),
        Op::Lte => numbers().is_some_and(|(a, b)| a <= b),
        Op::Has => actual.contains(expected),
        Op::NotHave => !actual.contains(expected),
        Op::Regex => mini_regex::is_match(expected, actual)
            .unwrap_or_else(|e| panic!("regex {expected:?} not supported by the oracle: {e}")),
        Op::ValidElements => {
            let have = split_list(actual);
            let allowed = split_list(expected);
            match (have.is_empty(), allowed.is_empty()) {
                (true, true) => true,
                (true, false) | (false, true) => false,
                (false, false) => have.iter().all(|h| allowed.contains(h)),
            }
        }
        Op::Bitmask => match (
            i64::from_str_radix(actual, 8),
            i64::from_str_radix(expected, 8),
        ) {
            (Ok(requested), Ok(max)) => max & requested == requested,
            _ => false,
        },
    }
}

/// kube-bench `splitAndRemoveLastSeparator(s, ",")`.
fn split_list(s: &str) -> Vec<&str> {
    let clean = s.trim().trim_end_matches(',');
    if clean.is_empty() {
        return Vec::new();
    }
    clean.split(',').map(str::trim).collect()
}

/// Outcome of every check, in order.
pub fn evaluate_all(checks: &[Check], inputs: &Inputs<'_>) -> Vec<(String, Outcome)> {
    checks
        .iter()
        .map(|c| (c.id.clone(), evaluate_with(c, inputs)))
        .collect()
}

/// Ids of the checks with the given outcome.
pub fn ids_with(checks: &[Check], inputs: &Inputs<'_>, outcome: Outcome) -> Vec<String> {
    evaluate_all(checks, inputs)
        .into_iter()
        .filter(|(_, o)| *o == outcome)
        .map(|(id, _)| id)
        .collect()
}

/// Panics (listing the failures) unless every scored, evaluated check of `benchmark`/`group`
/// passes on `cmdline`.
pub fn assert_passes_scored(benchmark: &str, group: &str, cmdline: &str) {
    let checks = load_own(benchmark, group);
    let inputs = Inputs {
        cmdline,
        ..Inputs::default()
    };
    let failed = ids_with(&checks, &inputs, Outcome::Fail);
    assert!(
        failed.is_empty(),
        "{benchmark} group {group}: scored kube-bench checks fail: {failed:?}\ncommand line: {cmdline}"
    );
}

/// The `ps` line of a process started with `argv`.
pub fn cmdline_from_argv<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(" ")
}

/// The `ps` line of the first container of a static pod manifest (`command` followed by `args`).
pub fn cmdline_from_manifest(manifest_yaml: &str) -> String {
    let pod: yaml_serde::Value =
        yaml_serde::from_str(manifest_yaml).expect("static pod manifest is not valid YAML");
    let container = &pod["spec"]["containers"][0];
    let mut argv = Vec::new();
    for key in ["command", "args"] {
        if let Some(seq) = container[key].as_sequence() {
            for arg in seq {
                argv.push(
                    arg.as_str()
                        .unwrap_or_else(|| panic!("non-string {key} entry {arg:?}"))
                        .to_string(),
                );
            }
        }
    }
    assert!(!argv.is_empty(), "manifest container has no command/args");
    cmdline_from_argv(&argv)
}

// ---------------------------------------------------------------------------------------------
// Own data (tests/data/cis-checks.yaml)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupInfo {
    /// kube-bench control file holding the group, e.g. `master.yaml`.
    pub file: String,
    /// Process the group audits, e.g. `kube-apiserver`.
    pub process: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnFile {
    format: u32,
    minor_to_benchmark: BTreeMap<String, String>,
    groups: BTreeMap<String, GroupInfo>,
    benchmarks: BTreeMap<String, OwnBenchmark>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnBenchmark {
    #[serde(default)]
    based_on: Option<String>,
    #[serde(default)]
    removed: Vec<String>,
    #[serde(default)]
    groups: BTreeMap<String, Vec<OwnCheck>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnCheck {
    id: String,
    scored: bool,
    #[serde(default)]
    manual: bool,
    #[serde(default)]
    audit: Option<String>,
    #[serde(default)]
    all: Option<Vec<OwnItem>>,
    #[serde(default)]
    any: Option<Vec<OwnItem>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnItem {
    #[serde(default)]
    flag: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    absent: bool,
    #[serde(default)]
    eq: Option<String>,
    #[serde(default)]
    noteq: Option<String>,
    #[serde(default)]
    gt: Option<String>,
    #[serde(default)]
    gte: Option<String>,
    #[serde(default)]
    lt: Option<String>,
    #[serde(default)]
    lte: Option<String>,
    #[serde(default)]
    has: Option<String>,
    #[serde(default)]
    nothave: Option<String>,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    bitmask: Option<String>,
    #[serde(default)]
    valid_elements: Option<Vec<String>>,
}

impl OwnItem {
    fn into_item(self, check_id: &str) -> TestItem {
        let OwnItem {
            flag,
            path,
            env,
            absent,
            eq,
            noteq,
            gt,
            gte,
            lt,
            lte,
            has,
            nothave,
            regex,
            bitmask,
            valid_elements,
        } = self;
        let ops = [
            (Op::Eq, eq),
            (Op::NotEq, noteq),
            (Op::Gt, gt),
            (Op::Gte, gte),
            (Op::Lt, lt),
            (Op::Lte, lte),
            (Op::Has, has),
            (Op::NotHave, nothave),
            (Op::Regex, regex),
            (Op::Bitmask, bitmask),
            (Op::ValidElements, valid_elements.map(|list| list.join(","))),
        ];
        let mut compares = ops
            .into_iter()
            .filter_map(|(op, value)| value.map(|value| Compare { op, value }));
        let compare = compares.next();
        assert!(
            compares.next().is_none(),
            "cis-checks.yaml: check {check_id}: more than one operator in a test item"
        );
        assert!(
            !(absent && compare.is_some()),
            "cis-checks.yaml: check {check_id}: `absent` item with an operator"
        );
        assert!(
            flag.is_some() || path.is_some() || env.is_some(),
            "cis-checks.yaml: check {check_id}: test item names no flag, path or env"
        );
        TestItem {
            flag,
            path,
            env,
            set: !absent,
            compare,
        }
    }
}

impl OwnCheck {
    fn into_check(self) -> Check {
        let id = self.id;
        let (bin_op, items) = match (self.all, self.any) {
            (Some(items), None) => (BinOp::And, items),
            (None, Some(items)) => (BinOp::Or, items),
            (None, None) => (BinOp::And, Vec::new()),
            (Some(_), Some(_)) => panic!("cis-checks.yaml: check {id} has both `all` and `any`"),
        };
        let audit = match self.audit.as_deref() {
            None | Some("process") => Audit::Process,
            Some("other") => Audit::Other,
            Some(other) => panic!("cis-checks.yaml: check {id}: unknown audit {other:?}"),
        };
        let items: Vec<TestItem> = items.into_iter().map(|i| i.into_item(&id)).collect();
        assert!(
            self.manual || !items.is_empty(),
            "cis-checks.yaml: check {id} is neither manual nor has test items"
        );
        Check {
            reads_config: items.iter().any(|i| i.path.is_some()),
            id,
            scored: self.scored,
            manual: self.manual,
            audit,
            bin_op,
            items,
        }
        .normalized()
    }
}

/// Resolved own data.
pub struct OwnData {
    /// Kubernetes minor (the N of 1.N) -> benchmark.
    pub minor_to_benchmark: BTreeMap<u32, String>,
    pub groups: BTreeMap<String, GroupInfo>,
    /// benchmark -> group -> checks (in kube-bench's order).
    pub benchmarks: BTreeMap<String, BTreeMap<String, Vec<Check>>>,
}

/// The parsed and resolved `tests/data/cis-checks.yaml`.
pub fn own_data() -> &'static OwnData {
    static DATA: OnceLock<OwnData> = OnceLock::new();
    DATA.get_or_init(|| parse_own(OWN_DATA))
}

fn parse_own(text: &str) -> OwnData {
    let file: OwnFile =
        yaml_serde::from_str(text).expect("tests/data/cis-checks.yaml does not parse");
    assert_eq!(file.format, 1, "cis-checks.yaml: unsupported format");
    let minor_to_benchmark = file
        .minor_to_benchmark
        .iter()
        .map(|(version, bench)| {
            let minor = version
                .strip_prefix("1.")
                .and_then(|m| m.parse::<u32>().ok())
                .unwrap_or_else(|| panic!("cis-checks.yaml: bad Kubernetes version {version:?}"));
            (minor, bench.clone())
        })
        .collect();

    fn resolve(
        name: &str,
        raw: &mut BTreeMap<String, OwnBenchmark>,
        done: &mut BTreeMap<String, BTreeMap<String, Vec<Check>>>,
        known_groups: &BTreeMap<String, GroupInfo>,
        depth: usize,
    ) {
        if done.contains_key(name) {
            return;
        }
        assert!(depth < 16, "cis-checks.yaml: based_on cycle at {name}");
        let bench = raw
            .remove(name)
            .unwrap_or_else(|| panic!("cis-checks.yaml: unknown benchmark {name:?}"));
        let mut groups = match bench.based_on.as_deref() {
            Some(base) => {
                resolve(base, raw, done, known_groups, depth + 1);
                done[base].clone()
            }
            None => BTreeMap::new(),
        };
        for id in &bench.removed {
            let before: usize = groups.values().map(Vec::len).sum();
            for checks in groups.values_mut() {
                checks.retain(|c: &Check| &c.id != id);
            }
            let after: usize = groups.values().map(Vec::len).sum();
            assert_eq!(
                before,
                after + 1,
                "cis-checks.yaml: {name} removes unknown check {id}"
            );
        }
        for (group, checks) in bench.groups {
            assert!(
                known_groups.contains_key(&group),
                "cis-checks.yaml: {name}: group {group} is not listed under `groups`"
            );
            let target = groups.entry(group).or_default();
            for check in checks {
                let check = check.into_check();
                match target.iter_mut().find(|c| c.id == check.id) {
                    Some(slot) => *slot = check,
                    None => target.push(check),
                }
            }
        }
        for (group, checks) in &groups {
            let mut seen = BTreeSet::new();
            for c in checks {
                assert!(
                    seen.insert(&c.id),
                    "cis-checks.yaml: {name} {group}: duplicate id {}",
                    c.id
                );
            }
        }
        done.insert(name.to_string(), groups);
    }

    let mut raw = file.benchmarks;
    let names: Vec<String> = raw.keys().cloned().collect();
    let mut benchmarks = BTreeMap::new();
    for name in &names {
        resolve(name, &mut raw, &mut benchmarks, &file.groups, 0);
    }
    OwnData {
        minor_to_benchmark,
        groups: file.groups,
        benchmarks,
    }
}

/// Checks of `group` (e.g. "1.2") of `benchmark` (e.g. "cis-1.11") from the own data.
/// Panics when the benchmark or group is not recorded (an empty list would make "passes all" vacuous).
pub fn load_own(benchmark: &str, group: &str) -> Vec<Check> {
    let data = own_data();
    let groups = data.benchmarks.get(benchmark).unwrap_or_else(|| {
        panic!(
            "benchmark {benchmark:?} not in cis-checks.yaml (have {:?})",
            data.benchmarks.keys().collect::<Vec<_>>()
        )
    });
    groups
        .get(group)
        .unwrap_or_else(|| {
            panic!(
                "group {group:?} of {benchmark} not in cis-checks.yaml (have {:?})",
                groups.keys().collect::<Vec<_>>()
            )
        })
        .clone()
}

/// Checks of `group` for the benchmark kube-bench would pick for Kubernetes 1.`minor`.
pub fn load_own_for_minor(minor: u32, group: &str) -> Vec<Check> {
    load_own(benchmark_for_minor(minor), group)
}

/// Benchmarks recorded in the own data.
pub fn own_benchmarks() -> Vec<&'static str> {
    own_data().benchmarks.keys().map(String::as_str).collect()
}

/// Groups recorded for `benchmark` in the own data.
pub fn own_groups(benchmark: &str) -> Vec<&'static str> {
    own_data()
        .benchmarks
        .get(benchmark)
        .map(|g| g.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// Where kube-bench keeps `group` and which process it audits.
pub fn group_info(group: &str) -> &'static GroupInfo {
    own_data()
        .groups
        .get(group)
        .unwrap_or_else(|| panic!("group {group:?} not listed in cis-checks.yaml"))
}

/// The benchmark kube-bench picks for Kubernetes 1.`minor` (no platform detection, no --benchmark).
pub fn benchmark_for_minor(minor: u32) -> &'static str {
    let map = &own_data().minor_to_benchmark;
    // kube-bench looks the minor up and, when missing, decrements it until a key matches
    // (so 1.35 -> 1.34 -> cis-1.12).
    if let Some((_, bench)) = map.range(..=minor).next_back() {
        return bench;
    }
    // Older than every minor recorded here (< 1.28).  kube-bench itself would pick an older benchmark
    // (1.27 -> cis-1.9, ...), which this data does not carry; the nearest benchmark we have is the one
    // of the oldest recorded minor (cis-1.10), so use that.
    map.values()
        .next()
        .expect("cis-checks.yaml: minor_to_benchmark is empty")
}

// ---------------------------------------------------------------------------------------------
// kube-bench's own control files
// ---------------------------------------------------------------------------------------------

/// kube-bench's data next to the repository (`../shared/peers/kube-bench`), when present (CI).
pub fn shared_kube_bench_dir() -> Option<PathBuf> {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/peers/kube-bench"
    ));
    dir.is_dir().then(|| dir.to_path_buf())
}

#[derive(Deserialize)]
struct KbControls {
    #[serde(default)]
    groups: Vec<KbGroup>,
}

#[derive(Deserialize)]
struct KbGroup {
    id: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    checks: Vec<KbCheck>,
}

#[derive(Deserialize)]
struct KbCheck {
    id: String,
    #[serde(default)]
    audit: Option<String>,
    #[serde(default)]
    audit_config: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    tests: Option<KbTests>,
    #[serde(default)]
    scored: bool,
}

#[derive(Deserialize)]
struct KbTests {
    #[serde(default)]
    bin_op: Option<String>,
    #[serde(default)]
    test_items: Vec<KbItem>,
}

#[derive(Deserialize)]
struct KbItem {
    #[serde(default)]
    flag: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    set: Option<bool>,
    #[serde(default)]
    compare: Option<KbCompare>,
}

#[derive(Deserialize)]
struct KbCompare {
    #[serde(default)]
    op: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
struct KbConfig {
    #[serde(default)]
    version_mapping: BTreeMap<String, String>,
}

/// Whether an audit command is the plain "find the component's process" pipeline.
fn classify_audit(audit: &str) -> Audit {
    let a = audit.trim().replace("/bin/", "");
    let is_bin_var = |s: &str| {
        s.strip_prefix('$')
            .and_then(|s| s.strip_suffix("bin"))
            .is_some_and(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()))
    };
    let ps_grep = a
        .strip_prefix("ps -ef | grep ")
        .and_then(|r| r.strip_suffix(" | grep -v grep"))
        .is_some_and(is_bin_var);
    let ps_c = a.strip_prefix("ps -fC ").is_some_and(is_bin_var);
    if ps_grep || ps_c {
        Audit::Process
    } else {
        Audit::Other
    }
}

/// Parses `group` of a kube-bench control file (e.g. `cfg/cis-1.11/master.yaml`).
/// Scalars are read as text, as kube-bench's yaml.v2 does (`value: false` -> "false").
pub fn load_kube_bench(path: &Path, group: &str) -> Vec<Check> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let controls: KbControls = yaml_serde::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not a kube-bench control file: {e}", path.display()));
    let kb_group = controls
        .groups
        .into_iter()
        .find(|g| g.id == group)
        .unwrap_or_else(|| panic!("{}: no group {group}", path.display()));
    let group_skipped = kb_group.kind.as_deref() == Some("skip");
    kb_group
        .checks
        .into_iter()
        .map(|c| {
            let kind = c.kind.as_deref().unwrap_or("");
            let tests = c.tests.unwrap_or(KbTests {
                bin_op: None,
                test_items: Vec::new(),
            });
            let bin_op = match tests.bin_op.as_deref() {
                None | Some("") | Some("and") => BinOp::And,
                Some("or") => BinOp::Or,
                Some(other) => panic!(
                    "{}: check {}: unknown bin_op {other:?}",
                    path.display(),
                    c.id
                ),
            };
            let items = tests
                .test_items
                .into_iter()
                .map(|i| TestItem {
                    flag: i.flag.filter(|s| !s.is_empty()),
                    path: i.path.filter(|s| !s.is_empty()),
                    env: i.env.filter(|s| !s.is_empty()),
                    set: i.set.unwrap_or(true),
                    compare: i
                        .compare
                        .filter(|cmp| !cmp.op.is_empty())
                        .map(|cmp| Compare {
                            op: Op::parse(&cmp.op).unwrap_or_else(|| {
                                panic!(
                                    "{}: check {}: unknown op {:?}",
                                    path.display(),
                                    c.id,
                                    cmp.op
                                )
                            }),
                            value: cmp.value,
                        }),
                })
                .collect();
            Check {
                scored: c.scored,
                manual: group_skipped || kind == "manual" || kind == "skip",
                audit: classify_audit(c.audit.as_deref().unwrap_or("")),
                reads_config: c.audit_config.is_some_and(|a| !a.trim().is_empty()),
                bin_op,
                items,
                id: c.id,
            }
            .normalized()
        })
        .collect()
}

/// kube-bench's `version_mapping` from its `cfg/config.yaml`, restricted to "1.N" keys
/// (vendor benchmarks map to themselves), as minor -> benchmark.
pub fn load_kube_bench_version_mapping(config_yaml: &Path) -> BTreeMap<u32, String> {
    let text = std::fs::read_to_string(config_yaml)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", config_yaml.display()));
    let cfg: KbConfig =
        yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", config_yaml.display()));
    cfg.version_mapping
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("1.")?.parse::<u32>().ok()?, v)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A small backtracking regex matcher (RE2 subset) for the `regex` operator, since the `regex`
// crate is not a dependency.  Supports literals, `.`, `^`, `$`, classes `[...]` with ranges and
// negation, `\d \w \s` (and negations), escaped punctuation, groups `(...)`/`(?:...)`, `|`, and
// the quantifiers `* + ? {m} {m,} {m,n}` (lazy `?` suffix accepted).  Anything else is an error.
// ---------------------------------------------------------------------------------------------

mod mini_regex {
    #[derive(Debug)]
    enum Node {
        Char(char),
        Any,
        Class(Vec<(char, char)>, bool),
        Start,
        End,
        Group(Vec<Vec<Node>>),
        Repeat(Box<Node>, usize, Option<usize>),
    }

    struct Parser {
        chars: Vec<char>,
        pos: usize,
    }

    impl Parser {
        fn peek(&self) -> Option<char> {
            self.chars.get(self.pos).copied()
        }
        fn eat(&mut self, c: char) -> bool {
            if self.peek() == Some(c) {
                self.pos += 1;
                true
            } else {
                false
            }
        }
        fn next(&mut self) -> Result<char, String> {
            let c = self.peek().ok_or("unexpected end of pattern")?;
            self.pos += 1;
            Ok(c)
        }
        fn alternation(&mut self) -> Result<Vec<Vec<Node>>, String> {
            let mut alts = vec![self.sequence()?];
            while self.eat('|') {
                alts.push(self.sequence()?);
            }
            Ok(alts)
        }
        fn sequence(&mut self) -> Result<Vec<Node>, String> {
            let mut seq = Vec::new();
            while let Some(c) = self.peek() {
                if c == '|' || c == ')' {
                    break;
                }
                let atom = self.atom()?;
                seq.push(self.quantified(atom)?);
            }
            Ok(seq)
        }
        fn atom(&mut self) -> Result<Node, String> {
            match self.next()? {
                '(' => {
                    if self.eat('?') && !self.eat(':') {
                        return Err("only (?:...) groups are supported".into());
                    }
                    let alts = self.alternation()?;
                    if !self.eat(')') {
                        return Err("missing )".into());
                    }
                    Ok(Node::Group(alts))
                }
                '.' => Ok(Node::Any),
                '^' => Ok(Node::Start),
                '$' => Ok(Node::End),
                '[' => self.class(),
                '\\' => self.escape(),
                c @ ('*' | '+' | '?' | '{') => Err(format!("nothing to repeat before {c:?}")),
                c => Ok(Node::Char(c)),
            }
        }
        fn escape(&mut self) -> Result<Node, String> {
            let c = self.next()?;
            Ok(match c {
                'd' | 'w' | 's' => Node::Class(perl_class(c), false),
                'D' | 'W' | 'S' => Node::Class(perl_class(c.to_ascii_lowercase()), true),
                'n' => Node::Char('\n'),
                't' => Node::Char('\t'),
                'r' => Node::Char('\r'),
                c if c.is_ascii_punctuation() => Node::Char(c),
                c => return Err(format!("unsupported escape \\{c}")),
            })
        }
        fn class(&mut self) -> Result<Node, String> {
            let negated = self.eat('^');
            let mut ranges = Vec::new();
            let mut first = true;
            loop {
                let c = self.next()?;
                if c == ']' && !first {
                    break;
                }
                first = false;
                let lo = if c == '\\' {
                    let e = self.next()?;
                    match e {
                        'd' | 'w' | 's' => {
                            ranges.extend(perl_class(e));
                            continue;
                        }
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        e if e.is_ascii_punctuation() => e,
                        e => return Err(format!("unsupported escape \\{e} in class")),
                    }
                } else {
                    c
                };
                if self.peek() == Some('-') && self.chars.get(self.pos + 1) != Some(&']') {
                    self.pos += 1;
                    let hi = match self.next()? {
                        '\\' => self.next()?,
                        hi => hi,
                    };
                    if hi < lo {
                        return Err(format!("bad range {lo}-{hi}"));
                    }
                    ranges.push((lo, hi));
                } else {
                    ranges.push((lo, lo));
                }
            }
            Ok(Node::Class(ranges, negated))
        }
        fn number(&mut self) -> Option<usize> {
            let start = self.pos;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
            self.chars[start..self.pos]
                .iter()
                .collect::<String>()
                .parse()
                .ok()
        }
        fn quantified(&mut self, atom: Node) -> Result<Node, String> {
            let (min, max) = if self.eat('*') {
                (0, None)
            } else if self.eat('+') {
                (1, None)
            } else if self.eat('?') {
                (0, Some(1))
            } else if self.eat('{') {
                let min = self.number().ok_or("bad {m,n}")?;
                let max = if self.eat(',') {
                    self.number()
                } else {
                    Some(min)
                };
                if !self.eat('}') || max.is_some_and(|max| max < min) {
                    return Err("bad {m,n}".into());
                }
                (min, max)
            } else {
                return Ok(atom);
            };
            self.eat('?'); // lazy: irrelevant for a yes/no match
            if matches!(self.peek(), Some('*' | '+' | '?' | '{')) {
                return Err("repeated quantifier".into());
            }
            Ok(Node::Repeat(Box::new(atom), min, max))
        }
    }

    fn perl_class(c: char) -> Vec<(char, char)> {
        match c {
            'd' => vec![('0', '9')],
            'w' => vec![('0', '9'), ('A', 'Z'), ('a', 'z'), ('_', '_')],
            // RE2 \s: [\t\n\f\r ]
            _ => vec![('\t', '\n'), ('\x0c', '\r'), (' ', ' ')],
        }
    }

    type Cont<'a> = &'a mut dyn FnMut(usize) -> bool;

    fn seq(nodes: &[Node], pos: usize, t: &[char], k: Cont<'_>) -> bool {
        match nodes.split_first() {
            None => k(pos),
            Some((node, rest)) => one(node, pos, t, &mut |p| seq(rest, p, t, &mut *k)),
        }
    }

    fn one(node: &Node, pos: usize, t: &[char], k: Cont<'_>) -> bool {
        match node {
            Node::Char(c) => t.get(pos) == Some(c) && k(pos + 1),
            Node::Any => t.get(pos).is_some_and(|&c| c != '\n') && k(pos + 1),
            Node::Class(ranges, negated) => {
                t.get(pos)
                    .is_some_and(|&c| ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated)
                    && k(pos + 1)
            }
            Node::Start => pos == 0 && k(pos),
            Node::End => pos == t.len() && k(pos),
            Node::Group(alts) => alts.iter().any(|alt| seq(alt, pos, t, &mut *k)),
            Node::Repeat(inner, min, max) => repeat(inner, *min, *max, 0, pos, t, k),
        }
    }

    fn repeat(
        inner: &Node,
        min: usize,
        max: Option<usize>,
        count: usize,
        pos: usize,
        t: &[char],
        k: Cont<'_>,
    ) -> bool {
        if max.is_none_or(|m| count < m)
            && one(inner, pos, t, &mut |p| {
                (p != pos || count < min) && repeat(inner, min, max, count + 1, p, t, &mut *k)
            })
        {
            return true;
        }
        count >= min && k(pos)
    }

    /// Unanchored match, like Go's `regexp.MatchString`.
    pub fn is_match(pattern: &str, text: &str) -> Result<bool, String> {
        let mut parser = Parser {
            chars: pattern.chars().collect(),
            pos: 0,
        };
        let alts = parser.alternation()?;
        if parser.pos != parser.chars.len() {
            return Err("unbalanced )".into());
        }
        let root = Node::Group(alts);
        let t: Vec<char> = text.chars().collect();
        Ok((0..=t.len()).any(|start| one(&root, start, &t, &mut |_| true)))
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// Single-item check helper for the unit tests.
fn item_check(scored: bool, items: Vec<TestItem>, bin_op: BinOp) -> Check {
    Check {
        id: "t".into(),
        scored,
        manual: false,
        audit: Audit::Process,
        reads_config: items.iter().any(|i| i.path.is_some()),
        bin_op,
        items,
    }
}

fn present(flag: &str) -> TestItem {
    TestItem {
        flag: Some(flag.into()),
        path: None,
        env: None,
        set: true,
        compare: None,
    }
}

fn absent(flag: &str) -> TestItem {
    TestItem {
        set: false,
        ..present(flag)
    }
}

fn cmp(flag: &str, op: Op, value: &str) -> TestItem {
    TestItem {
        compare: Some(Compare {
            op,
            value: value.into(),
        }),
        ..present(flag)
    }
}

fn one(item: TestItem) -> Check {
    item_check(true, vec![item], BinOp::And)
}

/// kubeadm 1.31 `kubeadm init` defaults for the API server (single control-plane node).
const KUBEADM_1_31_APISERVER: &str = "kube-apiserver --advertise-address=192.168.0.10 \
--allow-privileged=true --authorization-mode=Node,RBAC --client-ca-file=/etc/kubernetes/pki/ca.crt \
--enable-admission-plugins=NodeRestriction --enable-bootstrap-token-auth=true \
--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt --etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt \
--etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key --etcd-servers=https://127.0.0.1:2379 \
--kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt \
--kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key \
--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname \
--proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt \
--proxy-client-key-file=/etc/kubernetes/pki/front-proxy-client.key \
--requestheader-allowed-names=front-proxy-client \
--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt \
--requestheader-extra-headers-prefix=X-Remote-Extra- --requestheader-group-headers=X-Remote-Group \
--requestheader-username-headers=X-Remote-User --secure-port=6443 \
--service-account-issuer=https://kubernetes.default.svc.cluster.local \
--service-account-key-file=/etc/kubernetes/pki/sa.pub \
--service-account-signing-key-file=/etc/kubernetes/pki/sa.key --service-cluster-ip-range=10.96.0.0/12 \
--tls-cert-file=/etc/kubernetes/pki/apiserver.crt --tls-private-key-file=/etc/kubernetes/pki/apiserver.key";

/// The kubeadm defaults plus every flag the 1.2 checks ask for (including the unscored ones).
fn hardened_apiserver() -> String {
    format!(
        "{} --anonymous-auth=false --kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt \
--profiling=false --audit-log-path=/var/log/kubernetes/audit/audit.log --audit-log-maxage=30 \
--audit-log-maxbackup=10 --audit-log-maxsize=100 --audit-policy-file=/etc/kubernetes/audit-policy.yaml \
--service-account-extend-token-expiration=false \
--encryption-provider-config=/etc/kubernetes/enc/encryption-config.yaml \
--tls-cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        KUBEADM_1_31_APISERVER.replace(
            "--enable-admission-plugins=NodeRestriction",
            "--enable-admission-plugins=NodeRestriction,EventRateLimit,AlwaysPullImages,DenyServiceExternalIPs \
--admission-control-config-file=/etc/kubernetes/admission.yaml"
        )
    )
}

fn cmdline_only(cmdline: &str) -> Inputs<'_> {
    Inputs {
        cmdline,
        ..Inputs::default()
    }
}

// ---- (a) lookup semantics and traps ----------------------------------------------------------

#[test]
fn flag_value_forms() {
    let line = "kube-apiserver --a=1 --b: 2 --c:   3 --bare --d==4 --e=";
    assert_eq!(find_flag(line, "--a").as_deref(), Some("1"));
    assert_eq!(find_flag(line, "--b").as_deref(), Some("2"));
    assert_eq!(find_flag(line, "--c").as_deref(), Some("3"));
    assert_eq!(find_flag(line, "--bare").as_deref(), Some("true"));
    assert_eq!(find_flag(line, "--d").as_deref(), Some("4"));
    assert_eq!(find_flag(line, "--e").as_deref(), Some("true"));
    assert_eq!(find_flag(line, "--zzz"), None);
    assert_eq!(find_flag("", "--a"), None);
    // Without a leading "--" an empty value reads as the flag name itself.
    assert_eq!(
        find_flag(
            "x RotateKubeletServerCertificate",
            "RotateKubeletServerCertificate"
        )
        .as_deref(),
        Some("RotateKubeletServerCertificate")
    );
}

#[test]
fn trap_prefix_substring_counts_as_present() {
    let check = one(present("--encryption-provider-config"));
    let line = "kube-apiserver --encryption-provider-config-automatic-reload=true";
    assert_eq!(evaluate(&check, line), Outcome::Pass);
    // ... and the value read is the tail of the longer flag.
    assert_eq!(
        find_flag(line, "--encryption-provider-config").as_deref(),
        Some("-automatic-reload=true")
    );
    // "absent" is defeated the same way.
    assert_eq!(
        evaluate(&one(absent("--token-auth-file")), "x --token-auth-file-x=1"),
        Outcome::Fail
    );
    // But the leading "--" protects against suffix matches.
    assert_eq!(
        evaluate(
            &one(present("--client-ca-file")),
            "x --requestheader-client-ca-file=/a"
        ),
        Outcome::Fail
    );
}

#[test]
fn trap_split_form_reads_as_true() {
    // `--flag value` (two argv items) is joined by a space: the value is "true".
    let line = "kube-apiserver --audit-log-maxage 30 --profiling false";
    assert_eq!(
        find_flag(line, "--audit-log-maxage").as_deref(),
        Some("true")
    );
    assert_eq!(
        evaluate(&one(cmp("--audit-log-maxage", Op::Gte, "30")), line),
        Outcome::Fail
    );
    assert_eq!(
        evaluate(&one(cmp("--profiling", Op::Eq, "false")), line),
        Outcome::Fail
    );
    // Presence alone is still satisfied.
    assert_eq!(
        evaluate(&one(present("--audit-log-maxage")), line),
        Outcome::Pass
    );
}

#[test]
fn trap_first_occurrence_wins() {
    let check = one(cmp("--profiling", Op::Eq, "false"));
    assert_eq!(
        evaluate(&check, "x --profiling=true --profiling=false"),
        Outcome::Fail
    );
    assert_eq!(
        evaluate(&check, "x --profiling=false --profiling=true"),
        Outcome::Pass
    );
    // The first substring occurrence may even be inside another flag's value.
    assert_eq!(
        evaluate(&check, "x --note=--profiling=true --profiling=false"),
        Outcome::Fail
    );
}

#[test]
fn set_false_and_absent_compare() {
    let check = one(absent("--token-auth-file"));
    assert_eq!(evaluate(&check, "x --a=1"), Outcome::Pass);
    assert_eq!(
        evaluate(&check, "x --token-auth-file=/t.csv"),
        Outcome::Fail
    );
    assert_eq!(evaluate(&check, "x --token-auth-file="), Outcome::Fail);
    // Absent + compare fails even for `noteq`, whatever the default is.
    assert_eq!(
        evaluate(
            &one(cmp("--use-service-account-credentials", Op::NotEq, "false")),
            "x"
        ),
        Outcome::Fail
    );
    // Presence-only item.
    assert_eq!(
        evaluate(&one(present("--audit-log-path")), "x --audit-log-path=/a"),
        Outcome::Pass
    );
    assert_eq!(
        evaluate(&one(present("--audit-log-path")), "x"),
        Outcome::Fail
    );
}

#[test]
fn bin_ops_scoring_and_manual() {
    let or = item_check(
        true,
        vec![
            cmp("--bind-address", Op::Eq, "127.0.0.1"),
            absent("--bind-address"),
        ],
        BinOp::Or,
    );
    assert_eq!(evaluate(&or, "x"), Outcome::Pass);
    assert_eq!(evaluate(&or, "x --bind-address=127.0.0.1"), Outcome::Pass);
    assert_eq!(evaluate(&or, "x --bind-address=0.0.0.0"), Outcome::Fail);
    assert_eq!(evaluate(&or, "x --bind-address=localhost"), Outcome::Fail);

    let and = item_check(true, vec![present("--a"), present("--b")], BinOp::And);
    assert_eq!(evaluate(&and, "x --a=1 --b=2"), Outcome::Pass);
    assert_eq!(evaluate(&and, "x --a=1"), Outcome::Fail);

    let unscored = item_check(false, vec![present("--a")], BinOp::And);
    assert_eq!(evaluate(&unscored, "x"), Outcome::Warn);
    assert_eq!(evaluate(&unscored, "x --a"), Outcome::Pass);

    let manual = Check {
        manual: true,
        ..item_check(true, vec![], BinOp::And)
    };
    assert_eq!(evaluate(&manual, "x"), Outcome::NotEvaluated);
    let other = Check {
        audit: Audit::Other,
        ..item_check(true, vec![present("--a")], BinOp::And)
    };
    assert_eq!(evaluate(&other, "x --a"), Outcome::NotEvaluated);
    let no_tests = item_check(true, vec![], BinOp::And);
    assert_eq!(evaluate(&no_tests, "x"), Outcome::Fail);
}

// ---- (a) operators ---------------------------------------------------------------------------

#[test]
fn op_eq_noteq() {
    assert!(compare(Op::Eq, "false", "false"));
    assert!(
        compare(Op::Eq, "FALSE", "false"),
        "boolean actual values compare case-insensitively"
    );
    assert!(compare(Op::Eq, "True", "true"));
    assert!(
        !compare(Op::Eq, "false", "False"),
        "the expected value is compared as written"
    );
    assert!(
        !compare(Op::Eq, "LOCALHOST", "localhost"),
        "non-boolean values are case-sensitive"
    );
    assert!(compare(Op::Eq, "127.0.0.1", "127.0.0.1"));
    assert!(!compare(Op::Eq, "localhost", "127.0.0.1"));
    assert!(compare(Op::NotEq, "true", "false"));
    assert!(!compare(Op::NotEq, "FALSE", "false"));
    assert!(compare(Op::NotEq, "0s", "0"));
    assert!(!compare(Op::NotEq, "0", "0"));
}

#[test]
fn op_numeric() {
    assert!(compare(Op::Gte, "30", "30"));
    assert!(compare(Op::Gte, "31", "30"));
    assert!(!compare(Op::Gte, "29", "30"));
    assert!(!compare(Op::Gte, "30d", "30"), "non-integer actual fails");
    assert!(!compare(Op::Gte, "true", "30"));
    assert!(!compare(Op::Gte, "30", "x"), "non-integer expected fails");
    assert!(compare(Op::Gte, "+30", "30"), "Atoi accepts a sign");
    assert!(compare(Op::Gt, "11", "10"));
    assert!(!compare(Op::Gt, "10", "10"));
    assert!(compare(Op::Lt, "-1", "0"));
    assert!(!compare(Op::Lt, "0", "0"));
    assert!(compare(Op::Lte, "0", "0"));
    assert!(!compare(Op::Lte, "1.5", "2"));
}

#[test]
fn op_has_nothave() {
    assert!(compare(Op::Has, "Node,RBAC", "Node"));
    assert!(
        compare(Op::Has, "NodeRestriction", "Node"),
        "substring, not list membership"
    );
    assert!(!compare(Op::Has, "RBAC", "Node"));
    assert!(compare(Op::NotHave, "Node,RBAC", "AlwaysAllow"));
    assert!(!compare(Op::NotHave, "RBAC,AlwaysAllowX", "AlwaysAllow"));
}

#[test]
fn op_regex_unanchored() {
    assert!(compare(Op::Regex, "VersionTLS12", "TLS1[23]"));
    assert!(compare(Op::Regex, "abc", "b"));
    assert!(!compare(Op::Regex, "abc", "^b"));
    assert!(compare(Op::Regex, "abc", "^a.c$"));
    assert!(compare(Op::Regex, "x=30", r"=\d{2}$"));
    assert!(compare(Op::Regex, "x=300", r"=\d{2,}$"));
    assert!(!compare(Op::Regex, "x=3000", r"=\d{1,3}$"));
    assert!(compare(Op::Regex, "ab", "^a(b|c)?$"));
    assert!(!compare(Op::Regex, "x=3", r"=\d{2}$"));
    assert!(compare(Op::Regex, "RBAC", "^(Node|RBAC)$"));
    assert!(compare(Op::Regex, "aaa", "^a+$"));
    assert!(compare(Op::Regex, "", "^(?:x)?$"));
    assert!(
        !compare(Op::Regex, "a\nb", "a.b"),
        "`.` does not match a newline"
    );
    assert!(compare(Op::Regex, "foo-bar", r"[^a-z]"));
    assert!(mini_regex::is_match("(a", "a").is_err());
    assert!(mini_regex::is_match(r"\bx", "x").is_err());
}

#[test]
fn op_valid_elements() {
    let allowed = "A,B,C";
    assert!(compare(Op::ValidElements, "A,C", allowed));
    assert!(
        compare(Op::ValidElements, "A, C,", allowed),
        "trailing separator and spaces trimmed"
    );
    assert!(!compare(Op::ValidElements, "A,D", allowed));
    assert!(compare(Op::ValidElements, "", ""), "both empty pass");
    assert!(!compare(Op::ValidElements, "", allowed));
    assert!(!compare(Op::ValidElements, "A", ""));
    // A bare flag reads "true", which is not a valid element.
    let check = one(cmp("--tls-cipher-suites", Op::ValidElements, allowed));
    assert_eq!(evaluate(&check, "x --tls-cipher-suites B"), Outcome::Fail);
    assert_eq!(evaluate(&check, "x --tls-cipher-suites=B,A"), Outcome::Pass);
}

#[test]
fn op_bitmask() {
    assert!(compare(Op::Bitmask, "600", "600"));
    assert!(compare(Op::Bitmask, "400", "600"));
    assert!(compare(Op::Bitmask, "644", "644"));
    assert!(!compare(Op::Bitmask, "644", "600"));
    assert!(!compare(Op::Bitmask, "666", "644"));
    assert!(!compare(Op::Bitmask, "rw", "644"));
}

#[test]
fn op_names_round_trip() {
    for op in Op::ALL {
        assert_eq!(Op::parse(op.name()), Some(op));
    }
    assert_eq!(Op::parse("contains"), None);
}

#[test]
fn env_and_config_lookup_order() {
    let check = item_check(
        true,
        vec![TestItem {
            flag: Some("--anonymous-auth".into()),
            path: Some("{.authentication.anonymous.enabled}".into()),
            env: None,
            set: true,
            compare: Some(Compare {
                op: Op::Eq,
                value: "false".into(),
            }),
        }],
        BinOp::And,
    );
    let config = serde_json::json!({"authentication": {"anonymous": {"enabled": false}}});
    let with_config = |cmdline| Inputs {
        cmdline,
        config: Some(&config),
        environ: None,
    };
    assert_eq!(
        evaluate_with(&check, &with_config("kubelet")),
        Outcome::Pass
    );
    // The command line wins over the config file.
    assert_eq!(
        evaluate_with(&check, &with_config("kubelet --anonymous-auth=true")),
        Outcome::Fail
    );
    // Without a config file the setting is absent.
    assert_eq!(evaluate(&check, "kubelet"), Outcome::Fail);

    let etcd = item_check(
        true,
        vec![TestItem {
            flag: Some("--client-cert-auth".into()),
            path: None,
            env: Some("ETCD_CLIENT_CERT_AUTH".into()),
            set: true,
            compare: Some(Compare {
                op: Op::Eq,
                value: "true".into(),
            }),
        }],
        BinOp::And,
    );
    let env = "HOME=/\nETCD_CLIENT_CERT_AUTH=true\n";
    assert_eq!(
        evaluate_with(
            &etcd,
            &Inputs {
                cmdline: "etcd",
                config: None,
                environ: Some(env)
            }
        ),
        Outcome::Pass
    );
    assert_eq!(
        evaluate_with(
            &etcd,
            &Inputs {
                cmdline: "etcd --client-cert-auth=false",
                config: None,
                environ: Some(env)
            }
        ),
        Outcome::Fail
    );
    assert_eq!(
        find_env("ETCD_AUTO_TLS=\n", "ETCD_AUTO_TLS"),
        None,
        "empty value = not found"
    );
    assert_eq!(find_env("A=1\nB=2", "B").as_deref(), Some("2"));
}

#[test]
fn json_path_subset() {
    let config = serde_json::json!({
        "readOnlyPort": 0,
        "rotateCertificates": true,
        "tlsCipherSuites": ["A", "B"],
        "featureGates": {"RotateKubeletServerCertificate": false},
        "nothing": null,
    });
    assert_eq!(json_path(&config, "{.readOnlyPort}").as_deref(), Some("0"));
    assert_eq!(
        json_path(&config, "{.rotateCertificates}").as_deref(),
        Some("true")
    );
    assert_eq!(
        json_path(&config, "{.featureGates.RotateKubeletServerCertificate}").as_deref(),
        Some("false")
    );
    assert_eq!(
        json_path(&config, "{range .tlsCipherSuites[:]}{}{','}{end}").as_deref(),
        Some("A,B,")
    );
    assert_eq!(json_path(&config, "{.missing.key}"), None);
    assert_eq!(json_path(&config, "{.nothing}"), None);
}

// ---- own data and version mapping ------------------------------------------------------------

#[test]
fn own_data_loads_and_is_complete_for_1_2() {
    assert_eq!(
        own_benchmarks(),
        ["cis-1.10", "cis-1.11", "cis-1.12", "cis-2.0"]
    );
    for bench in own_benchmarks() {
        let checks = load_own(bench, "1.2");
        let last = if bench == "cis-1.10" { 29 } else { 30 };
        let expected: Vec<String> = (1..=last).map(|n| format!("1.2.{n}")).collect();
        let ids: Vec<String> = checks.iter().map(|c| c.id.clone()).collect();
        assert_eq!(ids, expected, "{bench}");
        let manual: Vec<&str> = checks
            .iter()
            .filter(|c| c.manual)
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(manual, ["1.2.20"], "{bench}");
        let unscored: Vec<&str> = checks
            .iter()
            .filter(|c| !c.scored)
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(
            unscored,
            ["1.2.1", "1.2.3", "1.2.9", "1.2.11", "1.2.20", "1.2.27", "1.2.28", "1.2.29"],
            "{bench}"
        );
        assert_eq!(
            own_groups(bench),
            ["1.2", "1.3", "1.4", "2", "4.2"],
            "{bench}"
        );
    }
    // cis-1.12 only narrows the apiserver cipher list.
    let c11 = load_own("cis-1.11", "1.2");
    let c12 = load_own("cis-1.12", "1.2");
    let differing: Vec<&str> = c11
        .iter()
        .zip(&c12)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.id.as_str())
        .collect();
    assert_eq!(differing, ["1.2.29"]);
    assert!(load_own("cis-1.12", "4.2").iter().all(|c| c.id != "4.2.15"));
    assert!(load_own("cis-1.11", "4.2").iter().any(|c| c.id == "4.2.15"));
    assert_eq!(group_info("1.2").process, "kube-apiserver");
}

#[test]
fn version_mapping() {
    // Older than the data: nearest recorded benchmark (see benchmark_for_minor).
    assert_eq!(benchmark_for_minor(20), "cis-1.10");
    assert_eq!(benchmark_for_minor(27), "cis-1.10");
    assert_eq!(benchmark_for_minor(28), "cis-1.10");
    for minor in 29..=31 {
        assert_eq!(benchmark_for_minor(minor), "cis-1.11", "1.{minor}");
    }
    for minor in 32..=34 {
        assert_eq!(benchmark_for_minor(minor), "cis-1.12", "1.{minor}");
    }
    // Newer than the data: kube-bench decrements to the nearest known minor.
    assert_eq!(benchmark_for_minor(35), "cis-1.12");
    assert_eq!(benchmark_for_minor(40), "cis-1.12");
    assert_eq!(load_own_for_minor(30, "1.2").len(), 30);
}

// ---- (b) the oracle fails kubeadm's defaults and passes a hardened line ----------------------

#[test]
fn kubeadm_1_31_defaults_fail_the_expected_scored_checks() {
    let bench = benchmark_for_minor(31);
    assert_eq!(bench, "cis-1.11");
    let checks = load_own(bench, "1.2");
    let inputs = cmdline_only(KUBEADM_1_31_APISERVER);
    assert_eq!(
        ids_with(&checks, &inputs, Outcome::Fail),
        ["1.2.5", "1.2.15", "1.2.16", "1.2.17", "1.2.18", "1.2.19", "1.2.30"]
    );
    assert_eq!(
        ids_with(&checks, &inputs, Outcome::Warn),
        ["1.2.1", "1.2.3", "1.2.9", "1.2.11", "1.2.27", "1.2.29"]
    );
    assert_eq!(
        ids_with(&checks, &inputs, Outcome::NotEvaluated),
        ["1.2.20", "1.2.28"]
    );
    // Every other check -- all of them scored -- passes.
    for check in &checks {
        if evaluate(check, KUBEADM_1_31_APISERVER) == Outcome::Pass {
            assert!(check.scored, "{} passes but is unscored", check.id);
        }
    }
    assert_eq!(
        ids_with(&checks, &inputs, Outcome::Pass).len(),
        30 - 7 - 6 - 2
    );
}

#[test]
fn hardened_apiserver_passes_every_evaluated_check() {
    let line = hardened_apiserver();
    for bench in own_benchmarks() {
        assert_passes_scored(bench, "1.2", &line);
        let checks = load_own(bench, "1.2");
        let inputs = cmdline_only(&line);
        assert!(
            ids_with(&checks, &inputs, Outcome::Warn).is_empty(),
            "{bench}"
        );
    }
    // A CBC suite is fine for cis-1.11 but only a WARN under cis-1.12.
    let cbc = format!("{line} ").replace(
        "--tls-cipher-suites=",
        "--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,",
    );
    let c29 = |bench: &str| {
        let checks = load_own(bench, "1.2");
        let check = checks
            .iter()
            .find(|c| c.id == "1.2.29")
            .cloned()
            .expect("1.2.29");
        evaluate(&check, &cbc)
    };
    assert_eq!(c29("cis-1.11"), Outcome::Pass);
    assert_eq!(c29("cis-1.12"), Outcome::Warn);
}

#[test]
fn kubeadm_manifest_cmdline() {
    let manifest = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\nspec:\n  containers:\n  - name: kube-apiserver\n    command:\n    - kube-apiserver\n    - --profiling=false\n    - --audit-log-maxage\n    - \"30\"\n";
    let line = cmdline_from_manifest(manifest);
    assert_eq!(
        line,
        "kube-apiserver --profiling=false --audit-log-maxage 30"
    );
    let checks = load_own("cis-1.12", "1.2");
    let outcome = |id: &str| {
        let check = checks.iter().find(|c| c.id == id).expect("check");
        evaluate(check, &line)
    };
    assert_eq!(outcome("1.2.15"), Outcome::Pass);
    assert_eq!(
        outcome("1.2.17"),
        Outcome::Fail,
        "split form is not understood by kube-bench"
    );
}

#[test]
fn other_control_plane_groups_on_kubeadm_defaults() {
    let bench = "cis-1.12";
    let kcm = "kube-controller-manager --allocate-node-cidrs=true \
--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf \
--authorization-kubeconfig=/etc/kubernetes/controller-manager.conf --bind-address=127.0.0.1 \
--client-ca-file=/etc/kubernetes/pki/ca.crt --cluster-cidr=10.244.0.0/16 --cluster-name=kubernetes \
--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt --cluster-signing-key-file=/etc/kubernetes/pki/ca.key \
--controllers=*,bootstrapsigner,tokencleaner --kubeconfig=/etc/kubernetes/controller-manager.conf \
--leader-elect=true --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt \
--root-ca-file=/etc/kubernetes/pki/ca.crt --service-account-private-key-file=/etc/kubernetes/pki/sa.key \
--service-cluster-ip-range=10.96.0.0/12 --use-service-account-credentials=true";
    let checks = load_own(bench, "1.3");
    assert_eq!(
        ids_with(&checks, &cmdline_only(kcm), Outcome::Fail),
        ["1.3.2"]
    );
    assert_eq!(
        ids_with(&checks, &cmdline_only(kcm), Outcome::Warn),
        ["1.3.1"]
    );

    let sched = "kube-scheduler --authentication-kubeconfig=/etc/kubernetes/scheduler.conf \
--authorization-kubeconfig=/etc/kubernetes/scheduler.conf --bind-address=127.0.0.1 \
--kubeconfig=/etc/kubernetes/scheduler.conf --leader-elect=true";
    let checks = load_own(bench, "1.4");
    assert_eq!(
        ids_with(&checks, &cmdline_only(sched), Outcome::Fail),
        ["1.4.1"]
    );
    assert_passes_scored(bench, "1.4", &format!("{sched} --profiling=false"));

    let etcd = "etcd --advertise-client-urls=https://192.168.0.10:2379 \
--cert-file=/etc/kubernetes/pki/etcd/server.crt --client-cert-auth=true --data-dir=/var/lib/etcd \
--initial-advertise-peer-urls=https://192.168.0.10:2380 --initial-cluster=cp=https://192.168.0.10:2380 \
--key-file=/etc/kubernetes/pki/etcd/server.key --listen-client-urls=https://127.0.0.1:2379,https://192.168.0.10:2379 \
--listen-metrics-urls=http://127.0.0.1:2381 --listen-peer-urls=https://192.168.0.10:2380 --name=cp \
--peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt --peer-client-cert-auth=true \
--peer-key-file=/etc/kubernetes/pki/etcd/peer.key --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt \
--snapshot-count=10000 --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt";
    let checks = load_own(bench, "2");
    assert_eq!(
        ids_with(&checks, &cmdline_only(etcd), Outcome::Pass).len(),
        checks.len()
    );
    // The same settings given as environment variables.
    let environ = "ETCD_CERT_FILE=/c\nETCD_KEY_FILE=/k\nETCD_CLIENT_CERT_AUTH=true\nETCD_PEER_CERT_FILE=/pc\n\
ETCD_PEER_KEY_FILE=/pk\nETCD_PEER_CLIENT_CERT_AUTH=true\nETCD_TRUSTED_CA_FILE=/ca\n";
    let inputs = Inputs {
        cmdline: "etcd",
        config: None,
        environ: Some(environ),
    };
    assert_eq!(
        ids_with(&checks, &inputs, Outcome::Pass).len(),
        checks.len()
    );
    let inputs = Inputs {
        cmdline: "etcd --auto-tls=true",
        config: None,
        environ: Some(environ),
    };
    assert_eq!(ids_with(&checks, &inputs, Outcome::Fail), ["2.3"]);
}

#[test]
fn kubelet_group_with_config_file() {
    let config: serde_json::Value = yaml_serde::from_str(
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n\
authentication:\n  anonymous:\n    enabled: false\n  webhook:\n    cacheTTL: 0s\n    enabled: true\n  x509:\n    clientCAFile: /etc/kubernetes/pki/ca.crt\n\
authorization:\n  mode: Webhook\ncgroupDriver: systemd\nrotateCertificates: true\nstreamingConnectionIdleTimeout: 0s\n",
    )
    .expect("kubelet config");
    let cmdline = "/usr/bin/kubelet --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf \
--kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml \
--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --node-ip=192.168.0.10";
    let checks = load_own("cis-1.12", "4.2");
    let inputs = Inputs {
        cmdline,
        config: Some(&config),
        environ: None,
    };
    assert!(ids_with(&checks, &inputs, Outcome::Fail).is_empty());
    assert_eq!(
        ids_with(&checks, &inputs, Outcome::Warn),
        ["4.2.9", "4.2.12", "4.2.13", "4.2.14"]
    );
    // Without the config file kube-bench cannot see the secure settings.
    assert_eq!(
        ids_with(&checks, &cmdline_only(cmdline), Outcome::Fail),
        ["4.2.1", "4.2.2", "4.2.3"]
    );
}

// ---- (c) cross-check against kube-bench's own files ------------------------------------------

#[test]
#[allow(clippy::print_stderr)]
fn own_data_matches_kube_bench_control_files() {
    let Some(dir) = shared_kube_bench_dir() else {
        eprintln!(
            "skipped: kube-bench control files (../shared/peers/kube-bench) are not available"
        );
        return;
    };
    let mut compared = 0;
    for bench in own_benchmarks() {
        // cis-2.0 is newer than the copy of kube-bench's files (its data restates kube-bench#2126).
        if bench == "cis-2.0" && !dir.join(bench).is_dir() {
            eprintln!("skipped: {bench}: not among the kube-bench control files");
            continue;
        }
        for group in own_groups(bench) {
            let file = dir.join(bench).join(&group_info(group).file);
            let theirs = load_kube_bench(&file, group);
            let ours = load_own(bench, group);
            let ids = |cs: &[Check]| cs.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
            assert_eq!(
                ids(&ours),
                ids(&theirs),
                "{bench} {group}: check ids differ"
            );
            for (o, t) in ours.iter().zip(&theirs) {
                assert_eq!(
                    o, t,
                    "{bench} {group}: check {} differs (left: own data)",
                    o.id
                );
            }
            compared += ours.len();
        }
    }
    assert!(compared > 100, "only {compared} checks compared");

    // Version mapping: every minor we record agrees, and we record every generic minor from 1.28 on.
    let theirs = load_kube_bench_version_mapping(&dir.join("config.yaml"));
    let ours = &own_data().minor_to_benchmark;
    let theirs_recent: BTreeMap<u32, String> = theirs
        .into_iter()
        .filter(|(minor, _)| *minor >= 28)
        .collect();
    assert_eq!(ours, &theirs_recent);
}

#[test]
fn kube_bench_files_agree_on_kubeadm_verdicts() {
    let Some(dir) = shared_kube_bench_dir() else {
        return;
    };
    let checks = load_kube_bench(&dir.join("cis-1.11/master.yaml"), "1.2");
    let fails = ids_with(
        &checks,
        &cmdline_only(KUBEADM_1_31_APISERVER),
        Outcome::Fail,
    );
    assert_eq!(
        fails,
        ["1.2.5", "1.2.15", "1.2.16", "1.2.17", "1.2.18", "1.2.19", "1.2.30"]
    );
    // Group 1.1 (file permissions) is parsed too, as non-process audits.
    let files = load_kube_bench(&dir.join("cis-1.12/master.yaml"), "1.1");
    assert!(!files.is_empty() && files.iter().all(|c| c.audit == Audit::Other));
}
