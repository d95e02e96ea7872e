//! The single integration-test binary (one link for every CLI and conformance test).
mod cli;
mod conformance;
mod docs;
mod fixtures;
mod kube_bench;
mod schema;
mod styles;
