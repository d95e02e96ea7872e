//! The kubelet's command line on a node, as systemd gives it: the `ExecStart=` of its unit's
//! drop-ins (kubeadm's `10-kubeadm.conf`), the variables they set with `Environment=`, and
//! those of their `EnvironmentFile=`s (`/var/lib/kubelet/kubeadm-flags.env`, written by
//! kubeadm; `/etc/default/kubelet` or `/etc/sysconfig/kubelet`, with `KUBELET_EXTRA_ARGS`, the
//! administrator's). A flag there that sets a field of the kubelet's configuration file wins
//! over the file (k/k cmd/kubelet/app/options/options.go, AddKubeletConfigFlags), so the
//! configuration is judged with it.
//!
//! Syntax as systemd reads it (systemd.exec(5), "Environment=", "EnvironmentFile=",
//! "Command lines"): `$VAR` splits the value at whitespace, `${VAR}` is one word; variables of
//! environment files override those of `Environment=`, later files earlier ones. Where the
//! drop-ins are, and what kubeadm's says when a node tree has none, is the registry's
//! `kubelet_unit`.

use super::node::Root;
use crate::model::{FlagPlace, Override};
use crate::profile::{FlagSpec, FlagType, Registry};
use crate::yaml::line_col;

/// The kubelet's command line as read on the node.
#[derive(Debug, Default)]
pub(crate) struct KubeletCommandLine {
    /// The flags that override settings of the configuration file, the last of each.
    pub(crate) overrides: Vec<Override>,
    /// The configuration file the kubelet reads (`--config`), as a path on the node.
    pub(crate) config: Option<String>,
    /// Every `--name=value` flag of the command line (the last of each name), as read.
    pub(crate) flags: Vec<(String, String)>,
    /// The systemd drop-ins read, as paths on the node.
    pub(crate) units: Vec<String>,
}

/// A word of the command line: its text and where it is written.
#[derive(Clone, Copy)]
struct Word<'t> {
    text: &'t str,
    file: &'t str,
    source: &'t str,
    offset: usize,
    variable: Option<&'t str>,
    /// Written in an environment file, not in a unit.
    editable: bool,
}

/// A file read: its path on the node and its text.
struct Read {
    host: String,
    text: String,
}

/// Reads the kubelet's command line on the node under `root`.
pub(crate) fn read(root: &Root, registry: &Registry) -> KubeletCommandLine {
    let read_at = |host: &str| -> Option<Read> {
        let path = root.resolve(host).ok()?;
        let text = std::fs::read_to_string(path).ok()?;
        Some(Read {
            host: host.to_string(),
            text,
        })
    };
    let mut drop_ins: Vec<(String, Read)> = Vec::new();
    for dir in &registry.kubelet_unit.drop_in_dirs {
        let Some(entries) = root
            .resolve(dir)
            .ok()
            .and_then(|d| std::fs::read_dir(d).ok())
        else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".conf"))
            .collect();
        names.sort();
        for name in names {
            if drop_ins.iter().any(|(n, _)| n == &name) {
                continue;
            }
            if let Some(r) = read_at(&format!("{dir}/{name}")) {
                drop_ins.push((name, r));
            }
        }
    }
    drop_ins.sort_by(|a, b| a.0.cmp(&b.0));
    let mut units: Vec<Read> = drop_ins.into_iter().map(|(_, r)| r).collect();
    if units.is_empty() {
        units.push(Read {
            host: String::new(),
            text: registry.kubelet_unit.kubeadm_drop_in.clone(),
        });
    }
    let unit = parse_units(&units);
    let files: Vec<Read> = unit.env_files.iter().filter_map(|f| read_at(f)).collect();
    let mut vars: Vec<(&str, Word)> = unit.environment;
    for f in &files {
        vars.extend(env_file(f));
    }
    let mut out = KubeletCommandLine {
        units: units
            .iter()
            .filter(|u| !u.host.is_empty())
            .map(|u| u.host.clone())
            .collect(),
        ..KubeletCommandLine::default()
    };
    let words = command_words(&unit.exec, &vars);
    take_flags(&words, registry, &mut out);
    out
}

/// What the drop-ins say, in order.
#[derive(Default)]
struct Unit<'t> {
    environment: Vec<(&'t str, Word<'t>)>,
    env_files: Vec<String>,
    exec: Vec<Word<'t>>,
}

fn parse_units(units: &[Read]) -> Unit<'_> {
    let mut out = Unit::default();
    for u in units {
        let mut service = false;
        let mut at = 0;
        for line in u.text.split_inclusive('\n') {
            let start = at;
            at += line.len();
            let l = line.trim();
            if l.starts_with('[') {
                service = l == "[Service]";
                continue;
            }
            if !service || l.starts_with('#') || l.starts_with(';') {
                continue;
            }
            let Some((key, value)) = l.split_once('=') else {
                continue;
            };
            let value_at = start + (line.len() - line.trim_start().len()) + key.len() + 1;
            let value = value.trim_end();
            match key.trim() {
                "Environment" => {
                    for w in words(value, &u.host, &u.text, value_at, None, false) {
                        if let Some((name, v)) = w.text.split_once('=') {
                            let word = Word {
                                text: v,
                                offset: w.offset + name.len() + 1,
                                variable: Some(name),
                                ..w
                            };
                            out.environment.push((name, word));
                        }
                    }
                }
                "EnvironmentFile" => out
                    .env_files
                    .push(value.trim_start_matches('-').trim().to_string()),
                "ExecStart" if value.is_empty() => out.exec.clear(),
                "ExecStart" => out.exec = words(value, &u.host, &u.text, value_at, None, false),
                _ => {}
            }
        }
    }
    out
}

/// The whitespace-separated words of `value` (at `offset` of `source`), a double- or
/// single-quoted word taken whole without its quotes.
fn words<'t>(
    value: &'t str,
    file: &'t str,
    source: &'t str,
    offset: usize,
    variable: Option<&'t str>,
    editable: bool,
) -> Vec<Word<'t>> {
    let mut out = Vec::new();
    let b = value.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let (start, end, next) = if b[i] == b'"' || b[i] == b'\'' {
            let close = value[i + 1..]
                .find(b[i] as char)
                .map_or(b.len(), |j| i + 1 + j);
            (i + 1, close, close + 1)
        } else {
            let end = value[i..]
                .find(|c: char| c.is_ascii_whitespace())
                .map_or(b.len(), |j| i + j);
            (i, end, end)
        };
        out.push(Word {
            text: &value[start..end],
            file,
            source,
            offset: offset + start,
            variable,
            editable,
        });
        i = next;
    }
    out
}

/// The assignments of an environment file: `NAME=value`, the value optionally quoted.
fn env_file(f: &Read) -> Vec<(&str, Word<'_>)> {
    let mut out = Vec::new();
    let mut at = 0;
    for line in f.text.split_inclusive('\n') {
        let start = at;
        at += line.len();
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        let Some((name, value)) = l.split_once('=') else {
            continue;
        };
        let name = name.trim().trim_start_matches("export ").trim();
        let lead = line.len() - line.trim_start().len();
        let mut value_at = start + lead + l.find('=').unwrap_or(0) + 1;
        let mut v = value.trim_end();
        if v.len() >= 2
            && (v.starts_with('"') && v.ends_with('"') || v.starts_with('\'') && v.ends_with('\''))
        {
            v = &v[1..v.len() - 1];
            value_at += 1;
        }
        out.push((
            name,
            Word {
                text: v,
                file: &f.host,
                source: &f.text,
                offset: value_at,
                variable: Some(name),
                editable: true,
            },
        ));
    }
    out
}

/// The words the kubelet gets: those of `ExecStart=` after the program, `$VAR` split at
/// whitespace and `${VAR}` whole, from the last assignment of each variable.
fn command_words<'t>(exec: &[Word<'t>], vars: &[(&'t str, Word<'t>)]) -> Vec<Word<'t>> {
    let mut out = Vec::new();
    for w in exec.iter().skip(1) {
        let (name, split) =
            if let Some(n) = w.text.strip_prefix("${").and_then(|n| n.strip_suffix('}')) {
                (Some(n), false)
            } else if let Some(n) = w.text.strip_prefix('$') {
                (Some(n), true)
            } else {
                (None, false)
            };
        let Some(name) = name else {
            out.push(Word { ..*w });
            continue;
        };
        let Some((_, v)) = vars.iter().rev().find(|(n, _)| *n == name) else {
            continue;
        };
        if split {
            out.extend(words(
                v.text, v.file, v.source, v.offset, v.variable, v.editable,
            ));
        } else {
            out.push(Word { ..*v });
        }
    }
    out
}

/// Where the flag `first` (with its value `last`, the same word or the next) is written: the
/// words and one run of the whitespace that separates them from a neighbour, the one before
/// when there is one. A value written apart from its flag (in another variable, or another
/// file, as `$A $B` expands `A=--read-only-port` and `B=10255`) is not part of the place,
/// which then cannot be taken out: taking out the flag alone would leave its value behind as
/// an argument of its own.
fn place(first: &Word, last: &Word) -> FlagPlace {
    let src = first.source.as_bytes();
    let blank = |b: u8| b == b' ' || b == b'\t';
    let flag_end = first.offset + first.text.len();
    let together = std::ptr::eq(first, last)
        || std::ptr::eq(first.source, last.source)
            && last.offset >= flag_end
            && src[flag_end..last.offset].iter().all(|&b| blank(b));
    let last = if together { last } else { first };
    let mut start = first.offset;
    let mut end = last.offset + last.text.len();
    if start > 0 && blank(src[start - 1]) {
        while start > 0 && blank(src[start - 1]) {
            start -= 1;
        }
    } else {
        while end < src.len() && blank(src[end]) {
            end += 1;
        }
    }
    FlagPlace {
        file: first.file.to_string(),
        start,
        end,
        text: first.source[start..end].to_string(),
        editable: together && first.editable && last.editable,
        value_apart: !together,
    }
}

/// A flag on the kubelet's command line: its name, its value and the word that value ends at,
/// and the setting of the configuration file it overrides, if any.
struct Flag<'w> {
    name: &'w str,
    value: String,
    last: &'w Word<'w>,
    setting: Option<(&'w str, &'w FlagSpec)>,
}

/// The flag the word before `words[*i]` starts, if it is one: its value written with it
/// (`--x=v`), the next word (`--x v`, unless the flag is a boolean or that word is a flag), or
/// `true`; `*i` moves past the value's word.
fn read_flag<'w>(words: &'w [Word<'w>], i: &mut usize, registry: &'w Registry) -> Option<Flag<'w>> {
    let w = &words[*i - 1];
    let flag = w
        .text
        .strip_prefix("--")
        .or_else(|| w.text.strip_prefix('-'))?;
    let (name, inline) = match flag.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (flag, None),
    };
    let setting = registry.setting_of_command_line(crate::document::component::COMPONENT, name);
    let boolean = setting.is_some_and(|(_, s)| s.kind == FlagType::Bool);
    let (value, last) = match inline {
        Some(v) => (v.to_string(), w),
        None if boolean || name == "config" && words.get(*i).is_none() => ("true".into(), w),
        None => match words.get(*i) {
            Some(next) if !next.text.starts_with('-') => {
                *i += 1;
                (next.text.to_string(), next)
            }
            _ => ("true".into(), w),
        },
    };
    Some(Flag {
        name,
        value,
        last,
        setting,
    })
}

/// The flags among `words` that set fields of the configuration file, the last of each (lists
/// and maps: every occurrence, as pflag adds them up), and `--config`. Linear in the number of
/// words: a command line of tens of thousands of flags (a hostile environment file) takes no
/// time to the square of that.
fn take_flags(words: &[Word], registry: &Registry, out: &mut KubeletCommandLine) {
    // Every flag in order; the last of each name is kept at the end.
    let mut flags: Vec<(&str, String)> = Vec::new();
    // Where each override's last occurrence is written, beside `out.overrides`: its line and
    // column are counted once, at the end.
    let mut at: Vec<&Word> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        i += 1;
        let Some(Flag {
            name,
            value,
            last,
            setting,
        }) = read_flag(words, &mut i, registry)
        else {
            continue;
        };
        flags.push((name, value.clone()));
        if name == "config" {
            out.config = Some(value);
            continue;
        }
        let Some((setting, spec)) = setting else {
            continue;
        };
        let written = if std::ptr::eq(last, w) {
            w.text.to_string()
        } else {
            format!("{} {}", w.text, last.text)
        };
        // Every occurrence is kept as a place: taking out only the last would leave an earlier
        // one in force. The settings are the registry's, so `overrides` stays short.
        let here = place(w, last);
        let (value, places) = match out.overrides.iter().position(|o| o.setting == setting) {
            Some(p) => {
                let earlier = out.overrides.remove(p);
                at.remove(p);
                let mut places = earlier.places;
                places.push(here);
                let value = match spec.kind {
                    FlagType::List | FlagType::Map => {
                        let mut all = earlier.value;
                        all.push(',');
                        all.push_str(&value);
                        all
                    }
                    _ => value,
                };
                (value, places)
            }
            None => (value, vec![here]),
        };
        out.overrides.push(Override {
            setting: setting.to_string(),
            value,
            written,
            file: w.file.to_string(),
            line: 0,
            column: 0,
            variable: w.variable.map(str::to_string),
            kubeadm_writes: w.file == registry.kubelet_unit.kubeadm_flags_env,
            places,
        });
        at.push(w);
    }
    for (o, w) in out.overrides.iter_mut().zip(at) {
        (o.line, o.column) = line_col(w.source, w.offset);
    }
    // The last of each name, in the order of those last ones.
    let mut seen = std::collections::HashSet::new();
    let mut last: Vec<(String, String)> = flags
        .into_iter()
        .rev()
        .filter(|(name, _)| seen.insert(*name))
        .map(|(name, value)| (name.to_string(), value))
        .collect();
    last.reverse();
    out.flags.extend(last);
}

#[cfg(test)]
mod tests {
    use super::{
        command_words, env_file, line_col, place, words, FlagType, KubeletCommandLine, Override,
        Read, Registry, Word,
    };

    #[test]
    fn variables_expand_as_systemd_expands_them() {
        let unit = "/usr/bin/kubelet $A ${B} --x=1";
        let exec = words(unit, "unit", unit, 0, None, false);
        let f = Read {
            host: "/etc/default/kubelet".into(),
            text: "# c\nA=\"--one=1  --two\"\nB='--three 3'\nA=--four\n".into(),
        };
        let vars = env_file(&f);
        assert_eq!(vars.len(), 3);
        let got: Vec<(&str, usize, Option<&str>)> = command_words(&exec, &vars)
            .iter()
            .map(|w| (w.text, w.offset, w.variable))
            .collect();
        // The last A wins and is split at whitespace; ${B} is one word; the literal stays.
        assert_eq!(
            got,
            [
                ("--four", 39, Some("A")),
                ("--three 3", 26, Some("B")),
                ("--x=1", 25, None)
            ]
        );
        let first = &vars[0].1;
        assert_eq!(
            words(first.text, "f", "", first.offset, None, true).len(),
            2
        );
        assert_eq!(&f.text[first.offset..first.offset + 7], "--one=1");
    }

    /// A flag and its value written together are one place, which can be taken out; a value
    /// written apart (in another variable, after the flag or before it in the file) is not
    /// part of the flag's place, and the place cannot be taken out.
    #[test]
    fn a_value_written_apart_from_its_flag_is_not_part_of_its_place() {
        let unit = "/usr/bin/kubelet $A $C $B";
        let exec = words(unit, "unit", unit, 0, None, false);
        let f = Read {
            host: "/etc/default/kubelet".into(),
            text: "A=\"--v=2 --read-only-port 10255\"\nB=--anonymous-auth\nC=false\n".into(),
        };
        let vars = env_file(&f);
        let w = command_words(&exec, &vars);
        let texts: Vec<&str> = w.iter().map(|w| w.text).collect();
        assert_eq!(
            texts,
            [
                "--v=2",
                "--read-only-port",
                "10255",
                "false",
                "--anonymous-auth"
            ]
        );
        let together = place(&w[1], &w[2]);
        assert_eq!(together.text, " --read-only-port 10255");
        assert!(together.editable && !together.value_apart);
        // `--anonymous-auth` in B, its value in C: each way round, the flag's word alone.
        for (flag, value) in [(4, 3), (3, 4)] {
            let apart = place(&w[flag], &w[value]);
            assert_eq!(apart.text, w[flag].text, "{flag} {value}");
            assert!(!apart.editable && apart.value_apart, "{flag} {value}");
            assert_eq!(&f.text[apart.start..apart.end], w[flag].text);
        }
        let alone = place(&w[0], &w[0]);
        assert_eq!(alone.text, "--v=2 ");
        assert!(alone.editable);
    }

    /// The reading before it was made linear, as it was: every flag taken out of the list
    /// of the last of each when it comes again, each repeated override's places and value
    /// copied whole, each override's line and column counted from the start of its file.
    fn take_flags_by_scanning(words: &[Word], registry: &Registry, out: &mut KubeletCommandLine) {
        let mut i = 0;
        while i < words.len() {
            let w = &words[i];
            i += 1;
            // Each flag's words are read as they are by the linear reading: what it changed
            // is what the readings do with them.
            let Some(super::Flag {
                name,
                value,
                last,
                setting,
            }) = super::read_flag(words, &mut i, registry)
            else {
                continue;
            };
            out.flags.retain(|(n, _)| n != name);
            out.flags.push((name.to_string(), value.clone()));
            if name == "config" {
                out.config = Some(value);
                continue;
            }
            let Some((setting, spec)) = setting else {
                continue;
            };
            let written = if std::ptr::eq(last, w) {
                w.text.to_string()
            } else {
                format!("{} {}", w.text, last.text)
            };
            // Every occurrence is kept as a place: taking out only the last would leave an earlier
            // one in force.
            let mut places = vec![place(w, last)];
            let value = match out.overrides.iter().position(|o| o.setting == setting) {
                Some(p) => {
                    let earlier = out.overrides.remove(p);
                    places.splice(0..0, earlier.places);
                    match spec.kind {
                        FlagType::List | FlagType::Map => format!("{},{value}", earlier.value),
                        _ => value,
                    }
                }
                None => value,
            };
            let (line, column) = line_col(w.source, w.offset);
            out.overrides.push(Override {
                setting: setting.to_string(),
                value,
                written,
                file: w.file.to_string(),
                line,
                column,
                variable: w.variable.map(str::to_string),
                kubeadm_writes: w.file == registry.kubelet_unit.kubeadm_flags_env,
                places,
            });
        }
    }

    /// Random command lines (known settings of every kind repeated, unknown flags, values as
    /// the next word, `--config`, bare flags, words of a second file) read the same as by the
    /// reading it replaced: the same overrides with the same places, lines and columns, the
    /// same last flag of each name, the same configuration file.
    #[test]
    fn flags_are_read_as_before_it_was_linear() {
        use super::take_flags;
        let registry = Registry::builtin().expect("registry");
        let pieces = [
            "--anonymous-auth=false",
            "--anonymous-auth",
            "--read-only-port=0",
            "--read-only-port",
            "10255",
            "--feature-gates=A=true",
            "--feature-gates",
            "B=false,C=true",
            "--tls-cipher-suites=X,Y",
            "--rotate-certificates",
            "--config=/var/lib/kubelet/config.yaml",
            "--config",
            "/etc/k/c.yaml",
            "--unknown=1",
            "-v=2",
            "plain",
            "--protect-kernel-defaults=true",
        ];
        let mut next = crate::testing::seeded();
        let mut compared = 0;
        for _ in 0..2_000 {
            // Two files, the words of each on lines of a few words.
            let texts: Vec<String> = (0..2)
                .map(|_| {
                    let mut t = String::new();
                    for k in 0..next(12) {
                        t.push_str(pieces[next(pieces.len())]);
                        t.push(if k % 3 == 2 { '\n' } else { ' ' });
                    }
                    t
                })
                .collect();
            let files = ["/var/lib/kubelet/kubeadm-flags.env", "/etc/default/kubelet"];
            let mut words: Vec<Word> = Vec::new();
            for (f, text) in texts.iter().enumerate() {
                let mut offset = 0;
                for piece in text.split_inclusive([' ', '\n']) {
                    let word = piece.trim_end();
                    if !word.is_empty() {
                        words.push(Word {
                            text: word,
                            file: files[f],
                            source: text,
                            offset,
                            variable: (f == 0).then_some("KUBELET_KUBEADM_ARGS"),
                            editable: f == 0,
                        });
                    }
                    offset += piece.len();
                }
            }
            // The two files' words taken in turns, as variables interleave them.
            if next(2) == 0 {
                words.sort_by_key(|w| (w.offset, w.file));
            }
            let (mut linear, mut scanning) =
                (KubeletCommandLine::default(), KubeletCommandLine::default());
            take_flags(&words, &registry, &mut linear);
            take_flags_by_scanning(&words, &registry, &mut scanning);
            assert_eq!(format!("{linear:?}"), format!("{scanning:?}"), "{texts:?}");
            compared += usize::from(!scanning.overrides.is_empty());
        }
        assert!(compared > 1_000, "{compared} command lines with overrides");
    }
}
