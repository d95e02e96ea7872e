//! The one edit kubeharden makes in an environment file of the kubelet's unit
//! (`/var/lib/kubelet/kubeadm-flags.env`, `/etc/default/kubelet`, `/etc/sysconfig/kubelet`):
//! taking flags out of a variable's value, everything else byte for byte as it was. Where the
//! flags are is found by the loader (`load::kubelet_flags`); this checks that they are still
//! there, cuts them out and checks the result.

use crate::model::FlagPlace;

/// `places` by the file they are in, in path order.
pub fn by_file(places: &[FlagPlace]) -> Vec<(&str, Vec<&FlagPlace>)> {
    let mut out: Vec<(&str, Vec<&FlagPlace>)> = Vec::new();
    for p in places {
        match out.iter_mut().find(|(f, _)| *f == p.file) {
            Some((_, here)) => here.push(p),
            None => out.push((&p.file, vec![p])),
        }
    }
    out.sort_by(|a, b| a.0.cmp(b.0));
    out
}

/// `text` without the flags at `places` (all of them in this file), or why it cannot be done.
pub fn without_flags(text: &str, places: &[&FlagPlace]) -> Result<String, String> {
    let mut cuts: Vec<&FlagPlace> = places.to_vec();
    cuts.sort_by_key(|p| p.start);
    cuts.dedup_by_key(|p| p.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for p in &cuts {
        let found = text.get(p.start..p.end);
        if p.start < at || found != Some(p.text.as_str()) {
            return Err(format!(
                "{}: `{}` is no longer where it was read; run kubeharden again",
                p.file,
                p.text.trim()
            ));
        }
        whole_words(text, p)?;
        out.push_str(&text[at..p.start]);
        at = p.end;
    }
    out.push_str(&text[at..]);
    Ok(out)
}

/// What is cut is whole flags inside one value: blanks and words that start with `-`, no line
/// break or quote, and no word cut in two.
fn whole_words(text: &str, p: &FlagPlace) -> Result<(), String> {
    let b = text.as_bytes();
    let blank = |c: u8| c == b' ' || c == b'\t';
    let edge = |c: Option<&u8>| {
        c.is_none_or(|&c| blank(c) || matches!(c, b'"' | b'\'' | b'=' | b'\n' | b'\r'))
    };
    let inside = !p.text.contains(['\n', '\r', '"', '\'']);
    let flag = p.text.trim_start().starts_with('-');
    let starts = p.start == 0 || blank(b[p.start]) || edge(b.get(p.start - 1));
    let ends = p.end == 0 || blank(b[p.end - 1]) || edge(b.get(p.end));
    if inside && flag && starts && ends {
        Ok(())
    } else {
        Err(format!(
            "{}: `{}` is not a whole flag kubeharden can take out",
            p.file,
            p.text.trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::without_flags;
    use crate::model::FlagPlace;

    fn at(text: &str, cut: &str) -> FlagPlace {
        let start = text.find(cut).expect("in the text");
        FlagPlace {
            file: "/etc/default/kubelet".into(),
            start,
            end: start + cut.len(),
            text: cut.into(),
            editable: true,
            value_apart: false,
        }
    }

    #[test]
    fn flags_go_and_the_rest_stays() {
        let text = "# mine\nKUBELET_EXTRA_ARGS=\"--node-ip=10.0.0.7 --read-only-port 10255 --v=2\"\nOTHER=1\n";
        let p = at(text, " --read-only-port 10255");
        assert_eq!(
            without_flags(text, &[&p]).expect("edits"),
            "# mine\nKUBELET_EXTRA_ARGS=\"--node-ip=10.0.0.7 --v=2\"\nOTHER=1\n"
        );
        let only = "KUBELET_EXTRA_ARGS=--anonymous-auth=true\n";
        let p = at(only, "--anonymous-auth=true");
        assert_eq!(
            without_flags(only, &[&p]).expect("edits"),
            "KUBELET_EXTRA_ARGS=\n"
        );
        // The file changed since it was read: nothing is cut.
        let moved = FlagPlace {
            start: p.start + 1,
            end: p.end + 1,
            ..p.clone()
        };
        assert!(without_flags(only, &[&moved]).is_err());
    }
}
