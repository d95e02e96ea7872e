//! The only code that changes files on a node: the run lock, atomic writes that keep mode and
//! owner, backup sets, the transaction that writes a run's changes or none, rollback, and the
//! temporary files an interrupted run left.
//!
//! Backups never go into the static pod directory: the kubelet runs every file there whose
//! name does not start with a dot.

mod files;
mod lock;
mod record;
mod rollback;
mod stale;
mod stamp;
mod transaction;
mod trust;

pub use files::sha256_hex;
pub(crate) use files::{atomic_write, Perms};
pub(crate) use lock::{Lock, STATE_DIR};
pub(crate) use record::{discard, find_set, list_sets, BackupSet};
pub(crate) use rollback::{mark_complete, pending, rollback, Restored};
pub(crate) use stale::{remove_left_over, remove_unfinished_sets, written_dirs};
pub(crate) use transaction::{apply, Applied, RunInfo, Target, Write1};
pub(crate) use trust::trusted_dir;
