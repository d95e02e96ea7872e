//! kubeharden: audit and harden Kubernetes control-plane configuration.
//!
//! Data flows one way: [`manifest`] loads a file into a [`model::Model`] with source spans,
//! [`check`] evaluates a [`profile::Profile`] against it, [`plan`] turns findings into symbolic
//! changes, [`edit`] turns those into byte splices, and [`verify`] re-reads the result before
//! anything is written. [`engine`] runs the pipeline for one file; only the binary touches files.

pub mod app;
pub mod check;
pub mod cli;
pub mod edit;
pub mod engine;
pub mod fix;
#[doc(hidden)]
pub mod fuzzing;
pub mod generate;
pub mod health;
pub mod kubeadm;
pub mod kubeadm_edit;
pub(crate) mod kubeadm_engine;
pub mod kubelet;
pub mod manifest;
pub mod model;
pub mod node;
pub(crate) mod nodecmd;
pub mod plan;
pub mod profile;
pub mod prompt;
pub mod render;
pub mod ruledoc;
pub mod sarif;
pub mod suppress;
pub mod verify;
pub mod version;
pub(crate) mod walk;
pub mod yaml;
