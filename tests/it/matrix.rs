//! What `fix --output` writes is done, for every file kubeharden ships as an example or a test
//! fixture, both built-in profiles and the targets 1.24, 1.30, 1.35 and 1.37: `check` of the
//! output with the same profile and target finds nothing but manual findings (which do not fail
//! it), each with its reason, and `diff` of the output proposes nothing. The pipeline runs in
//! process, as the commands run it, so the several thousand runs take seconds.
//!
//! The same corpus gives docs/refusals.md: every file `fix --profile strict` refuses at its own
//! version, with the message that says what blocks it and what to do
//! (`KUBEHARDEN_BLESS=1 cargo test --test it refusals` writes it again).

use crate::support::fuzzing::builtins;
use crate::support::in_parallel;
use kubeharden::model::report::FileReport;
use kubeharden::pipeline::{self as engine, Options};
use kubeharden::profile::version::Version;
use kubeharden::profile::Profile;
use std::path::{Path, PathBuf};

const TARGETS: [u32; 4] = [24, 30, 35, 37];

/// The YAML and JSON files under `dir`, leaving out profiles and files made to be refused.
fn corpus(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            if !p.ends_with("profiles") && !p.ends_with("bad") {
                corpus(&p, out);
            }
        } else if matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(p);
        }
    }
}

fn files() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    corpus(&root.join("tests/fixtures"), &mut found);
    corpus(&root.join("examples"), &mut found);
    found.sort();
    found
        .into_iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            let name = p.strip_prefix(root).expect("below the root");
            Some((name.display().to_string(), text))
        })
        .collect()
}

fn options<'a>(profile: &'a Profile, version: Option<Version>, report_only: bool) -> Options<'a> {
    Options {
        version,
        report_only,
        keep_edits: !report_only,
        ..Options::new(&builtins().0, profile)
    }
}

/// What is wrong with `check` and `diff` of `fix --output`'s result, if anything.
fn after_fix(path: &str, fixed: &FileReport, opts: &Options) -> Vec<String> {
    let text = fixed.edited.as_deref().unwrap_or(&fixed.original);
    let mut wrong = Vec::new();
    let check_opts = Options {
        report_only: true,
        keep_edits: false,
        ..*opts
    };
    match engine::process(path, text, &check_opts) {
        Err(e) => wrong.push(format!("check of the output fails: {}", e.message)),
        Ok(r) => {
            for f in r.findings.iter().filter(|f| f.active()) {
                let why = f.manual.as_deref().unwrap_or("");
                if !f.is_manual() || why.trim().is_empty() {
                    wrong.push(format!(
                        "{} is left ({}, reason {why:?})",
                        f.rule.id,
                        if f.fixed { "fixable" } else { "blocked" }
                    ));
                }
            }
        }
    }
    match engine::process(path, text, opts) {
        Err(e) => wrong.push(format!("diff of the output fails: {}", e.message)),
        Ok(r) if r.edited.is_some() => wrong.push("diff of the output changes it again".into()),
        Ok(_) => {}
    }
    wrong
}

#[test]
fn check_after_fix_output_finds_only_manual_findings_and_diff_nothing() {
    let (_, baseline, strict) = builtins();
    let files = files();
    assert!(files.len() > 300, "the corpus has {} files", files.len());
    let results = in_parallel(&files, |(path, text)| {
        let mut wrong = Vec::new();
        let mut fixed = 0;
        for profile in [baseline, strict] {
            for v in TARGETS {
                let opts = options(profile, Some(Version::minor(v)), false);
                // A refusal is an error with its reason (exit 2): nothing is written to check.
                let Ok(report) = engine::process(path, text, &opts) else {
                    continue;
                };
                fixed += 1;
                for w in after_fix(path, &report, &opts) {
                    wrong.push(format!("{path} ({}, 1.{v}): {w}", profile.name));
                }
            }
        }
        (wrong, fixed)
    });
    let fixed: usize = results.iter().map(|(_, n)| n).sum();
    let wrong: Vec<String> = results.into_iter().flat_map(|(w, _)| w).collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Most runs write something: the test is not passing on refusals.
    assert!(
        fixed > files.len() * 6,
        "{fixed} runs of fix wrote a result"
    );
}

/// docs/refusals.md: the files `fix --profile strict` refuses at their own version.
fn refusals() -> String {
    let (_, _, strict) = builtins();
    let files = files();
    let refused = in_parallel(&files, |(path, text)| {
        engine::process(path, text, &options(strict, None, false))
            .err()
            .filter(|e| !e.unrecognized)
            .map(|e| (path.clone(), e))
    });
    let mut out = String::from(
        "# What `fix --profile strict` refuses\n\n\
         Every example and test fixture that `kubeharden fix --profile strict FILE --output NEW`\n\
         refuses (exit 2, nothing written), with the message it prints: what in the file blocks\n\
         the change and what to do about it. Files made to be refused (`tests/fixtures/**/bad`)\n\
         are left out, and so are files that are none of the kinds kubeharden reads. A test writes this list from the files and fails when it is out of date\n\
         (`KUBEHARDEN_BLESS=1 cargo test --test it refusals`).\n\n\
         | file | line | message |\n| --- | --- | --- |\n",
    );
    for (path, e) in refused.into_iter().flatten() {
        let at = e
            .line_col
            .map_or(String::new(), |(l, c)| format!("{l}:{c}"));
        let message = e.message.replace('|', "\\|").replace('\n', " ");
        out.push_str(&format!("| `{path}` | {at} | {message} |\n"));
    }
    out
}

#[test]
fn refusals_are_listed_in_docs() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/refusals.md");
    let want = refusals();
    if std::env::var_os("KUBEHARDEN_BLESS").is_some() {
        std::fs::write(&path, &want).expect("write docs/refusals.md");
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/refusals.md is stale: run `KUBEHARDEN_BLESS=1 cargo test --test it refusals`"
    );
}

/// What a report's findings count (kept after a streamed report lets them go) agrees with the
/// findings themselves for every `--fail-on`: failing, below the severity, manual, fixable.
#[test]
fn counts_agree_with_the_findings_for_every_fail_on() {
    use kubeharden::model::report::FailOn;
    let (_, baseline, strict) = builtins();
    let files = files();
    let wrong: Vec<String> = in_parallel(&files, |(path, text)| {
        let mut wrong = Vec::new();
        for profile in [baseline, strict] {
            let Ok(r) = engine::process(path, text, &options(profile, None, true)) else {
                continue;
            };
            let c = r.counts();
            let active: Vec<_> = r.findings.iter().filter(|f| f.active()).collect();
            if c.active() != active.len()
                || c.fixable() != active.iter().filter(|f| f.fixed).count()
            {
                wrong.push(format!("{path}: active or fixable"));
            }
            for sev in ["low", "medium", "high", "critical"] {
                for manual in ["", ",manual"] {
                    let fo = FailOn::parse(&format!("{sev}{manual}")).expect("parses");
                    let failing = active.iter().filter(|f| fo.fails(f)).count();
                    let below = active
                        .iter()
                        .filter(|f| !fo.fails(f) && f.rule.severity < fo.severity)
                        .count();
                    let left = active
                        .iter()
                        .filter(|f| !fo.fails(f) && f.rule.severity >= fo.severity)
                        .count();
                    if c.failing(fo) != failing || c.below(fo) != (below, left) {
                        wrong.push(format!(
                            "{path} ({}, --fail-on {sev}{manual})",
                            profile.name
                        ));
                    }
                }
            }
        }
        wrong
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
