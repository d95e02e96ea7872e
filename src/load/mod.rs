//! Everything that reads: the files named and the directories walked, the profile and the
//! node's own files (what is at a path under `--root`). The document kinds parse what is read
//! ([`crate::document`]); nothing below this folder writes.

pub(crate) mod certs;
pub(crate) mod git;
pub(crate) mod inputs;
pub(crate) mod kubelet_flags;
pub mod node;
pub(crate) mod node_files;
pub(crate) mod patches;
pub(crate) mod preconditions;
mod profile;
pub mod read;
pub(crate) mod walk;
