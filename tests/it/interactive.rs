//! `fix` at a terminal, driven through a pseudo-terminal: each change is shown with its rule,
//! reason, risk and diff, and answered yes, no, all or quit; a last question confirms the write.

use rexpect::process::WaitStatus;
use rexpect::session::PtySession;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const MANIFEST: &str = "etc/kubernetes/manifests/kube-apiserver.yaml";

fn node() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    let m = root.path().join(MANIFEST);
    fs::create_dir_all(m.parent().expect("dir")).expect("mkdir");
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kube-apiserver.yaml"),
        &m,
    )
    .expect("copy");
    fs::set_permissions(&m, fs::Permissions::from_mode(0o600)).expect("chmod");
    root
}

/// `kubeharden fix --root ROOT ARGS...` on a pseudo-terminal, without colour.
fn spawn(root: &Path, args: &[&str]) -> PtySession {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("kubeharden"));
    cmd.arg("fix").arg("--root").arg(root).args(args);
    cmd.env("NO_COLOR", "1").env("TERM", "dumb");
    rexpect::session::spawn_command(cmd, Some(20_000)).expect("spawn")
}

fn exit_code(p: &mut PtySession) -> i32 {
    p.exp_eof().expect("eof");
    match p.process().wait().expect("wait") {
        WaitStatus::Exited(_, code) => code,
        other => panic!("not exited: {other:?}"),
    }
}

fn send(p: &mut PtySession, s: &str) {
    p.send(s).expect("send");
    p.flush().expect("flush");
}

/// Answers the change prompt.
fn answer(p: &mut PtySession, rule: &str, reply: &str) {
    p.exp_string(rule).expect(rule);
    p.exp_string("[q]uit").expect("prompt");
    send(p, &format!("{reply}\r"));
}

fn confirm(p: &mut PtySession, reply: &str) {
    p.exp_string("Write these changes?")
        .expect("confirm prompt");
    send(p, &format!("{reply}\r"));
}

fn manifest(root: &Path) -> String {
    fs::read_to_string(root.join(MANIFEST)).expect("read")
}

fn backups(root: &Path) -> usize {
    fs::read_dir(root.join("var/lib/kubeharden/backups")).map_or(0, |d| d.count())
}

#[test]
fn accept_some_decline_some() {
    let root = node();
    let mut p = spawn(root.path(), &[]);
    // Each offer carries the rule, its CIS id, why, the risk, and the diff hunk.
    p.exp_string("apiserver-profiling").expect("first offer");
    p.exp_string("CIS 1.2.15").expect("cis id");
    p.exp_string("why:").expect("rationale");
    p.exp_string("risk:").expect("risk");
    p.exp_string("+    - --profiling=false").expect("hunk");
    p.exp_string("[q]uit").expect("prompt");
    send(&mut p, "y\r");
    answer(&mut p, "apiserver-tls-min-version", "n");
    answer(&mut p, "apiserver-tls-cipher-suites", "y");
    // The combined diff comes before the last question.
    p.exp_string("kubeharden will write:").expect("summary");
    confirm(&mut p, "y");
    assert_eq!(exit_code(&mut p), 0);
    let m = manifest(root.path());
    assert!(m.contains("--profiling=false"));
    assert!(m.contains("--tls-cipher-suites="));
    assert!(!m.contains("--tls-min-version"));
    assert_eq!(backups(root.path()), 1);
}

#[test]
fn all_remaining_accepts_the_rest_without_asking() {
    let root = node();
    let mut p = spawn(root.path(), &[]);
    answer(&mut p, "apiserver-profiling", "n");
    answer(&mut p, "apiserver-tls-min-version", "a");
    confirm(&mut p, "y");
    assert_eq!(exit_code(&mut p), 0);
    let m = manifest(root.path());
    assert!(!m.contains("--profiling"));
    assert!(m.contains("--tls-min-version=VersionTLS12"));
    assert!(m.contains("--tls-cipher-suites="));
}

#[test]
fn quit_declines_the_rest_and_nothing_accepted_writes_nothing() {
    let root = node();
    let before = manifest(root.path());
    let mut p = spawn(root.path(), &[]);
    answer(&mut p, "apiserver-profiling", "q");
    p.exp_string("no change accepted; nothing was written")
        .expect("said");
    assert_eq!(exit_code(&mut p), 0);
    assert_eq!(manifest(root.path()), before);
    assert_eq!(backups(root.path()), 0);
}

#[test]
fn quit_after_yes_keeps_the_accepted_change() {
    let root = node();
    let mut p = spawn(root.path(), &[]);
    answer(&mut p, "apiserver-profiling", "y");
    answer(&mut p, "apiserver-tls-min-version", "q");
    confirm(&mut p, "y");
    assert_eq!(exit_code(&mut p), 0);
    let m = manifest(root.path());
    assert!(m.contains("--profiling=false"));
    assert!(!m.contains("--tls-min-version") && !m.contains("--tls-cipher-suites"));
}

#[test]
fn declining_the_final_confirmation_writes_nothing() {
    let root = node();
    let before = manifest(root.path());
    let mut p = spawn(root.path(), &[]);
    answer(&mut p, "apiserver-profiling", "a");
    confirm(&mut p, "n");
    p.exp_string("nothing was written").expect("said");
    assert_eq!(exit_code(&mut p), 0);
    assert_eq!(manifest(root.path()), before);
    assert_eq!(backups(root.path()), 0);
}

#[test]
fn an_answer_it_does_not_know_is_asked_again() {
    let root = node();
    let mut p = spawn(root.path(), &[]);
    p.exp_string("[q]uit").expect("prompt");
    send(&mut p, "maybe\r");
    p.exp_string("answer y, n, a, q, or ? for help")
        .expect("asked again");
    // Clear the rejected text and answer properly.
    send(&mut p, &"\x7f".repeat(5));
    send(&mut p, "n\r");
    answer(&mut p, "apiserver-tls-min-version", "q");
    p.exp_string("nothing was written").expect("said");
    assert_eq!(exit_code(&mut p), 0);
}

#[test]
fn a_file_changed_while_asking_is_not_overwritten() {
    let root = node();
    let mut p = spawn(root.path(), &[]);
    answer(&mut p, "apiserver-profiling", "a");
    p.exp_string("Write these changes?")
        .expect("confirm prompt");
    // Someone edits the manifest while the question is open.
    let edited = format!("{}# edited meanwhile\n", manifest(root.path()));
    fs::write(root.path().join(MANIFEST), &edited).expect("write");
    send(&mut p, "y\r");
    p.exp_string("changed while kubeharden was working on it")
        .expect("refused");
    assert_eq!(exit_code(&mut p), 2);
    assert_eq!(manifest(root.path()), edited);
    assert_eq!(backups(root.path()), 0);
}

#[test]
fn the_strict_profile_shows_the_supporting_file_before_writing_it() {
    let root = node();
    let mut p = spawn(root.path(), &["--profile", "strict"]);
    // Decline everything until the audit policy rule, which shows the policy it writes.
    loop {
        let (_, found) = p.exp_regex(r"\[\d+/\d+\] [a-z0-9-]+").expect("an offer");
        let rule = found.split(' ').nth(1).expect("rule").to_string();
        let shown = p.exp_string("[q]uit").expect("prompt");
        if rule == "apiserver-audit-policy" {
            assert!(
                shown.contains("write /etc/kubernetes/audit/policy.yaml (mode 0600)"),
                "{shown}"
            );
            assert!(shown.contains("kind: Policy"), "{shown}");
            assert!(shown.contains("pods/exec"), "{shown}");
            break;
        }
        send(&mut p, "n\r");
    }
    send(&mut p, "q\r");
    assert_eq!(exit_code(&mut p), 0);
    assert!(!root
        .path()
        .join("etc/kubernetes/audit/policy.yaml")
        .exists());
}

/// Ctrl-C where `at` is asked: the run says nothing was written, and nothing was.
fn ctrl_c(at: &str, before_it: impl FnOnce(&mut PtySession)) {
    let root = node();
    let before = manifest(root.path());
    let mut p = spawn(root.path(), &[]);
    before_it(&mut p);
    p.exp_string(at).expect(at);
    p.send_control('c').expect("ctrl-c");
    p.exp_string("nothing was written").expect("said");
    assert_eq!(exit_code(&mut p), 2);
    assert_eq!(manifest(root.path()), before);
    assert_eq!(backups(root.path()), 0);
}

#[test]
fn ctrl_c_at_an_offer_says_nothing_was_written() {
    ctrl_c("[q]uit", |p| {
        p.exp_string("apiserver-profiling").expect("first offer");
    });
}

#[test]
fn ctrl_c_at_the_last_question_says_nothing_was_written() {
    ctrl_c("Write these changes?", |p| {
        answer(p, "apiserver-profiling", "a");
    });
}

/// `?` at an offer says what each answer does, then asks again.
#[test]
fn help_at_an_offer_explains_the_answers() {
    let root = node();
    let before = manifest(root.path());
    let mut p = spawn(root.path(), &[]);
    p.exp_string("apiserver-profiling").expect("first offer");
    p.exp_string("[?] help").expect("prompt");
    send(&mut p, "?\r");
    p.exp_string("make this change and every later one")
        .expect("help");
    p.exp_string("Ctrl-C before that writes nothing")
        .expect("help end");
    p.exp_string("[?] help").expect("asked again");
    send(&mut p, "q\r");
    p.exp_eof().expect("eof");
    assert_eq!(manifest(root.path()), before);
}

/// The node's files are offered like any change: a looser mode is shown with its rule and CIS
/// id, accepted, and written with the rest.
#[test]
fn a_files_mode_is_offered_and_tightened() {
    let root = node();
    let m = root.path().join(MANIFEST);
    fs::set_permissions(&m, fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut p = spawn(root.path(), &[]);
    answer(&mut p, "apiserver-profiling", "n");
    answer(&mut p, "apiserver-tls-min-version", "n");
    answer(&mut p, "apiserver-tls-cipher-suites", "n");
    p.exp_string("file-apiserver-manifest-mode").expect("offer");
    p.exp_string("CIS 1.1.1").expect("cis id");
    // (The arrow between them is not ASCII, which the terminal reader does not decode.)
    p.exp_string("- mode 0644 ").expect("what changes");
    p.exp_string(" 0600").expect("what it becomes");
    p.exp_string("[q]uit").expect("prompt");
    send(&mut p, "y\r");
    p.exp_string("new mode 100600").expect("in the patch");
    confirm(&mut p, "y");
    assert_eq!(exit_code(&mut p), 0);
    assert_eq!(
        fs::metadata(&m).expect("meta").permissions().mode() & 0o7777,
        0o600
    );
    assert_eq!(backups(root.path()), 1);
}

/// "quit" at a file's offer declines the node's files' changes too.
#[test]
fn quit_declines_the_files_modes_too() {
    let root = node();
    let m = root.path().join(MANIFEST);
    fs::set_permissions(&m, fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut p = spawn(root.path(), &[]);
    answer(&mut p, "apiserver-profiling", "q");
    p.exp_string("nothing was written").expect("said");
    assert_eq!(exit_code(&mut p), 0);
    assert_eq!(
        fs::metadata(&m).expect("meta").permissions().mode() & 0o7777,
        0o644
    );
    assert_eq!(backups(root.path()), 0);
}
