//! Inline suppressions: a YAML comment `# kubeharden: ignore[RULE-ID,...] reason` silences the
//! rules it names where it stands (see docs/suppressions.md).
//!
//! - In a static pod manifest it applies to the component's container: as a trailing comment on
//!   a line of the container's `command`, `args` or `env` (or the line that starts the
//!   container), or on its own line directly above the container's list item.
//! - In a configuration file (kubeadm, KubeletConfiguration, KubeSchedulerConfiguration) it
//!   applies to the findings of the line it trails (the setting's line, or the line a missing
//!   setting is reported at), or, on its own line directly above a document's first key, to
//!   that document.
//!
//! A silenced finding is still reported (as suppressed), does not count for the exit code, and
//! its rule is left out of the plan, so `diff` and `fix` do not change what it is about. A
//! comment without a reason silences nothing and is reported, as is one that silences nothing.

use crate::model::report::{ReportFinding, Suppressed, Unused, UnusedKind};
use crate::profile::Profile;
use crate::yaml::{self, Kind, Node};
use std::collections::HashSet;

/// What starts a kubeharden comment, after `#` and blanks.
pub const MARKER: &str = "kubeharden:";

/// What a suppression comment can silence: a manifest's container, a configuration document.
#[derive(Clone, Debug)]
pub struct Target {
    /// The line of the container's list item or the document's first key: comment lines
    /// directly above it apply to it.
    pub(crate) head_line: usize,
    /// The lines it spans (first, last); findings on them are its findings.
    pub(crate) lines: (usize, usize),
    /// Line ranges where a trailing comment applies to all of it (a container's argument
    /// lists); elsewhere a trailing comment applies to the findings of its own line.
    pub(crate) trailing: Vec<(usize, usize)>,
}

impl Target {
    /// A configuration document (its root mapping) of `text`.
    pub fn document(text: &str, root: &Node) -> Target {
        let head = yaml::line_col(text, root.span.start).0;
        Target {
            head_line: head,
            lines: (head, yaml::line_col(text, root.content_end()).0),
            trailing: Vec::new(),
        }
    }
}

/// One `# kubeharden:` comment.
#[derive(Clone, Debug)]
struct Directive {
    line: usize,
    column: usize,
    end_column: usize,
    own_line: bool,
    rules: Vec<String>,
    reason: Option<String>,
    /// Why the comment is not understood.
    malformed: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bound {
    /// Directly above target `n`.
    Above(usize),
    /// A trailing comment, on a line where it applies to target `n` as a whole, or not.
    Trailing(Option<usize>),
    /// On its own line elsewhere.
    Nowhere,
}

/// The suppression comments of one file, bound to what they can silence.
#[derive(Debug, Default)]
pub struct Suppressions {
    directives: Vec<(Directive, Bound)>,
    targets: Vec<Target>,
}

impl Suppressions {
    /// Reads the comments of `text` (nothing when `enabled` is false: `--no-ignores`).
    pub fn read(text: &str, enabled: bool, targets: Vec<Target>) -> Suppressions {
        if !enabled || !text.contains(MARKER) {
            return Suppressions::default();
        }
        let directives = directives(text);
        let lines: Vec<&str> = text.split('\n').collect();
        let comment_only = |l: usize| {
            lines
                .get(l.wrapping_sub(1))
                .is_some_and(|s| s.trim_start().starts_with('#'))
        };
        // Where the block of comment lines that ends right above each target's head line
        // starts: found once, not for each comment (tens of thousands of comments above a
        // container took time to the square of their number).
        let blocks: Vec<usize> = targets
            .iter()
            .map(|t| {
                let mut first = t.head_line;
                while first > 1 && comment_only(first - 1) {
                    first -= 1;
                }
                first
            })
            .collect();
        let bound = directives
            .into_iter()
            .map(|d| {
                let b =
                    if d.own_line {
                        targets
                            .iter()
                            .zip(&blocks)
                            .position(|(t, &first)| d.line >= first && d.line < t.head_line)
                            .map_or(Bound::Nowhere, Bound::Above)
                    } else {
                        Bound::Trailing(targets.iter().position(|t| {
                            t.trailing.iter().any(|(a, b)| *a <= d.line && d.line <= *b)
                        }))
                    };
                (d, b)
            })
            .collect();
        Suppressions {
            directives: bound,
            targets,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.directives.is_empty()
    }

    /// The comments that silence a finding of `rule` reported at `line`, first the one that
    /// counts.
    fn silencing<'a>(&'a self, rule: &'a str, line: usize) -> impl Iterator<Item = usize> + 'a {
        let target = self
            .targets
            .iter()
            .position(|t| t.lines.0 <= line && line <= t.lines.1);
        self.directives
            .iter()
            .enumerate()
            .filter(move |(_, (d, b))| {
                d.malformed.is_none()
                    && d.reason.is_some()
                    && d.rules.iter().any(|r| r == rule)
                    && match b {
                        Bound::Above(t) => Some(*t) == target,
                        Bound::Trailing(t) => (t.is_some() && *t == target) || d.line == line,
                        Bound::Nowhere => false,
                    }
            })
            .map(|(i, _)| i)
    }

    /// `profile` without the rules whose findings (rule id, line) a comment silences, or
    /// `None` when nothing is silenced.
    /// `findings` is only called when there are comments.
    pub(crate) fn without_silenced<I: IntoIterator<Item = (String, usize)>>(
        &self,
        profile: &Profile,
        findings: impl FnOnce() -> I,
    ) -> Option<Profile> {
        if self.is_empty() {
            return None;
        }
        let silenced: Vec<String> = findings()
            .into_iter()
            .filter(|(rule, line)| self.silencing(rule, *line).next().is_some())
            .map(|(rule, _)| rule)
            .collect();
        if silenced.is_empty() {
            return None;
        }
        let mut p = profile.clone();
        p.rules.retain(|r| !silenced.contains(&r.id));
        Some(p)
    }

    /// Marks the findings the comments silence, and returns the comments (or rule ids of
    /// them) that silence nothing.
    pub(crate) fn apply(&self, findings: &mut [ReportFinding], profile: &Profile) -> Vec<Unused> {
        if self.is_empty() {
            return Vec::new();
        }
        // The comments and the rules of theirs that silenced something: looked up for each
        // rule of each comment, so in a set.
        let mut used: HashSet<(usize, String)> = HashSet::new();
        for f in findings.iter_mut() {
            let mut first = None;
            for i in self.silencing(&f.rule.id, f.line) {
                used.insert((i, f.rule.id.clone()));
                first.get_or_insert(i);
            }
            if let Some(i) = first {
                let d = &self.directives[i].0;
                let reason = d.reason.clone().unwrap_or_default();
                if !f.fixed {
                    f.manual = Some(format!(
                        "suppressed by the comment on line {}: {reason}",
                        d.line
                    ));
                }
                f.suppressed = Some(Suppressed {
                    reason,
                    line: d.line,
                    column: d.column,
                });
            }
        }
        let mut out = Vec::new();
        for (i, (d, b)) in self.directives.iter().enumerate() {
            let at = |rule_id: Option<&String>, kind: UnusedKind, message: String| Unused {
                line: d.line,
                column: d.column,
                end_column: d.end_column,
                rule_id: rule_id.cloned(),
                kind,
                message,
            };
            if let Some(why) = &d.malformed {
                out.push(at(
                    None,
                    UnusedKind::Malformed,
                    format!(
                        "`# {MARKER}` comment not understood ({why}), so it is ignored; the form is `# {MARKER} ignore[RULE-ID,...] reason`"
                    ),
                ));
                continue;
            }
            if d.reason.is_none() {
                out.push(at(
                    None,
                    UnusedKind::NoReason,
                    format!(
                        "suppression without a reason is ignored: write why after `ignore[{}]`",
                        d.rules.join(",")
                    ),
                ));
                continue;
            }
            if *b == Bound::Nowhere {
                out.push(at(
                    None,
                    UnusedKind::Misplaced,
                    "a suppression on its own line applies to the container (in a manifest) or the document (in a configuration file) directly below it, and this one is above neither, so it is ignored; or put it at the end of the setting's line".to_string(),
                ));
                continue;
            }
            for r in &d.rules {
                if used.contains(&(i, r.clone())) {
                    continue;
                }
                if profile.rule(r).is_none() {
                    out.push(at(
                        Some(r),
                        UnusedKind::UnknownRule,
                        format!(
                            "`{r}` is not a rule of profile {}, so this suppression silences nothing",
                            profile.name
                        ),
                    ));
                } else {
                    out.push(at(
                        Some(r),
                        UnusedKind::Unused,
                        format!("`{r}` finds nothing here to suppress"),
                    ));
                }
            }
        }
        out
    }
}

/// The byte ranges of every scalar (and alias) of the documents: a `#` inside one is text,
/// not a comment.
fn scalar_spans(n: &Node, out: &mut Vec<(usize, usize)>) {
    match &n.kind {
        Kind::Scalar { .. } | Kind::Alias => out.push((n.span.start, n.span.end)),
        Kind::Seq { items, .. } => items.iter().for_each(|i| scalar_spans(i, out)),
        Kind::Map { entries, .. } => entries.iter().for_each(|(k, v)| {
            scalar_spans(k, out);
            scalar_spans(v, out);
        }),
    }
}

/// Whether the byte at `o` is inside one of `spans`, the scalars' byte ranges in the order they
/// start. Scalars do not overlap, so the one it could be in is the last that starts at it or
/// before, found by halving (a manifest of tens of thousands of flags, each with a comment,
/// held each comment against every scalar: 80,000 took 6.7 s).
fn inside(spans: &[(usize, usize)], o: usize) -> bool {
    let after = spans.partition_point(|&(a, _)| a <= o);
    after > 0 && o < spans[after - 1].1
}

/// The `# kubeharden:` comments of `text`.
fn directives(text: &str) -> Vec<Directive> {
    let Ok(docs) = yaml::parse(text) else {
        return Vec::new();
    };
    let mut spans = Vec::new();
    for d in &docs {
        scalar_spans(&d.root, &mut spans);
    }
    spans.sort_unstable();
    let in_scalar = |o: usize| inside(&spans, o);
    let mut out = Vec::new();
    let mut start = 0;
    for (i, raw) in text.split('\n').enumerate() {
        let line_start = start;
        start += raw.len() + 1;
        if !raw.contains(MARKER) {
            continue;
        }
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        // The comment: the first `#` outside a scalar that starts the line or follows a blank.
        let hash = line.char_indices().find(|&(b, c)| {
            c == '#' && (b == 0 || line[..b].ends_with([' ', '\t'])) && !in_scalar(line_start + b)
        });
        let Some((b, _)) = hash else { continue };
        let comment = &line[b..];
        let Some(body) = comment[1..].trim_start().strip_prefix(MARKER) else {
            continue;
        };
        let column = line[..b].chars().count() + 1;
        let mut d = Directive {
            line: i + 1,
            column,
            end_column: column + comment.trim_end().chars().count(),
            own_line: line[..b].trim().is_empty(),
            rules: Vec::new(),
            reason: None,
            malformed: None,
        };
        match parse_body(body) {
            Ok((rules, reason)) => {
                d.rules = rules;
                d.reason = reason;
            }
            Err(why) => d.malformed = Some(why),
        }
        out.push(d);
    }
    out
}

/// `ignore[a,b] reason` → the rule ids and the reason, if there is one.
fn parse_body(body: &str) -> Result<(Vec<String>, Option<String>), String> {
    let body = body.trim();
    let Some(rest) = body.strip_prefix("ignore[") else {
        return Err("expected `ignore[` after `kubeharden:`".into());
    };
    let Some((ids, reason)) = rest.split_once(']') else {
        return Err("no `]` closes the rule ids".into());
    };
    let mut rules = Vec::new();
    for id in ids.split(',').map(str::trim) {
        if id.is_empty() {
            return Err("an empty rule id".into());
        }
        if !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(format!("`{id}` is not a rule id"));
        }
        if !rules.iter().any(|r| r == id) {
            rules.push(id.to_string());
        }
    }
    let reason = reason.trim();
    Ok((rules, (!reason.is_empty()).then(|| reason.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_syntax() {
        assert_eq!(
            parse_body(" ignore[a, b-c] the reason "),
            Ok((
                vec!["a".to_string(), "b-c".to_string()],
                Some("the reason".to_string())
            ))
        );
        assert_eq!(parse_body("ignore[a]"), Ok((vec!["a".to_string()], None)));
        assert!(parse_body("ignore a").is_err());
        assert!(parse_body("ignore[a,] x").is_err());
        assert!(parse_body("ignore[a b] x").is_err());
        assert!(parse_body("ignore[a x").is_err());
    }

    /// For every byte of every YAML file of the repository (and of a few flow and quoted
    /// documents), a scalar holds it exactly when the scalars looked through one by one say
    /// so. Fails when the last scalar to start at the byte or before is not the one looked at
    /// (the first after it, or none when the byte starts one).
    #[test]
    fn a_byte_is_inside_a_scalar_as_a_scan_finds() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut texts = crate::testing::yaml_texts(&root.join("tests/fixtures"));
        texts.push("a: {b: 'c # d', e: [f, \"g # h\"]}\nk:\n---\n- &z x # y\n- *z\n".into());
        let (mut bytes, mut held) = (0, 0);
        for text in &texts {
            let Ok(docs) = yaml::parse(text) else {
                continue;
            };
            let mut spans = Vec::new();
            for d in &docs {
                scalar_spans(&d.root, &mut spans);
            }
            spans.sort_unstable();
            for o in 0..=text.len() {
                let scan = spans.iter().any(|(a, b)| *a <= o && o < *b);
                assert_eq!(inside(&spans, o), scan, "byte {o} of {text:?}");
                bytes += 1;
                held += usize::from(scan);
            }
        }
        assert!(bytes > 100_000 && held > bytes / 10, "{bytes} {held}");
    }

    #[test]
    fn comments_are_found_outside_scalars_only() {
        let text = "a:\n  - \"--x=# kubeharden: ignore[r] not a comment\"\n  - --y # kubeharden: ignore[r] because\n  # kubeharden: ignore[s]\nb: c#kubeharden:ignore[t]no-blank-before-the-hash\n";
        let ds = directives(text);
        assert_eq!(ds.len(), 2, "{ds:?}");
        assert_eq!((ds[0].line, ds[0].column, ds[0].own_line), (3, 9, false));
        assert_eq!(ds[0].reason.as_deref(), Some("because"));
        assert_eq!(
            ds[0].end_column,
            9 + "# kubeharden: ignore[r] because".len()
        );
        assert_eq!((ds[1].line, ds[1].own_line), (4, true));
        assert_eq!(ds[1].reason, None);
    }

    #[test]
    fn binding_above_and_trailing() {
        let text = "x: 1\n# kubeharden: ignore[r] why\n# other comment\ny: 2 # kubeharden: ignore[s] why\n\n# kubeharden: ignore[t] why\n\nz: 3\n";
        let t = Target {
            head_line: 4,
            lines: (4, 5),
            trailing: vec![],
        };
        let s = Suppressions::read(text, true, vec![t]);
        let bounds: Vec<Bound> = s.directives.iter().map(|(_, b)| *b).collect();
        assert_eq!(
            bounds,
            vec![Bound::Above(0), Bound::Trailing(None), Bound::Nowhere]
        );
        assert_eq!(s.silencing("r", 5).next(), Some(0));
        assert_eq!(s.silencing("r", 1).next(), None);
        assert_eq!(s.silencing("s", 4).next(), Some(1));
        assert_eq!(
            s.silencing("s", 5).next(),
            None,
            "trailing: its own line only"
        );
        assert!(Suppressions::read(text, false, vec![]).is_empty());
    }
}
