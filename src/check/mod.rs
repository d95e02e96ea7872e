//! Pure evaluation: a model, a version and a profile give findings.

pub mod files;
pub mod suppress;

use crate::model::{push_joined, Handler, Model};
use crate::paths::{clean_path, container_provided};
use crate::profile::values::{parse_bool, parse_go_int};
use crate::profile::version::Version;
use crate::profile::{
    name_hash, same_name, Cond, FlagTable, FlagType, Op, Profile, Registry, Rule,
};
use std::collections::HashSet;

/// Everything a condition needs besides the model.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    pub registry: &'a Registry,
    pub version: Version,
    /// The configuration of a new cluster (`generate kubeadm`), not a file of a running one.
    pub new_cluster: bool,
}

/// A rule that does not hold, with what was found and what is wanted.
#[derive(Clone, Debug)]
pub struct Finding {
    pub(crate) rule_id: String,
    /// The flag the finding is about, when there is one (for locating it in the file).
    pub(crate) flag: Option<String>,
    pub(crate) current: String,
    pub(crate) desired: String,
}

fn op_holds(model: &Model, env: Env, flag: &str, op: &Op) -> bool {
    // The flag's type, for the operators that read its values as the type has them (looked
    // up once, and the values read one by one without collecting them: every rule of every
    // file is judged this way several times).
    let kind = || env.registry.flag(&model.component, flag).map(|s| s.kind);
    let values = |kind| model.each_value(kind, flag);
    // Whether the flag has a value as its type reads it: a file or array flag given only bare
    // (`--x`) has none. The type is looked up only for a flag given bare every time.
    let set = || {
        let mut occurrences = model.occurrences(flag);
        occurrences.next().is_some_and(|first| {
            first.value.is_some()
                || occurrences.any(|f| f.value.is_some())
                || !matches!(kind(), Some(FlagType::Files | FlagType::Array))
        })
    };
    match op {
        Op::Present => set(),
        Op::Absent => !set(),
        Op::Equals(want) => model.value_ref(flag) == Some(want.as_str()),
        Op::OneOf(set) => model
            .value_ref(flag)
            .is_some_and(|v| set.iter().any(|s| s == v)),
        Op::Contains(items) => values(kind())
            .is_some_and(|vs| items.iter().all(|i| vs.clone().any(|v| v == i.as_str()))),
        Op::Excludes(items) => {
            values(kind()).is_none_or(|mut vs| !vs.any(|v| items.iter().any(|i| i == v)))
        }
        Op::AtLeast(n) => model
            .value_ref(flag)
            .and_then(parse_go_int)
            .is_some_and(|v| v >= *n),
        Op::SubsetOf(allowed) => values(kind()).is_some_and(|mut vs| {
            let mut any = false;
            vs.all(|v| {
                any = true;
                allowed.iter().any(|a| a == v)
            }) && any
        }),
        // The last setting of the key wins, as when the component merges repeated maps.
        Op::GateOff(key) => {
            values(kind())
                .into_iter()
                .flatten()
                .filter_map(|kv| kv.split_once('='))
                .filter(|(k, _)| k.trim() == key)
                .last()
                .and_then(|(_, v)| parse_bool(v.trim()))
                == Some(false)
        }
    }
}

/// Flags present in the model that the version does not accept.
pub(crate) fn rejected_flags(model: &Model, env: Env) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let table = env.registry.flags_of(&model.component);
    for f in &model.flags {
        if let Some(spec) = table.get(&f.name) {
            if !spec.accepted_in(env.version) && !out.contains(&f.name) {
                out.push(f.name.clone());
            }
        }
    }
    out
}

/// Why the target version does not read the apiVersion of the file the model comes from.
pub(crate) fn config_api_rejected(model: &Model, env: Env) -> Option<String> {
    let api = model.config_api.as_deref()?;
    env.registry
        .config_api_rejected(&model.component, api, env.version)
}

/// A `Gate=value` item of a feature-gate map: the gate and the value, when it is a boolean.
pub(crate) fn gate_setting(kv: &str) -> (&str, Option<bool>) {
    match kv.split_once('=') {
        Some((k, v)) => (k.trim(), v.trim().parse::<bool>().ok()),
        None => (kv.trim(), None),
    }
}

/// The items of a list flag ([`Model::list`]), read without copying them.
fn list_items<'a, 'n>(
    model: &'a Model,
    flag: &'n str,
) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
    model
        .each_value(Some(FlagType::List), flag)
        .into_iter()
        .flatten()
}

/// Why the version rejects the gate `g` as `model` sets it.
pub(crate) fn gate_rejection(model: &Model, env: Env, flag: &str, g: &str) -> Option<String> {
    let value = list_items(model, flag)
        .map(gate_setting)
        .filter(|(k, _)| *k == g)
        .last()
        .and_then(|(_, v)| v);
    env.registry
        .feature_gates()
        .get(g)?
        .rejected_because(env.version, value)
}

/// The feature-gate map flags, and the gates named in them that the version no longer has (an
/// `unrecognized feature gate` stops the component: k8s.io/component-base featuregate).
pub(crate) fn rejected_gates(model: &Model, env: Env) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (flag, spec) in env
        .registry
        .flags
        .get(&model.component)
        .into_iter()
        .flatten()
    {
        if !spec.names_feature_gates {
            continue;
        }
        for kv in list_items(model, flag) {
            let (key, value) = gate_setting(kv);
            if let Some(l) = env.registry.feature_gates().get(key) {
                if l.rejected_because(env.version, value).is_some()
                    && !out.iter().any(|(_, g)| g == key)
                {
                    out.push((flag.clone(), key.to_string()));
                }
            }
        }
    }
    out
}

/// The admission-plugin list flags, and the plugins named in them that the version does not have.
pub(crate) fn rejected_plugins(model: &Model, env: Env) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for flag in env.registry.plugin_list_flags(&model.component) {
        for p in list_items(model, flag) {
            if let Some(l) = env.registry.admission_plugins.get(p) {
                if !l.accepted_in(env.version) {
                    out.push((flag.to_string(), p.to_string()));
                }
            }
        }
    }
    out
}

/// How often each name is on the command line (the environment cannot repeat a flag), in the
/// order the names first come. A command line of up to [`FLAGS_SCANNED`] flags is counted by
/// looking each name up by its hash among those before it; a longer one in its flags sorted by name, so
/// that tens of thousands of flags take no time to the square of that.
fn flag_counts(model: &Model) -> Vec<(&str, usize)> {
    let mut times: Vec<(&str, usize)> = Vec::with_capacity(model.flags.len());
    if model.flags.len() <= FLAGS_SCANNED {
        // A small table of the names by hash, on the stack: each slot the position in `times`
        // (plus one) of a name that hashes there, at most half of them taken.
        const SLOTS: usize = 2 * FLAGS_SCANNED;
        let mut slots = [0u8; SLOTS];
        for f in &model.flags {
            let mut i = (name_hash(&f.name) >> 32) as usize % SLOTS;
            loop {
                match slots[i] {
                    0 => {
                        times.push((&f.name, 1));
                        slots[i] = u8::try_from(times.len()).unwrap_or(u8::MAX);
                        break;
                    }
                    at => match times.get_mut(usize::from(at) - 1) {
                        Some((n, k)) if same_name(n, &f.name) => {
                            *k += 1;
                            break;
                        }
                        _ => i = (i + 1) % SLOTS,
                    },
                }
            }
        }
        return times;
    }
    let mut sorted: Vec<(&str, usize)> = model
        .flags
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name.as_str(), i))
        .collect();
    sorted.sort_unstable();
    let mut first: Vec<(usize, &str, usize)> = sorted
        .chunk_by(|a, b| a.0 == b.0)
        .map(|group| (group[0].1, group[0].0, group.len()))
        .collect();
    first.sort_unstable_by_key(|(at, _, _)| *at);
    times.extend(first.into_iter().map(|(_, name, k)| (name, k)));
    times
}

/// Up to this many flags (a control-plane component has about 40), [`flag_counts`] compares
/// names one by one.
const FLAGS_SCANNED: usize = 64;

/// Flags written more than once where that is ambiguous or wrong: single-valued flags given
/// more than once (the last wins, scanners read the first), and list flags that are repeated
/// or name an item twice (kube-apiserver refuses a repeated authorization mode).
pub(crate) fn duplicated_flags(model: &Model, env: Env) -> Vec<String> {
    let times = flag_counts(model);
    let mut out: Vec<String> = Vec::new();
    let table = env.registry.flags_of(&model.component);
    for (name, k) in times {
        let spec = table.get(name);
        let kind = spec.map(|s| s.kind);
        let repeated = k > 1;
        // Flags the registry does not know may add up when repeated: leave them alone. An item
        // named twice in one list matters only where the component refuses it.
        let dup = match kind {
            None | Some(FlagType::Files | FlagType::Array | FlagType::Map) => false,
            Some(FlagType::List) => {
                repeated
                    || spec.is_some_and(|s| s.unique_items) && {
                        let mut items = model.list_ref(name).unwrap_or_default();
                        items.sort_unstable();
                        items.windows(2).any(|w| w[0] == w[1])
                    }
            }
            Some(_) => repeated,
        };
        if dup {
            out.push(name.to_string());
        }
    }
    out
}

/// File-referencing flags whose path no hostPath mount makes visible in the container
/// (or, for a log path, no writable one).
pub fn unmounted_files(model: &Model, env: Env) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let table = env.registry.flags_of(&model.component);
    let index = model.mount_index();
    for f in &model.flags {
        let Some(path) = f.value.as_deref() else {
            continue;
        };
        let Some(spec) = table.get(&f.name) else {
            continue;
        };
        if !spec.kind.references_file() {
            continue;
        }
        if (spec.kind == FlagType::Logpath && path == "-") || container_provided(path) {
            continue;
        }
        // A relative path or one with `..` is not what a mount check can vouch for.
        let ok = clean_path(path)
            && model
                .mount_covering_with(index.as_ref(), path)
                .is_some_and(|m| spec.kind != FlagType::Logpath || !m.read_only);
        if !ok {
            out.push((f.name.clone(), path.to_string()));
        }
    }
    out
}

/// Pairs of flags present together that the component refuses together
/// (`conflicts_with` in the registry), in the order of the first flag's name, each pair once.
pub(crate) fn conflicting_flags(model: &Model, env: Env) -> Vec<(String, String)> {
    let table = env.registry.flags_of(&model.component);
    if model.flags.len() + model.env.len() <= FLAGS_SCANNED {
        conflicts_scanned(model, table)
    } else {
        conflicts_sorted(model, table)
    }
}

/// The flags in effect: the command line's, and the environment's non-empty variables.
fn in_effect(model: &Model) -> impl Iterator<Item = &crate::model::Flag> + Clone {
    model
        .flags
        .iter()
        .chain(model.env.iter().filter(|f| f.sets()))
}

/// [`conflicting_flags`] on a command line of a few dozen flags: each flag's table entry looked
/// up in turn, and the few that conflict with something looked for among the flags (most
/// conflict with nothing; sorting every name, which the long form does, was most of the time).
fn conflicts_scanned(model: &Model, table: &FlagTable) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, f) in in_effect(model).enumerate() {
        let Some(spec) = table.get(&f.name) else {
            continue;
        };
        // Each name once: a repeated flag's first occurrence speaks for it.
        if spec.conflicts_with.is_empty()
            || in_effect(model)
                .take(i)
                .any(|e| same_name(&e.name, &f.name))
        {
            continue;
        }
        for other in &spec.conflicts_with {
            if in_effect(model).any(|e| same_name(&e.name, other)) {
                out.push((f.name.clone(), other.clone()));
            }
        }
    }
    // In name order, each name's pairs in the order of its conflicts (the sort is stable).
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// [`conflicting_flags`] on a command line of any length: the names sorted, each once, and
/// each conflict found by a halving search.
fn conflicts_sorted(model: &Model, table: &FlagTable) -> Vec<(String, String)> {
    let mut names: Vec<&str> = in_effect(model).map(|f| f.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut out = Vec::new();
    for name in &names {
        let Some(spec) = table.get(name) else {
            continue;
        };
        for other in &spec.conflicts_with {
            if names.binary_search(&other.as_str()).is_ok() {
                out.push((name.to_string(), other.clone()));
            }
        }
    }
    out
}

/// Anonymous requests are rejected outright (`--anonymous-auth=false`, as pflag reads it).
pub(crate) fn anonymous_rejected(model: &Model) -> bool {
    model
        .value("anonymous-auth")
        .as_deref()
        .and_then(parse_bool)
        == Some(false)
}

/// The paths of the HTTP probes that send no credentials, without any query string.
pub(crate) fn http_probe_paths(model: &Model) -> Vec<String> {
    model
        .probes
        .iter()
        .filter_map(|p| match &p.handler {
            Handler::HttpGet {
                path,
                authenticated: false,
            } => {
                let p = path.as_deref().unwrap_or("/");
                Some(p.split('?').next().unwrap_or(p).to_string())
            }
            // A command fetching a URL: its path is not something kubeharden can vouch for.
            Handler::Exec {
                http: true,
                authenticated: false,
            } => Some(format!("{} (exec)", p.kind)),
            _ => None,
        })
        .collect()
}

/// Flags set both on the command line and through the environment.
pub(crate) fn env_conflicts(model: &Model) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if model.env.is_empty() {
        return out;
    }
    // The names in sets: each variable was held against every flag (20,000 of each took 1.1 s,
    // and time to the square of their number).
    let on_line: HashSet<&str> = model.flags.iter().map(|f| f.name.as_str()).collect();
    let mut said: HashSet<&str> = HashSet::new();
    for e in &model.env {
        // etcd's verifyEnv refuses a variable of a flag on the command line even when empty.
        if on_line.contains(e.name.as_str()) && said.insert(&e.name) {
            out.push(e.name.clone());
        }
    }
    out
}

/// httpGet and tcpSocket probes that connect elsewhere than the local host (no `host` means
/// the pod's IP, the node's address for a host-network static pod), as `kind (host)`.
pub(crate) fn remote_probes(model: &Model) -> Vec<String> {
    model
        .probes
        .iter()
        .filter(|p| matches!(p.handler, Handler::HttpGet { .. } | Handler::TcpSocket))
        .filter(|p| !matches!(p.host.as_deref(), Some("127.0.0.1" | "localhost")))
        .map(|p| {
            format!(
                "{} ({})",
                p.kind,
                p.host.as_deref().unwrap_or("the pod's IP")
            )
        })
        .collect()
}

/// Probes that send no credentials, which fail with 401 once anonymous requests are rejected.
pub(crate) fn unauthenticated_http_probes(model: &Model) -> Vec<String> {
    model
        .probes
        .iter()
        .filter_map(|p| match p.handler {
            Handler::HttpGet {
                authenticated: false,
                ..
            } => Some(p.kind.clone()),
            _ if fetches_by_command(&p.handler) => {
                Some(format!("{} (an exec command fetching a URL)", p.kind))
            }
            _ => None,
        })
        .collect()
}

/// A command that fetches a URL without credentials.
fn fetches_by_command(h: &Handler) -> bool {
    matches!(
        h,
        Handler::Exec {
            http: true,
            authenticated: false
        }
    )
}

/// The probes that are commands fetching a URL without credentials.
pub(crate) fn exec_http_probes(model: &Model) -> Vec<&str> {
    model
        .probes
        .iter()
        .filter(|p| fetches_by_command(&p.handler))
        .map(|p| p.kind.as_str())
        .collect()
}

pub(crate) fn holds(cond: &Cond, model: &Model, env: Env) -> bool {
    match cond {
        Cond::Flag { flag, op } => op_holds(model, env, flag, op),
        Cond::Any(cs) => cs.iter().any(|c| holds(c, model, env)),
        Cond::All(cs) => cs.iter().all(|c| holds(c, model, env)),
        Cond::NoRemovedFlags => rejected_flags(model, env).is_empty(),
        Cond::NoRemovedPlugins => rejected_plugins(model, env).is_empty(),
        Cond::ProbesWithoutAnonymous => {
            !anonymous_rejected(model) || unauthenticated_http_probes(model).is_empty()
        }
        Cond::NoDuplicateFlags => duplicated_flags(model, env).is_empty(),
        Cond::FilesMounted => unmounted_files(model, env).is_empty(),
        Cond::NoConflictingFlags => conflicting_flags(model, env).is_empty(),
        Cond::NoSplitFlags => model.split_flags.is_empty(),
        Cond::VersionAtLeast(m) => env.version.minor >= *m,
        Cond::Not(c) => !holds(c, model, env),
        Cond::HttpProbesWithin(paths) => http_probe_paths(model)
            .iter()
            .all(|p| paths.iter().any(|allowed| allowed == p)),
        Cond::ProbesOnLocalHost => remote_probes(model).is_empty(),
        Cond::NoEnvConflicts => env_conflicts(model).is_empty(),
        Cond::NoRemovedGates => rejected_gates(model, env).is_empty(),
        Cond::ExistingCluster => !env.new_cluster,
        Cond::ConfigApiRead => config_api_rejected(model, env).is_none(),
        Cond::ExecHttpProbes => !exec_http_probes(model).is_empty(),
        // Node files are judged by `files`, never in a document's model.
        Cond::FileMode { .. } | Cond::FileOwner { .. } => true,
    }
}

/// A setting as people write it: `--flag` for a command-line flag, the path for a setting of a
/// configuration file (`authentication.anonymous.enabled`, `readOnlyPort`), which flags never
/// look like (they are lower case, without dots).
pub(crate) fn setting(flag: &str) -> String {
    [dashes(flag), flag].concat()
}

/// `--` before a command-line flag; nothing before a setting of a configuration file (a path
/// with dots, or a camelCase name).
fn dashes(flag: &str) -> &'static str {
    if flag.contains('.') || flag.bytes().any(|c| c.is_ascii_uppercase()) {
        ""
    } else {
        "--"
    }
}

/// `--flag=value`, or `path: value` for a configuration file.
pub(crate) fn setting_is(flag: &str, value: &str) -> String {
    let [d, name, is] = setting_head(flag);
    [d, name, is, value].concat()
}

/// What comes before a setting's value: `--flag=` for a command-line flag, `path: ` for a
/// setting of a configuration file, in three pieces (for [`setting_is`] and the words that
/// show or want a value without making it a string of its own first).
fn setting_head(flag: &str) -> [&str; 3] {
    match dashes(flag) {
        "" => ["", flag, ": "],
        d => [d, flag, "="],
    }
}

fn show_flag(model: &Model, env: Env, flag: &str) -> String {
    match model.values_of(env.registry, flag) {
        None => [dashes(flag), flag, " not set"].concat(),
        Some(vs) => joined(&setting_head(flag), vs, ","),
    }
}

/// `pieces`, then `items` separated by `sep`, written into one string: a finding's words are
/// made for every finding of every file, and a list joined first is a string more.
fn joined<'a>(pieces: &[&str], items: impl Iterator<Item = &'a str> + Clone, sep: &str) -> String {
    let size = pieces.iter().map(|p| p.len()).sum::<usize>()
        + items.clone().map(|i| i.len() + sep.len()).sum::<usize>();
    let mut s = String::with_capacity(size);
    for p in pieces {
        s.push_str(p);
    }
    push_joined(&mut s, items, sep);
    s
}

fn want(flag: &str, op: &Op) -> String {
    let mut out = String::new();
    write_want(&mut out, flag, op);
    out
}

/// [`want`], written at the end of `out`: a finding's words are made for every finding of
/// every file, so the pieces are put together without `format!`, and the alternatives of a
/// condition into one string.
fn write_want(out: &mut String, flag: &str, op: &Op) {
    let d = dashes(flag);
    let items = |vs: &[String]| vs.iter().map(|v| v.len() + 2).sum::<usize>();
    let size = match op {
        Op::OneOf(vs) | Op::Contains(vs) | Op::Excludes(vs) | Op::SubsetOf(vs) => items(vs),
        Op::Equals(v) | Op::GateOff(v) => v.len(),
        _ => 0,
    };
    out.reserve(d.len() + flag.len() + 16 + size);
    let mut put = |pieces: &[&str], list: Option<(&[String], &str)>| {
        for p in pieces {
            out.push_str(p);
        }
        if let Some((vs, sep)) = list {
            push_joined(out, vs.iter().map(String::as_str), sep);
        }
    };
    match op {
        Op::Present => put(&[d, flag, " set"], None),
        Op::Absent => put(&[d, flag, " not set"], None),
        // As [`setting_is`] writes it.
        Op::Equals(v) => {
            let [d, name, is] = setting_head(flag);
            put(&[d, name, is, v], None)
        }
        Op::OneOf(vs) => put(&[d, flag, " one of "], Some((vs, ", "))),
        Op::Contains(vs) => put(&[d, flag, " including "], Some((vs, ","))),
        Op::Excludes(vs) => put(&[d, flag, " without "], Some((vs, ","))),
        Op::AtLeast(n) => put(&[d, flag, " at least ", &n.to_string()], None),
        Op::SubsetOf(vs) => put(&[d, flag, " limited to "], Some((vs, ","))),
        Op::GateOff(k) => put(&[d, flag, " turning ", k, " off"], None),
    }
}

/// A failing condition in words: the flag it is about (for locating it), what is found and
/// what is wanted.
type Description = (Option<String>, String, String);

/// What a condition over a list of things found says: the first one's flag, all of them, and
/// what is wanted.
fn listed<T>(
    found: &[T],
    flag: impl Fn(&T) -> String,
    show: impl Fn(&T) -> String,
    desired: String,
) -> Description {
    (
        found.first().map(flag),
        found.iter().map(show).collect::<Vec<_>>().join(", "),
        desired,
    )
}

/// The first failing leaf of a condition, described as (flag, current, desired).
fn describe(cond: &Cond, model: &Model, env: Env) -> Description {
    match cond {
        Cond::Flag { flag, op } => (
            Some(flag.clone()),
            show_flag(model, env, flag),
            want(flag, op),
        ),
        Cond::All(cs) => cs
            .iter()
            .find(|c| !holds(c, model, env))
            .map(|c| describe(c, model, env))
            .unwrap_or((None, String::new(), String::new())),
        Cond::Any(cs) => {
            // Only the alternatives the target version can have.
            let possible: Vec<&Cond> = cs.iter().filter(|c| version_possible(c, env)).collect();
            let cs: Vec<&Cond> = if possible.is_empty() {
                cs.iter().collect()
            } else {
                possible
            };
            // What is found is said of the alternative whose flag the file has, if one has
            // (the legacy --admission-control rather than an absent --enable-admission-plugins).
            let shown = cs
                .iter()
                .find(|c| matches!(c, Cond::Flag { flag, .. } if model.present(flag)))
                .or(cs.first());
            let first = shown.map(|c| describe(c, model, env));
            // What each alternative wants (what is found is said of one of them only), in one
            // string.
            let mut wants = String::new();
            for (i, c) in cs.iter().enumerate() {
                if i > 0 {
                    wants.push_str(" or ");
                }
                match c {
                    Cond::Flag { flag, op } => write_want(&mut wants, flag, op),
                    _ => wants.push_str(&describe(c, model, env).2),
                }
            }
            let (flag, current, _) = first.unwrap_or((None, String::new(), String::new()));
            (flag, current, wants)
        }
        Cond::Not(c) => {
            let (flag, current, desired) = describe(c, model, env);
            let desired = match &**c {
                Cond::Flag {
                    flag: f,
                    op: Op::GateOff(k),
                } => format!("{} without {k}=false", setting(f)),
                _ => format!("not ({desired})"),
            };
            (flag, current, desired)
        }
        Cond::VersionAtLeast(m) => (
            None,
            format!("Kubernetes {}", env.version),
            format!("Kubernetes 1.{m} or later"),
        ),
        Cond::FileMode { file, at_most } => (
            None,
            String::new(),
            format!("{file} mode {at_most:o} or stricter"),
        ),
        Cond::FileOwner { file, owner } => {
            (None, String::new(), format!("{file} owned by {owner}"))
        }
        Cond::ExecHttpProbes => (
            None,
            format!(
                "probes that fetch a URL by a command: {}",
                exec_http_probes(model).join(", ")
            ),
            "no probe that fetches a URL by a command".into(),
        ),
        Cond::ConfigApiRead => (
            None,
            config_api_rejected(model, env).unwrap_or_default(),
            format!("an apiVersion Kubernetes {} reads", env.version),
        ),
        Cond::ExistingCluster => (
            None,
            if env.new_cluster {
                "a new cluster"
            } else {
                "a running cluster"
            }
            .into(),
            "a running cluster".into(),
        ),
        Cond::ProbesOnLocalHost => (
            None,
            format!("probes on {}", remote_probes(model).join(", ")),
            "probes on 127.0.0.1".into(),
        ),
        Cond::HttpProbesWithin(paths) => (
            None,
            format!("HTTP probes on {}", http_probe_paths(model).join(", ")),
            format!("HTTP probes only on {}", paths.join(", ")),
        ),
        Cond::ProbesWithoutAnonymous => (
            Some("anonymous-auth".into()),
            format!(
                "--anonymous-auth=false with unauthenticated HTTP probes ({})",
                unauthenticated_http_probes(model).join(", ")
            ),
            "probes that do not need anonymous access".into(),
        ),
        Cond::NoRemovedFlags
        | Cond::NoRemovedPlugins
        | Cond::NoRemovedGates
        | Cond::FilesMounted
        | Cond::NoSplitFlags
        | Cond::NoConflictingFlags
        | Cond::NoEnvConflicts
        | Cond::NoDuplicateFlags => describe_found(cond, model, env),
    }
}

/// A failing condition over what the model has too much of, or lacks (the conditions
/// [`describe`] hands on).
fn describe_found(cond: &Cond, model: &Model, env: Env) -> Description {
    let v = env.version;
    let first = |(f, _): &(String, String)| f.clone();
    match cond {
        Cond::NoRemovedFlags => listed(
            &rejected_flags(model, env),
            String::clone,
            |n| format!("--{n}"),
            format!("no flag that {v} rejects"),
        ),
        Cond::NoRemovedPlugins => listed(
            &rejected_plugins(model, env),
            first,
            |(f, p)| format!("{p} in --{f}"),
            format!("no admission plugin that {v} lacks"),
        ),
        Cond::NoRemovedGates => listed(
            &rejected_gates(model, env),
            first,
            |(f, g)| match gate_rejection(model, env, f, g) {
                Some(why) => format!("{g} in {} ({why})", setting(f)),
                None => format!("{g} in {}", setting(f)),
            },
            format!("no feature gate that {v} lacks, and none set against its lock"),
        ),
        Cond::FilesMounted => listed(
            &unmounted_files(model, env),
            first,
            |(f, p)| format!("--{f}={p} not mounted"),
            "a hostPath mount for every file a flag names".into(),
        ),
        Cond::NoSplitFlags => listed(
            &model.split_flags,
            String::clone,
            |f| format!("--{f} VALUE over two items"),
            "--flag=VALUE in one item".into(),
        ),
        Cond::NoConflictingFlags => listed(
            &conflicting_flags(model, env),
            first,
            |(a, b)| format!("--{a} with --{b}"),
            "never both".into(),
        ),
        Cond::NoEnvConflicts => listed(
            &env_conflicts(model),
            String::clone,
            |f| format!("--{f} both as a flag and as a variable"),
            "each setting in one place".into(),
        ),
        Cond::NoDuplicateFlags => listed(
            &duplicated_flags(model, env),
            String::clone,
            |n| format!("--{n} given {} times", model.occurrences(n).count()),
            "each single-valued flag once".into(),
        ),
        _ => (None, String::new(), String::new()),
    }
}

/// False when a condition needs a newer version than the target, so it cannot hold.
fn version_possible(c: &Cond, env: Env) -> bool {
    match c {
        Cond::VersionAtLeast(m) => env.version.minor >= *m,
        Cond::All(cs) => cs.iter().all(|c| version_possible(c, env)),
        Cond::Flag { flag, .. } => env
            .registry
            .flags
            .values()
            .find_map(|m| m.get(flag))
            .is_none_or(|s| s.accepted_in(env.version)),
        _ => true,
    }
}

/// Whether a rule applies to the component and version.
pub(crate) fn applies(rule: &Rule, model: &Model, version: Version) -> bool {
    same_name(&rule.component, &model.component) && rule.versions.matches(version)
}

/// Evaluates one rule.
pub fn evaluate(rule: &Rule, model: &Model, env: Env) -> Option<Finding> {
    if !applies(rule, model, env.version) || holds(&rule.check, model, env) {
        return None;
    }
    let (flag, current, desired) = describe(&rule.check, model, env);
    Some(Finding {
        rule_id: rule.id.clone(),
        flag,
        current,
        desired,
    })
}

/// Whether `cond` reads the model's mounts or volumes, which are all a [`Step::MountFiles`]
/// fix changes (every kind of condition is named, so that a new one is decided here).
///
/// [`Step::MountFiles`]: crate::profile::Step::MountFiles
pub(crate) fn reads_mounts(cond: &Cond) -> bool {
    match cond {
        Cond::FilesMounted => true,
        Cond::Any(cs) | Cond::All(cs) => cs.iter().any(reads_mounts),
        Cond::Not(c) => reads_mounts(c),
        Cond::Flag { .. }
        | Cond::NoRemovedFlags
        | Cond::NoRemovedPlugins
        | Cond::ProbesWithoutAnonymous
        | Cond::NoDuplicateFlags
        | Cond::NoConflictingFlags
        | Cond::NoSplitFlags
        | Cond::VersionAtLeast(_)
        | Cond::HttpProbesWithin(_)
        | Cond::ProbesOnLocalHost
        | Cond::NoEnvConflicts
        | Cond::NoRemovedGates
        | Cond::ExistingCluster
        | Cond::ConfigApiRead
        | Cond::ExecHttpProbes
        | Cond::FileMode { .. }
        | Cond::FileOwner { .. } => false,
    }
}

/// Those of `rules` that apply and do not hold, in their order: what `check` finds of them,
/// without describing it.
pub(crate) fn failing<'p, 'm>(
    rules: impl Iterator<Item = &'p Rule> + 'm,
    model: &'m Model,
    env: Env<'m>,
) -> impl Iterator<Item = &'p Rule> + 'm
where
    'p: 'm,
{
    rules.filter(move |r| applies(r, model, env.version) && !holds(&r.check, model, env))
}

/// Evaluates every rule of the profile, in profile order.
pub(crate) fn check(profile: &Profile, model: &Model, env: Env) -> Vec<Finding> {
    profile
        .rules
        .iter()
        .filter_map(|r| evaluate(r, model, env))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Flag;

    /// What a condition needs besides the model, for Kubernetes 1.30.
    fn env_30(reg: &Registry) -> Env<'_> {
        Env {
            registry: reg,
            version: Version::minor(30),
            new_cluster: false,
        }
    }

    fn model(flags: &[(&str, Option<&str>)]) -> Model {
        Model {
            component: "kube-apiserver".into(),
            flags: flags
                .iter()
                .map(|(n, v)| Flag {
                    name: (*n).into(),
                    value: v.map(str::to_string),
                })
                .collect(),
            ..Model::default()
        }
    }

    /// A condition reads the mounts when `files_mounted` is anywhere in it, however nested.
    #[test]
    fn conditions_that_read_the_mounts() {
        let flag = || Cond::Flag {
            flag: "profiling".into(),
            op: Op::Equals("false".into()),
        };
        assert!(reads_mounts(&Cond::FilesMounted));
        assert!(!reads_mounts(&flag()));
        assert!(!reads_mounts(&Cond::All(vec![
            flag(),
            Cond::NoDuplicateFlags
        ])));
        let nested = Cond::Any(vec![
            flag(),
            Cond::Not(Box::new(Cond::All(vec![flag(), Cond::FilesMounted]))),
        ]);
        assert!(reads_mounts(&nested));
    }

    /// Repeated flags are found the same way on a short command line and on a long one (past
    /// the names compared one by one), in the order the names first come.
    #[test]
    fn repeated_flags_on_short_and_long_command_lines() {
        let reg = Registry::builtin().expect("registry");
        let env = env_30(&reg);
        let wrong = [
            ("secure-port", Some("6443")),
            ("tls-cipher-suites", Some("A,B")),
            ("profiling", Some("false")),
            ("authorization-mode", Some("Node,RBAC,Node")),
            ("tls-cipher-suites", Some("C")),
            ("profiling", Some("true")),
            ("secure-port", Some("6444")),
        ];
        // Single-valued flags repeated, a list given twice (which appends), and a list that
        // names an item twice (authorization-mode, which kube-apiserver refuses); in the order
        // they first come, which is not the order of their names.
        let expected = [
            "secure-port",
            "tls-cipher-suites",
            "profiling",
            "authorization-mode",
        ];
        let short = model(&wrong);
        assert_eq!(duplicated_flags(&short, env), expected);
        let names: Vec<String> = (0..2 * FLAGS_SCANNED).map(|i| format!("x{i}")).collect();
        let mut long: Vec<(&str, Option<&str>)> =
            names.iter().map(|n| (n.as_str(), Some("1"))).collect();
        for (k, f) in wrong.iter().enumerate() {
            long.insert(k * 10, *f);
        }
        assert!(long.len() > FLAGS_SCANNED);
        let long = model(&long);
        assert_eq!(duplicated_flags(&long, env), expected);
        let counts = flag_counts(&long);
        assert_eq!(counts.len(), 2 * FLAGS_SCANNED + 4);
        assert_eq!(counts[0], ("secure-port", 2));
        assert_eq!(counts[1], ("x0", 1));
        let auth = counts.iter().find(|(n, _)| *n == "authorization-mode");
        assert_eq!(auth, Some(&("authorization-mode", 1)));
        assert_eq!(counts.last(), Some(&("x127", 1)));
    }

    /// Conflicting flags are found the same way on a short command line, where each flag's
    /// conflicts are looked for among the flags, and on a long one, where the names are sorted:
    /// the same pairs in the same order, over random command lines and environments that
    /// repeat flags, leave variables empty and name every flag that conflicts with another.
    #[test]
    fn conflicts_scanned_are_the_conflicts_sorted() {
        let reg = Registry::builtin().expect("registry");
        let table = reg.flags_of("kube-apiserver");
        let pool = [
            "admission-control",
            "enable-admission-plugins",
            "disable-admission-plugins",
            "authentication-config",
            "oidc-issuer-url",
            "oidc-client-id",
            "oidc-ca-file",
            "anonymous-auth",
            "authorization-config",
            "authorization-mode",
            "profiling",
            "not-a-flag",
        ];
        let mut next = crate::testing::seeded();
        let mut found = 0;
        for _ in 0..3000 {
            let flags = |next: &mut dyn FnMut(usize) -> usize, most: usize, empty: bool| {
                (0..next(most))
                    .map(|_| crate::model::Flag {
                        name: pool[next(pool.len())].into(),
                        value: Some(if empty && next(3) == 0 { "" } else { "x" }.into()),
                    })
                    .collect::<Vec<_>>()
            };
            let env = flags(&mut next, 3, true);
            let flags = flags(&mut next, 8, false);
            let m = Model {
                component: "kube-apiserver".into(),
                flags,
                env,
                ..Model::default()
            };
            let sorted = conflicts_sorted(&m, table);
            assert_eq!(
                conflicts_scanned(&m, table),
                sorted,
                "{:?} {:?}",
                m.flags,
                m.env
            );
            found += sorted.len();
        }
        assert!(found > 1000, "{found}");
    }

    /// A flag is set as its type reads it: a file or array flag only with a value, any other
    /// flag even bare; whatever the order of its bare and valued occurrences, on the command
    /// line or in the environment (where an empty variable sets nothing).
    #[test]
    fn a_flag_is_set_as_its_type_reads_it() {
        let reg = Registry::builtin().expect("registry");
        let env = env_30(&reg);
        let present = |m: &Model, flag: &str| {
            let set = op_holds(m, env, flag, &Op::Present);
            assert_eq!(op_holds(m, env, flag, &Op::Absent), !set);
            set
        };
        // What the type says, written out: a file or array flag needs a value.
        let expected =
            |m: &Model, flag: &str| match reg.flag("kube-apiserver", flag).map(|s| s.kind) {
                Some(FlagType::Files | FlagType::Array) => {
                    m.occurrences(flag).any(|f| f.value.is_some())
                }
                _ => m.occurrences(flag).next().is_some(),
            };
        let flags = ["service-account-key-file", "profiling", "not-a-flag"];
        let values = [None, Some(""), Some("/k.pem")];
        for flag in flags {
            for a in values {
                for b in values {
                    for on_line in [true, false] {
                        let occurrences = vec![
                            crate::model::Flag {
                                name: flag.into(),
                                value: a.map(str::to_string),
                            },
                            crate::model::Flag {
                                name: flag.into(),
                                value: b.map(str::to_string),
                            },
                        ];
                        let mut m = model(&[("secure-port", Some("6443"))]);
                        if on_line {
                            m.flags.extend(occurrences);
                        } else {
                            m.env = occurrences;
                        }
                        assert_eq!(present(&m, flag), expected(&m, flag), "{flag} {a:?} {b:?}");
                    }
                }
            }
        }
        let bare = model(&[("service-account-key-file", None), ("profiling", None)]);
        assert!(!present(&bare, "service-account-key-file"));
        assert!(present(&bare, "profiling"));
    }

    /// Names counted by their hash are counted as one by one: over random command lines of
    /// up to [`FLAGS_SCANNED`] flags that repeat names, in the order the names first come.
    #[test]
    fn flags_counted_by_hash_are_counted_one_by_one() {
        let pool: Vec<String> = (0..80).map(|i| format!("flag-{}", i * 7)).collect();
        let mut next = crate::testing::seeded();
        for round in 0..2000 {
            let few = 1 + next(if round % 2 == 0 { 8 } else { pool.len() });
            let len = next(FLAGS_SCANNED + 1);
            let flags: Vec<(&str, Option<&str>)> = (0..len)
                .map(|_| (pool[next(few)].as_str(), Some("1")))
                .collect();
            let m = model(&flags);
            let mut naive: Vec<(&str, usize)> = Vec::new();
            for f in &m.flags {
                match naive.iter_mut().find(|(n, _)| *n == f.name) {
                    Some((_, k)) => *k += 1,
                    None => naive.push((&f.name, 1)),
                }
            }
            assert_eq!(flag_counts(&m), naive, "{flags:?}");
        }
    }

    /// What a condition on one flag wants, in words: each operator, for a flag and for a
    /// setting of a configuration file, as `format!` would write it.
    #[test]
    fn what_each_operator_wants_in_words() {
        let vs = || vec!["A".to_string(), "B".to_string(), "C".to_string()];
        for (flag, d, is) in [
            ("tls-cipher-suites", "--", "="),
            ("authentication.anonymous.enabled", "", ": "),
        ] {
            let cases = [
                (Op::Present, format!("{d}{flag} set")),
                (Op::Absent, format!("{d}{flag} not set")),
                (Op::Equals("x".into()), format!("{d}{flag}{is}x")),
                (Op::OneOf(vs()), format!("{d}{flag} one of A, B, C")),
                (Op::Contains(vs()), format!("{d}{flag} including A,B,C")),
                (Op::Excludes(vs()), format!("{d}{flag} without A,B,C")),
                (Op::AtLeast(30), format!("{d}{flag} at least 30")),
                (Op::SubsetOf(vs()), format!("{d}{flag} limited to A,B,C")),
                (Op::SubsetOf(vec![]), format!("{d}{flag} limited to ")),
                (Op::GateOff("G".into()), format!("{d}{flag} turning G off")),
            ];
            for (op, words) in cases {
                assert_eq!(want(flag, &op), words);
                let mut after = String::from("x or ");
                write_want(&mut after, flag, &op);
                assert_eq!(after, format!("x or {words}"));
            }
        }
    }

    #[test]
    fn operators() {
        let reg = Registry::builtin().expect("registry");
        let env = env_30(&reg);
        let m = model(&[
            ("profiling", Some("false")),
            ("authorization-mode", Some("Node,RBAC")),
            ("audit-log-maxage", Some("30d")),
            ("audit-log-maxbackup", Some("10")),
            ("insecure-port", Some("0")),
            (
                "enable-admission-plugins",
                Some("NodeRestriction,SecurityContextDeny"),
            ),
        ]);
        let f = |flag: &str, op: Op| {
            holds(
                &Cond::Flag {
                    flag: flag.into(),
                    op,
                },
                &m,
                env,
            )
        };
        assert!(f("profiling", Op::Equals("false".into())));
        assert!(f(
            "authorization-mode",
            Op::Contains(vec!["Node".into(), "RBAC".into()])
        ));
        assert!(!f(
            "authorization-mode",
            Op::Contains(vec!["Webhook".into()])
        ));
        assert!(f(
            "authorization-mode",
            Op::Excludes(vec!["AlwaysAllow".into()])
        ));
        assert!(f("token-auth-file", Op::Absent));
        assert!(f("token-auth-file", Op::Excludes(vec!["x".into()])));
        assert!(
            !f("audit-log-maxage", Op::AtLeast(30)),
            "30d is not an integer"
        );
        assert!(f("audit-log-maxbackup", Op::AtLeast(10)));
        assert!(!f("tls-cipher-suites", Op::SubsetOf(vec!["A".into()])));
        assert_eq!(rejected_flags(&m, env), vec!["insecure-port".to_string()]);
        assert_eq!(
            rejected_plugins(&m, env),
            vec![(
                "enable-admission-plugins".to_string(),
                "SecurityContextDeny".to_string()
            )]
        );
        let old = Env {
            registry: &reg,
            version: Version::minor(23),
            new_cluster: false,
        };
        assert!(rejected_flags(&m, old).is_empty());
        assert!(rejected_plugins(&m, old).is_empty());
    }
}
