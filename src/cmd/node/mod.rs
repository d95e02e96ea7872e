//! `fix` in place on a node, and what `rollback` shares with it: where the node and
//! kubeharden's state are, what a run writes and tells, and the wait for the API server.

mod edited;
mod fix;
mod modes;
mod place;
mod tell;
mod wait;
mod writes;

pub(super) use fix::run;
pub(super) use place::{fix_default_dir, rollback_command, Place};
pub(super) use tell::after_restore;
