//! kubeharden: audit and harden Kubernetes control-plane configuration.
//!
//! The folders follow the data, one way: [`load`] reads files and the node; [`document`] knows
//! each kind of file (static pod manifest, kubeadm configuration, component configuration) and
//! turns its text into a [`model`] with source spans; [`check`] evaluates a [`profile`] against
//! it; [`plan`] turns findings into symbolic changes; [`edit`] turns those into byte splices;
//! [`verify`] re-reads the result before anything is written; [`pipeline`] runs these steps
//! for one file, the same for every kind. [`render`] shows the reports, [`apply`] is the only
//! code that writes, and [`cmd`] holds one file per subcommand. [`yaml`] is the YAML reader
//! underneath them all. docs/architecture.md draws the picture.

pub mod apply;
pub mod check;
pub mod cmd;
pub mod document;
pub(crate) mod edit;
pub mod load;
pub mod model;
pub(crate) mod paths;
pub mod pipeline;
pub(crate) mod plan;
pub mod profile;
pub mod render;
pub(crate) mod verify;
pub mod yaml;
