//! Why a profile or the registry cannot be read, with the file and, for YAML, the position.

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{origin}:{line}:{column}: {message}")]
    At {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error("{0}: cannot read profile: {1}")]
    Io(String, std::io::Error),
    #[error("unknown profile `{0}` (built-in profiles: baseline, strict; or give a path to a profile file)")]
    Unknown(String),
}

pub(super) fn yaml_err(origin: &str, e: yaml_serde::Error) -> ProfileError {
    let message = e.to_string();
    // The library appends " at line L column C" to its messages; keep the message plain
    // and put the position in front, the way every other error of ours reads.
    let plain = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_string();
    match e.location() {
        Some(loc) => ProfileError::At {
            origin: origin.to_string(),
            line: loc.line(),
            column: loc.column(),
            message: plain,
        },
        None => ProfileError::Invalid {
            origin: origin.to_string(),
            message,
        },
    }
}
