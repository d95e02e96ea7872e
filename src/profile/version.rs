//! Kubernetes versions (1.x) and version ranges as profiles write them.

use std::fmt;

/// A Kubernetes 1.x version. Only the minor number decides what a release accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub minor: u32,
    pub patch: Option<u32>,
}

impl Version {
    pub fn minor(minor: u32) -> Self {
        Version { minor, patch: None }
    }

    /// Parses `1.30`, `v1.30`, `v1.30.4`, `1.30.4-rc.1`, `v1.30.4+k3s1`.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        let t = t.split(['-', '+']).next().unwrap_or(t);
        let mut parts = t.split('.');
        let major: u32 = parts.next()?.parse().ok()?;
        let minor: u32 = parts.next()?.parse().ok()?;
        let patch = match parts.next() {
            Some(p) => Some(p.parse().ok()?),
            None => None,
        };
        if major != 1 || parts.next().is_some() {
            return None;
        }
        Some(Version { minor, patch })
    }

    /// Whether this release lies in the window the registry gives a flag, plugin or value:
    /// from `since` (when given) up to, not including, `removed` (when given).
    pub(crate) fn within(self, since: Option<u32>, removed: Option<u32>) -> bool {
        since.is_none_or(|s| self.minor >= s) && removed.is_none_or(|r| self.minor < r)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.patch {
            Some(p) => write!(f, "1.{}.{}", self.minor, p),
            None => write!(f, "1.{}", self.minor),
        }
    }
}

/// A half-open range of minor versions: `>=1.19`, `<1.22`, `>=1.23,<1.30`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct VersionReq {
    pub(crate) min: Option<u32>,
    pub(crate) below: Option<u32>,
}

impl VersionReq {
    pub(crate) const ANY: VersionReq = VersionReq {
        min: None,
        below: None,
    };

    /// Every version matches.
    pub(crate) fn is_any(&self) -> bool {
        self.min.is_none() && self.below.is_none()
    }

    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut req = VersionReq::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (op, rest) = if let Some(r) = part.strip_prefix(">=") {
                (">=", r)
            } else if let Some(r) = part.strip_prefix('<') {
                ("<", r)
            } else {
                return Err(format!(
                    "version range `{text}`: each bound is `>=1.N` or `<1.N`"
                ));
            };
            let v = Version::parse(rest)
                .ok_or_else(|| format!("version range `{text}`: `{rest}` is not a 1.N version"))?;
            match op {
                ">=" => req.min = Some(v.minor),
                _ => req.below = Some(v.minor),
            }
        }
        if let (Some(a), Some(b)) = (req.min, req.below) {
            if a >= b {
                return Err(format!("version range `{text}` is empty"));
            }
        }
        Ok(req)
    }

    pub(crate) fn matches(&self, v: Version) -> bool {
        self.min.is_none_or(|m| v.minor >= m) && self.below.is_none_or(|b| v.minor < b)
    }
}

impl fmt::Display for VersionReq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.below) {
            (None, None) => write!(f, "all versions"),
            (Some(a), None) => write!(f, ">=1.{a}"),
            (None, Some(b)) => write!(f, "<1.{b}"),
            (Some(a), Some(b)) => write!(f, ">=1.{a},<1.{b}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_spellings() {
        assert_eq!(Version::parse("1.30"), Some(Version::minor(30)));
        assert_eq!(
            Version::parse("v1.30.4"),
            Some(Version {
                minor: 30,
                patch: Some(4)
            })
        );
        assert_eq!(Version::parse("v1.31.0-rc.1").map(|v| v.minor), Some(31));
        assert_eq!(Version::parse("v1.28.5+k3s1").map(|v| v.minor), Some(28));
        assert_eq!(Version::parse("2.0"), None);
        assert_eq!(Version::parse("latest"), None);
        assert_eq!(Version::parse("1"), None);
    }

    #[test]
    fn ranges() {
        let r = VersionReq::parse(">=1.23,<1.30").expect("range");
        assert!(!r.matches(Version::minor(22)));
        assert!(r.matches(Version::minor(23)));
        assert!(r.matches(Version::minor(29)));
        assert!(!r.matches(Version::minor(30)));
        assert_eq!(r.to_string(), ">=1.23,<1.30");
        assert!(VersionReq::parse("=1.2").is_err());
        assert!(VersionReq::parse(">=1.30,<1.20").is_err());
        assert!(VersionReq::parse("")
            .expect("empty is any")
            .matches(Version::minor(5)));
    }
}
