//! Shell completions, the manual page and `--help`, checked against clap's definition of the
//! command line, so documentation that drifts from it fails.

use crate::cli::kubeharden;
use clap::CommandFactory;
use kubeharden::cmd::args::Cli;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn completion_script(shell: &str) -> String {
    let out = kubeharden()
        .args(["completions", shell])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "completions {shell}");
    String::from_utf8(out.stdout).expect("utf-8")
}

/// What bash completes for `words` (the last one being completed), through the function the
/// script registers for kubeharden with `complete -F`.
fn bash_complete(script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        r#"source "$1" || exit 3
spec=$(complete -p kubeharden) || exit 4
func=$(printf '%s\n' "$spec" | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
[ -n "$func" ] || exit 5
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
prev=""
[ "$COMP_CWORD" -gt 0 ] && prev=${{COMP_WORDS[COMP_CWORD-1]}}
"$func" kubeharden "${{COMP_WORDS[COMP_CWORD]}}" "$prev"
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        words = quoted.join(" ")
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program, "complete"])
        .arg(script)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completion_is_valid_bash_and_completes_commands_and_options() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("kubeharden.bash");
    std::fs::write(&script, completion_script("bash")).expect("write");
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash runs");
    assert!(
        syntax.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    assert_eq!(bash_complete(&script, &["kubeharden", "ch"]), ["check"]);
    assert_eq!(
        bash_complete(&script, &["kubeharden", "check", "--pro"]),
        ["--profile"]
    );
    assert_eq!(
        bash_complete(&script, &["kubeharden", "check", "--format", ""]),
        ["text", "json", "sarif", "github", "gitlab"]
    );
    let top = bash_complete(&script, &["kubeharden", ""]);
    for sub in [
        "check",
        "diff",
        "fix",
        "rollback",
        "explain",
        "completions",
        "man",
    ] {
        assert!(top.contains(&sub.to_string()), "{sub} not in {top:?}");
    }
}

#[test]
fn zsh_and_fish_completions_name_every_command() {
    for shell in ["zsh", "fish"] {
        let script = completion_script(shell);
        for sub in Cli::command().get_subcommands() {
            assert!(
                script.contains(sub.get_name()),
                "{shell} completion lacks {}",
                sub.get_name()
            );
        }
        // Where the shell is installed, the script must be valid for it too.
        let check = match shell {
            "zsh" => ["-n"].as_slice(),
            _ => ["--no-execute"].as_slice(),
        };
        if let Ok(out) = Command::new(shell)
            .args(check)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(script.as_bytes())?;
                child.wait_with_output()
            })
        {
            assert!(
                out.status.success(),
                "{shell}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let out = kubeharden()
        .args(["completions", "tcsh"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "an unknown shell is bad usage");
}

#[test]
fn man_page_is_current() {
    let out = kubeharden().arg("man").output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let want = String::from_utf8(out.stdout).expect("utf-8");
    assert!(want.contains(".TH kubeharden 1"), "{want}");
    // Every command and every option has its place in the page.
    for (path, cmd) in commands() {
        assert!(
            want.contains(&format!(".SS \"kubeharden {}\"", path.join(" "))),
            "man page lacks {path:?}"
        );
        for long in long_options(&cmd) {
            let roff = format!("\\fB\\-\\-{}\\fR", long.replace('-', "\\-"));
            assert!(want.contains(&roff), "man page lacks --{long} of {path:?}");
        }
    }
    let path = root().join("docs/kubeharden.1");
    if std::env::var_os("KUBEHARDEN_BLESS").is_some() {
        std::fs::write(&path, &want).expect("write docs/kubeharden.1");
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/kubeharden.1 is stale: run `KUBEHARDEN_BLESS=1 cargo test --test it man_page`"
    );
}

/// Every visible command below the top, with the words that name it.
fn commands() -> Vec<(Vec<String>, clap::Command)> {
    fn walk(cmd: &clap::Command, path: &[String], out: &mut Vec<(Vec<String>, clap::Command)>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let mut p = path.to_vec();
            p.push(sub.get_name().to_string());
            out.push((p.clone(), sub.clone()));
            walk(sub, &p, out);
        }
    }
    let mut out = Vec::new();
    // Without the `help` subcommands clap adds, as in the manual page.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    walk(&cmd, &[], &mut out);
    out
}

/// The long options of a command, without --help and --version.
fn long_options(cmd: &clap::Command) -> Vec<String> {
    cmd.get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long())
        .filter(|l| !matches!(*l, "help" | "version"))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_command_has_help_and_its_options_are_documented() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let mut docs = readme.clone();
    for entry in std::fs::read_dir(root().join("docs")).expect("docs/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push_str(&std::fs::read_to_string(&path).expect("doc"));
        }
    }
    let usage = readme
        .split_once("## Usage\n\n```\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block)
        .expect("README has a usage block");
    let mut missing = Vec::new();
    for (path, cmd) in commands() {
        let out = kubeharden()
            .args(&path)
            .arg("--help")
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(0), "{path:?} --help");
        let help = String::from_utf8_lossy(&out.stdout).to_string();
        if let Some(about) = cmd.get_about() {
            let first = about.to_string();
            let first = first
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ");
            assert!(help.contains(&first), "{path:?} --help lacks `{first}`");
        }
        for long in long_options(&cmd) {
            let flag = format!("--{long}");
            assert!(
                help.contains(&flag),
                "{path:?} --help lacks {flag}:\n{help}"
            );
            if !docs.contains(&flag) {
                missing.push(format!("{flag} ({})", path.join(" ")));
            }
        }
        // The README's usage block shows every command kubeharden has.
        if path.len() == 1 && !usage.contains(&format!("kubeharden {}", path[0])) {
            missing.push(format!("`kubeharden {}` in README's usage block", path[0]));
        }
    }
    assert!(
        missing.is_empty(),
        "documented nowhere in README.md or docs/*.md: {}",
        missing.join(", ")
    );
}
