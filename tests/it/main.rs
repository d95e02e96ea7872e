//! The single integration-test binary (one link for every CLI and conformance test).
mod audit_policy;
mod cli;
mod components;
mod conformance;
mod docs;
mod fixtures;
mod generate;
mod interactive;
mod kube_bench;
mod kubeadm_config;
mod node;
mod schema;
mod selection;
mod styles;
mod wait;
mod walk;
