//! The single integration-test binary (one link for every CLI and conformance test).
mod kube_bench;
