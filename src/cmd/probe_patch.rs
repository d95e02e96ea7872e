//! The kubeadm probe patch a kubeadm file needs when its profile changes kube-apiserver's
//! probes (extraArgs cannot): `diff` proposes it beside the file, `fix --output` writes it
//! beside its output.

use crate::load::inputs::Settings;
use crate::model::report::FileReport;

pub(crate) use crate::document::kubeadm::patch::PROBE_PATCH;

/// The patch's text for `r`, when it needs one (and the template renders for its version).
pub(super) fn for_report(r: &FileReport, s: &Settings) -> Option<String> {
    if !r.needs_probe_patch {
        return None;
    }
    crate::profile::render_template(
        "kubeadm-probe-patch",
        r.version,
        &s.registry,
        &s.profile.parameters,
    )
    .ok()
}
