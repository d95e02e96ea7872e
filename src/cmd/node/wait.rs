//! `fix --wait-healthy`: the API server must serve before the change, go down as the kubelet
//! restarts it, and serve again without a break for a while, its new container not
//! restarting; otherwise, or when the wait is interrupted, the change is rolled back.

use super::edited::{Edited, Stop};
use super::place::{rollback_command, Place};
use crate::apply::health::{self, Endpoint, Outcome, Pace, Seen};
use crate::apply::interrupt::Interrupts;
use crate::apply::node;
use crate::cmd::args::FixArgs;
use crate::cmd::exit::Exit;
use crate::document::manifest;
use crate::load::node::{container_restarts, Root};
use crate::model::report::COMPONENT;
use crate::profile::Registry;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

/// What the wait compares with: the API servers about to change, and the kube-apiserver pod
/// log directories there were before the change, with their restart counts (`None` where the
/// node keeps no pod logs).
pub(super) struct Before {
    endpoints: Vec<Endpoint>,
    pod_logs: Option<BTreeMap<String, u32>>,
}

/// `--wait-healthy` can only judge the change if the API server serves before it: the API
/// servers of the manifests about to be written, each serving.
pub(super) fn serving_before(
    args: &FixArgs,
    edited: &[Edited],
    registry: &Registry,
    root: &Root,
    stderr: &mut dyn Write,
) -> Result<Before, Stop> {
    if !args.wait_healthy {
        return Ok(Before {
            endpoints: Vec::new(),
            pod_logs: None,
        });
    }
    let eps = endpoints(edited, registry);
    for ep in &eps {
        let seen = health::probe(ep, Duration::from_secs(3));
        if !seen.serving() {
            let _ = writeln!(
                stderr,
                "kubeharden: error: --wait-healthy: kube-apiserver at {} does not serve before the change ({}), so kubeharden could not tell whether the change breaks it; nothing was written",
                ep.url(),
                describe_seen(&seen)
            );
            return Err(Stop::Exit(Exit::Error));
        }
    }
    Ok(Before {
        endpoints: eps,
        pod_logs: container_restarts(root, COMPONENT),
    })
}

/// A kube-apiserver container of a pod that started after the change (a new pod log
/// directory) and has restarted since: the new API server crashes.
fn restarted(before: &Before, root: &Root) -> Option<String> {
    let known = before.pod_logs.as_ref()?;
    let now = container_restarts(root, COMPONENT)?;
    now.into_iter()
        .find(|(dir, n)| *n > 0 && !known.contains_key(dir))
        .map(|(dir, n)| {
            format!(
                "its new container restarted {n} time(s) (the kubelet's logs in {}/{dir})",
                crate::load::node::POD_LOGS_DIR
            )
        })
}

/// `--wait-healthy`: watches each API server whose manifest was written restart and serve on
/// /readyz for the stable window; when one does not, or the wait is interrupted, restores the
/// backup set. True when all came back.
pub(super) fn wait_healthy(
    args: &FixArgs,
    before: &Before,
    set: &node::BackupSet,
    place: &Place,
    interrupts: &Interrupts,
    stderr: &mut dyn Write,
) -> bool {
    let total = Duration::from_secs(args.wait_timeout);
    let pace = Pace {
        total,
        // The kubelet notices a changed manifest within its file check period (20 s by
        // default) and stops the old container; a restart later than a minute is not this
        // change's.
        restart_window: total.min(Duration::from_secs(60)),
        stable: Duration::from_secs(args.wait_stable),
        every: Duration::from_millis(500),
        request_timeout: Duration::from_secs(3),
    };
    for ep in &before.endpoints {
        let _ = writeln!(
            stderr,
            "kubeharden: waiting up to {} s for kube-apiserver to restart and then answer on {} for {} s without a break",
            total.as_secs(),
            ep.url(),
            pace.stable.as_secs()
        );
        let mut say = |s: &Seen| {
            let _ = writeln!(stderr, "kubeharden: {}: {}", ep.url(), describe_seen(s));
        };
        let mut stop = || {
            if let Some(sig) = interrupts.received() {
                return Some(Outcome::Interrupted(sig));
            }
            restarted(before, &place.root).map(Outcome::Restarted)
        };
        let outcome = health::wait(ep, &pace, &mut say, &mut stop);
        if !judge(args, &pace, outcome, set, place, stderr) {
            return false;
        }
    }
    true
}

/// Says how the wait for one API server ended, rolling back where it must; true when it came
/// back.
fn judge(
    args: &FixArgs,
    pace: &Pace,
    outcome: Outcome,
    set: &node::BackupSet,
    place: &Place,
    stderr: &mut dyn Write,
) -> bool {
    let why = match outcome {
        Outcome::Back(200) => {
            let _ = writeln!(stderr, "kubeharden: kube-apiserver is back and ready");
            return true;
        }
        Outcome::Back(code) => {
            let _ = writeln!(
                stderr,
                "kubeharden: kube-apiserver is back and serving; /readyz answered {code} because anonymous requests are refused, so its readiness itself needs credentials to see (`kubectl get --raw /readyz`)"
            );
            return true;
        }
        Outcome::NoRestart => {
            let _ = writeln!(
                stderr,
                "kubeharden: error: kube-apiserver kept answering and kubeharden did not see it restart within {} s; the kubelet may not have taken up the new manifest yet (check `crictl ps --name kube-apiserver`). Nothing was rolled back; to undo: {}",
                pace.restart_window.as_secs(),
                rollback_command(&set.record.id, &args.node)
            );
            return false;
        }
        Outcome::NotBack { last, flaps } => {
            let flapped = if flaps > 0 {
                format!(", after it answered and stopped again {flaps} time(s)")
            } else {
                String::new()
            };
            format!(
                "kube-apiserver did not come back to serve for {} s without a break within {} s ({}{flapped})",
                pace.stable.as_secs(),
                pace.total.as_secs(),
                describe_seen(&last)
            )
        }
        Outcome::Restarted(what) => format!("kube-apiserver is not healthy: {what}"),
        Outcome::Interrupted(sig) => format!(
            "interrupted ({sig}) before kube-apiserver was seen healthy; kubeharden treats the change as unproven, as when the wait fails"
        ),
    };
    roll_back(args, &why, set, place, stderr);
    false
}

/// An API server that did not come back: the backup set restored.
fn roll_back(
    args: &FixArgs,
    why: &str,
    set: &node::BackupSet,
    place: &Place,
    stderr: &mut dyn Write,
) {
    let _ = writeln!(
        stderr,
        "kubeharden: error: {why}; rolling back backup set {}",
        set.record.id
    );
    match node::rollback(set, &place.backups, &place.root) {
        Ok(done) => {
            for w in &done.warnings {
                let _ = writeln!(stderr, "kubeharden: warning: {w}");
            }
            let kept = done
                .undo
                .as_ref()
                .map(|u| format!("; the hardened state is kept in backup set {}", u.record.id))
                .unwrap_or_default();
            let _ = writeln!(
                stderr,
                "kubeharden: rolled back: the previous files are in place and the kubelet restarts kube-apiserver with them{kept}"
            );
        }
        Err(e) => {
            let _ = writeln!(
                stderr,
                "kubeharden: error: the rollback failed: {e}; run `{}`",
                rollback_command(&set.record.id, &args.node)
            );
        }
    }
}

fn describe_seen(s: &Seen) -> String {
    match s {
        Seen::Refused(e) => format!("not answering: {e}"),
        Seen::NoAnswer(e) => format!("no answer: {e}"),
        Seen::Status(c) => format!("/readyz answered {c}"),
    }
}

/// Where the API servers of the manifests about to be written serve.
fn endpoints(edited: &[Edited], registry: &Registry) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = Vec::new();
    for e in edited {
        let Some(text) = &e.sel.edited else { continue };
        let body = text.strip_prefix('\u{feff}').unwrap_or(text);
        if let Ok(m) = manifest::load(body, COMPONENT, registry) {
            let ep = Endpoint::of(&m.model);
            if !out.contains(&ep) {
                out.push(ep);
            }
        }
    }
    out
}
