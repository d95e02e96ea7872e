//! kubeharden: audit and harden Kubernetes control-plane configuration.
pub mod yaml;
pub mod manifest;
pub mod model;
pub mod profile;
pub mod version;
