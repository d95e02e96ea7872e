//! Splices: byte ranges of the original text and what replaces them.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Splice {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) text: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{message}")]
pub struct EditError {
    pub(crate) offset: Option<usize>,
    pub(crate) message: String,
}

pub(crate) fn refuse(offset: Option<usize>, message: impl Into<String>) -> EditError {
    EditError {
        offset,
        message: message.into(),
    }
}

/// Applies splices to `text`; they must not overlap.
pub(crate) fn apply(text: &str, mut splices: Vec<Splice>) -> Result<String, EditError> {
    // Stable: splices at one offset keep the order they were made in.
    splices.sort_by_key(|s| (s.start, s.end));
    // Deletions that overlap (a removed line next to a removed line at the end of a file
    // without a final newline) are one deletion.
    let mut merged: Vec<Splice> = Vec::with_capacity(splices.len());
    for s in splices {
        match merged.last_mut() {
            Some(prev) if prev.text.is_empty() && s.text.is_empty() && s.start < prev.end => {
                prev.end = prev.end.max(s.end);
            }
            _ => merged.push(s),
        }
    }
    // Deleting the last lines of a file without a final newline: take the line break before
    // them too, so the file still ends without one.
    if let Some(last) = merged.last_mut() {
        if last.text.is_empty()
            && last.end == text.len()
            && !text.ends_with('\n')
            && last.start > 0
            && text[..last.start].ends_with('\n')
        {
            last.start -= if text[..last.start].ends_with("\r\n") {
                2
            } else {
                1
            };
        }
    }
    let mut out = String::with_capacity(text.len() + 256);
    let mut pos = 0;
    for s in &merged {
        if s.start < pos || s.end < s.start || s.end > text.len() {
            return Err(refuse(
                Some(s.start),
                "cannot edit safely: two planned edits overlap; nothing was written",
            ));
        }
        out.push_str(&text[pos..s.start]);
        out.push_str(&s.text);
        pos = s.end;
    }
    out.push_str(&text[pos..]);
    Ok(out)
}

/// Two insertions at one offset become one splice, in the order made.
pub(crate) fn merge_inserts(mut splices: Vec<Splice>) -> Vec<Splice> {
    let mut out: Vec<Splice> = Vec::new();
    splices.sort_by_key(|s| (s.start, s.end));
    for s in splices {
        match out.last_mut() {
            Some(p) if p.start == p.end && s.start == s.end && p.start == s.start => {
                p.text.push_str(&s.text);
            }
            _ => out.push(s),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_splices_are_refused() {
        let r = apply(
            "abcdef",
            vec![
                Splice {
                    start: 1,
                    end: 3,
                    text: "X".into(),
                },
                Splice {
                    start: 2,
                    end: 4,
                    text: "Y".into(),
                },
            ],
        );
        assert!(r.is_err());
        let ok = apply(
            "abcdef",
            vec![
                Splice {
                    start: 3,
                    end: 3,
                    text: "+".into(),
                },
                Splice {
                    start: 0,
                    end: 1,
                    text: "A".into(),
                },
            ],
        )
        .expect("disjoint");
        assert_eq!(ok, "Abc+def");
    }
}
