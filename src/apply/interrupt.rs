//! Interrupts (SIGINT, SIGTERM, SIGHUP) during a run that changes a node: noted, not obeyed at
//! once, so no write is cut off half-way; the run looks at them where it can stop cleanly
//! (before writing, at a prompt, while it waits for the API server).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub(crate) struct Interrupts(Arc<AtomicUsize>);

impl Interrupts {
    /// From now on these signals only set a flag.
    pub(crate) fn install() -> Interrupts {
        let flag = Arc::new(AtomicUsize::new(0));
        for sig in [
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ] {
            // A signal that cannot be caught keeps its default action: the run is then as
            // interruptible as before, no worse.
            let _ = signal_hook::flag::register_usize(sig, flag.clone(), sig as usize);
        }
        Interrupts(flag)
    }

    /// The name of the signal received, if any was.
    pub(crate) fn received(&self) -> Option<&'static str> {
        let n = self.0.load(Ordering::SeqCst);
        match n as i32 {
            0 => None,
            signal_hook::consts::SIGINT => Some("SIGINT"),
            signal_hook::consts::SIGTERM => Some("SIGTERM"),
            signal_hook::consts::SIGHUP => Some("SIGHUP"),
            _ => Some("a signal"),
        }
    }
}
