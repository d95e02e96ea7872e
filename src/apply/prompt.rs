//! Asking a person at a terminal, through dialoguer on standard error.

use super::select::{Answer, Decide, Offer};
use crate::render::visible;
use anstyle::{AnsiColor, Style};
use dialoguer::console::Term;
use dialoguer::theme::SimpleTheme;
use dialoguer::Input;
use std::io::{self, Write};

pub(crate) struct Terminal {
    term: Term,
    color: bool,
    /// A question could not be asked or answered (the terminal went away, an interrupt):
    /// the whole run stops and writes nothing.
    pub(crate) broken: bool,
}

impl Terminal {
    pub(crate) fn new() -> Terminal {
        Terminal {
            term: Term::stderr(),
            color: anstream::AutoStream::choice(&io::stderr()) != anstream::ColorChoice::Never,
            broken: false,
        }
    }

    fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }

    /// A diff, coloured like git's.
    pub(crate) fn diff(&self, diff: &str) -> String {
        let mut out = String::new();
        for line in diff.split_inclusive('\n') {
            let style = if line.starts_with("+++") || line.starts_with("---") {
                Style::new().bold()
            } else if line.starts_with('+') {
                AnsiColor::Green.on_default()
            } else if line.starts_with('-') {
                AnsiColor::Red.on_default()
            } else if line.starts_with("@@") {
                AnsiColor::Cyan.on_default()
            } else {
                Style::new()
            };
            let body = visible(line.trim_end_matches('\n').trim_end_matches('\r'));
            out.push_str(&self.paint(style, &body));
            out.push('\n');
        }
        out
    }

    pub(crate) fn print(&self, text: &str) {
        let mut t = &self.term;
        let _ = t.write_all(text.as_bytes());
        let _ = t.flush();
    }

    /// A yes/no question answered with Enter; no is the default.
    pub(crate) fn confirm(&mut self, question: &str) -> io::Result<bool> {
        let answer: Result<String, _> = Input::with_theme(&SimpleTheme)
            .with_prompt(format!("{question} [y/N]"))
            .allow_empty(true)
            .validate_with(|s: &String| -> Result<(), &str> {
                match s.trim() {
                    "" | "y" | "yes" | "n" | "no" => Ok(()),
                    _ => Err("answer y or n"),
                }
            })
            .interact_text_on(&self.term);
        match answer {
            Ok(a) => Ok(matches!(a.trim(), "y" | "yes")),
            Err(dialoguer::Error::IO(e)) => {
                self.broken = true;
                Err(e)
            }
        }
    }
}

impl Default for Terminal {
    fn default() -> Self {
        Terminal::new()
    }
}

impl Decide for Terminal {
    fn offer(&mut self, o: &Offer) -> io::Result<Answer> {
        let r = o.rule;
        let cis = if r.cis.is_empty() {
            String::new()
        } else {
            format!(", CIS {}", r.cis.join(", "))
        };
        let mut text = format!(
            "\n{} {} ({}{cis}): {}\n",
            self.paint(Style::new().bold(), &format!("[{}/{}]", o.index, o.total)),
            self.paint(Style::new().bold(), &visible(&r.id)),
            r.severity.as_str(),
            visible(&r.title)
        );
        text.push_str(&format!("  why:  {}\n", visible(r.rationale.trim())));
        text.push_str(&format!("  risk: {}\n", visible(r.risk.trim())));
        if let Some(what) = &o.checked {
            text.push_str(&format!("  checked on this node: {}\n", visible(what)));
        }
        if let Some(a) = o.risky {
            text.push_str(&format!(
                "  {} {}\n  {} {}\n",
                self.paint(Style::new().bold(), "risky:"),
                visible(&a.risky),
                self.paint(Style::new().bold(), "make sure first:"),
                visible(&a.precondition)
            ));
        }
        for c in &o.changes {
            text.push_str(&format!("  - {}\n", visible(c)));
        }
        for f in &o.new_files {
            match &f.content {
                None => text.push_str(&format!(
                    "  - create the directory {} ({}) for --{}\n",
                    f.host,
                    crate::apply::node::Target::LOG_DIRECTORY.modes(),
                    f.flag
                )),
                Some((template, content)) => {
                    text.push_str(&format!(
                        "  - write {} (mode 0600) for --{}, from the template {template}:\n",
                        f.host, f.flag
                    ));
                    for line in content.lines() {
                        text.push_str(&format!("      {}\n", visible(line)));
                    }
                }
            }
        }
        text.push_str(&self.diff(&o.diff));
        self.print(&text);
        loop {
            let answer = Input::<String>::with_theme(&SimpleTheme)
                .with_prompt(format!(
                    "Make this change to {}? [y]es, [n]o, [a]ll remaining, [q]uit, [?] help",
                    visible(o.file)
                ))
                .validate_with(|s: &String| -> Result<(), &str> {
                    match s.trim() {
                        "y" | "yes" | "n" | "no" | "a" | "all" | "q" | "quit" | "h" | "help"
                        | "?" => Ok(()),
                        _ => Err("answer y, n, a, q, or ? for help"),
                    }
                })
                .interact_text_on(&self.term);
            let answer = match answer {
                Ok(a) => a,
                Err(dialoguer::Error::IO(e)) => {
                    self.broken = true;
                    return Err(e);
                }
            };
            return Ok(match answer.trim() {
                "y" | "yes" => Answer::Yes,
                "a" | "all" => Answer::All,
                "q" | "quit" => Answer::Quit,
                "n" | "no" => Answer::No,
                _ => {
                    self.print(HELP);
                    continue;
                }
            });
        }
    }

    fn tell(&mut self, message: &str) {
        self.print(&format!("kubeharden: {}\n", visible(message)));
    }
}

/// What each answer to an offer does (`?`, `h`).
const HELP: &str = "  y  make this change (with the files and mounts it lists)\n  n  leave it; the file keeps what it has for this rule\n  a  make this change and every later one, in every file, without asking\n  q  leave this change and every later one, in every file\n  ?  this help\nNothing is written until you confirm the whole set at the end; Ctrl-C before that writes nothing.\n";

/// `--yes`: every safe change (and the risky ones too with `--risky`), nobody asked; what
/// cannot be done, or is left as risky, is said afterwards.
#[derive(Default)]
pub(crate) struct Everything {
    pub(crate) messages: Vec<String>,
    /// Make the risky changes too.
    pub(crate) risky: bool,
}

impl Decide for Everything {
    fn offer(&mut self, o: &Offer) -> io::Result<Answer> {
        match o.risky {
            Some(a) if !self.risky => {
                self.messages.push(format!(
                    "{}: {}: not made, risky: {}; make sure first: {}; then `kubeharden fix --yes --risky`, or answer it at the prompt",
                    o.file, o.rule.id, a.risky, a.precondition
                ));
                Ok(Answer::No)
            }
            _ => Ok(Answer::Yes),
        }
    }

    fn tell(&mut self, message: &str) {
        self.messages.push(message.to_string());
    }
}
