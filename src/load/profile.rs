//! Profiles named on the command line: a built-in name, or a profile file read from disk.

use crate::profile::{Profile, ProfileError, Registry};
use std::path::Path;

impl Profile {
    /// Loads a built-in profile by name, or a profile file by path.
    pub fn load(spec: &str, registry: &Registry) -> Result<Profile, ProfileError> {
        if let Some(builtin) = Profile::builtin(spec, registry) {
            return builtin;
        }
        let is_path = spec.contains('/')
            || spec.ends_with(".yaml")
            || spec.ends_with(".yml")
            || Path::new(spec).exists();
        if !is_path {
            return Err(ProfileError::Unknown(spec.to_string()));
        }
        let text =
            std::fs::read_to_string(spec).map_err(|e| ProfileError::Io(spec.to_string(), e))?;
        Profile::from_text(spec, &text, registry)
    }
}
