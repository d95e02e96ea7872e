//! What the pipeline needs of every kind of document, and what the kinds share.

use crate::check::suppress::Target;
use crate::check::Env;
use crate::edit::{EditError, Splice};
use crate::model::change::Change;
use crate::model::report::{Region, VersionSource};
use crate::model::Model;
use crate::plan::Plan;
use crate::profile::version::Version;
use crate::profile::Registry;
use crate::verify::Nouns;

/// Why a text cannot be loaded as a document, or cannot be edited safely. `offset` is a byte
/// offset in the text; the caller turns it into line:column with the file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub offset: Option<usize>,
    pub line_col: Option<(usize, usize)>,
    pub message: String,
    /// The document is well-formed but not of a kind kubeharden reads (another kind, or a Pod
    /// without a control-plane container): inside a directory such files are skipped.
    pub(crate) unrecognized: bool,
}

impl LoadError {
    pub(crate) fn at(node: &crate::yaml::Node, message: impl Into<String>) -> Self {
        LoadError {
            offset: Some(node.span.start),
            line_col: None,
            message: message.into(),
            unrecognized: false,
        }
    }

    pub(crate) fn whole(message: impl Into<String>) -> Self {
        LoadError {
            offset: None,
            line_col: None,
            message: message.into(),
            unrecognized: false,
        }
    }

    pub(crate) fn unrecognized(mut self) -> Self {
        self.unrecognized = true;
        self
    }
}

/// A YAML syntax error, at its line and column.
impl From<crate::yaml::YamlError> for LoadError {
    fn from(e: crate::yaml::YamlError) -> LoadError {
        LoadError {
            offset: None,
            line_col: Some((e.line, e.column)),
            message: e.message,
            unrecognized: false,
        }
    }
}

/// One component's settings in a file: what the checker sees, where each setting is, and how a
/// plan is written.
pub trait Part {
    /// The settings as the component sees them.
    fn model(&self) -> &Model;

    /// The text the part was read from (the whole file, without a byte-order mark).
    fn text(&self) -> &str;

    /// Where a finding about `flag` points (`None`: about the part as a whole).
    fn locate(&self, flag: Option<&str>) -> Region;

    /// The splices that carry out `plan`.
    fn edits(&self, plan: &Plan, registry: &Registry) -> Result<Vec<Splice>, EditError>;

    /// `edited` loaded again: the model it means, once everything this kind lets no plan
    /// change is found unchanged.
    fn reread(&self, plan: &Plan, edited: &str, registry: &Registry) -> Result<Model, String>;

    /// What messages call the part's flags and volumes.
    fn nouns(&self) -> Nouns;

    /// Why `change` cannot be written in this kind of document, if it cannot (the rules that
    /// ask for it are then left out of the plan, with that reason).
    fn inexpressible(&self, _change: &Change) -> Option<String> {
        None
    }

    /// What a note calls the part when no change can be made to it.
    fn subject(&self) -> &'static str {
        "this file"
    }

    /// When the part names no Kubernetes version, the rules that hold for some versions only
    /// are left alone, and the reason says it is `subject` that names none. `None`: such rules
    /// are planned for the version assumed.
    fn unversioned_subject(&self) -> Option<String> {
        None
    }

    /// Why a finding is left alone when nothing more specific is known.
    fn fallback(&self) -> &'static str {
        "no automatic fix applies to this file and version"
    }
}

/// A file of one kind: its first part, and what is decided for the file as a whole.
pub trait Document: Part {
    /// The component the report names.
    fn component(&self) -> &str;

    /// The Kubernetes version the file names itself, and where it says so.
    fn named_version(&self, registry: &Registry) -> Option<(Version, VersionSource)>;

    /// The version of the node's kube-apiserver (from a manifest read in the same run) applies
    /// when the file names none.
    fn takes_node_version(&self, registry: &Registry) -> bool;

    /// The version assumed when nothing names one: the newest kubeharden knows.
    fn assumed_version(&self, registry: &Registry) -> Version {
        registry.newest()
    }

    /// The note that says the newest version `v` is assumed.
    fn assumed_note(&self, v: Version, registry: &Registry) -> String;

    /// Reasons no change can be made to the file: each is said (a note for `check`, the error
    /// for `diff` and `fix`), and the first decides. May add notes of its own.
    fn refusals(&self, env: Env, source: VersionSource, notes: &mut Vec<String>) -> Vec<String>;

    /// What `# kubeharden: ignore[...]` comments in the file can silence.
    fn suppression_targets(&self) -> Vec<Target>;

    /// The file is a kubeadm configuration file.
    fn is_kubeadm(&self) -> bool {
        false
    }

    /// The directory kubeadm reads its patches of the component's manifest from, when the file
    /// names one (kubeadm's `patches.directory`).
    fn patches_dir(&self) -> Option<&str> {
        None
    }

    /// Takes the patches found there (name, text) into the model, or says why they cannot be
    /// read (the model is then as if there were none).
    fn take_patches(&mut self, _patches: &[(String, String)]) -> Result<(), String> {
        Ok(())
    }

    /// The file's next part after the first, read from `text` as the first part's edit left
    /// it (`None` when there is none).
    fn next_part(
        &self,
        _text: &str,
        _registry: &Registry,
    ) -> Result<Option<Box<dyn Part>>, LoadError> {
        Ok(None)
    }
}

/// For a version older than those kubeharden has lifecycle facts for (or a typo such as 1.3): a
/// note, and the reason nothing is edited (an edit could write what that version lacks). A
/// newer version is judged as the newest known, and the run says so once (`newer_note`).
pub(crate) fn version_range(env: Env, notes: &mut Vec<String>) -> Option<String> {
    let known = &env.registry.versions;
    let version = env.version;
    (version.minor < known.oldest).then(|| {
        notes.push(format!(
            "Kubernetes {version} is outside the versions kubeharden has lifecycle facts for (1.{}–1.{}); flags and plugins may be misjudged",
            known.oldest, known.newest
        ));
        format!(
            "Kubernetes {version} is older than 1.{}, the oldest version kubeharden has lifecycle facts for: upgrade the cluster first, or pass --kubernetes-version if the image tag is not the version that runs",
            known.oldest
        )
    })
}

/// Whether `text` holds `word` anywhere: a search of the whole text of every file read, made a
/// block of bytes at a time (`memchr`'s `memmem`) rather than by the standard library's
/// byte-by-byte search.
pub(crate) fn has(text: &str, word: &str) -> bool {
    memchr::memmem::find(text.as_bytes(), word.as_bytes()).is_some()
}

/// The text ends a line with a carriage return alone, which kubeharden does not edit.
pub(crate) fn has_bare_cr(text: &str) -> bool {
    // The carriage returns are found by a search for the byte (memchr), not by looking at
    // every byte in turn: this is asked of every file that is edited.
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'\r', bytes).any(|i| bytes.get(i + 1) != Some(&b'\n'))
}

/// Why kubeharden edits no file that [`has_bare_cr`].
pub(crate) const BARE_CR: &str =
    "the file ends lines with bare carriage returns (old Mac OS line endings), and kubeharden edits files with LF or CRLF line endings: convert them first (`tr '\\r' '\\n' < FILE > NEW`), then run kubeharden on the result";

#[cfg(test)]
mod tests {
    use super::has_bare_cr;

    #[test]
    fn a_bare_carriage_return_is_found_where_a_scan_of_every_byte_finds_it() {
        let scan = |t: &str| {
            let b = t.as_bytes();
            (0..b.len()).any(|i| b[i] == b'\r' && b.get(i + 1) != Some(&b'\n'))
        };
        let pieces = ["a", "\r", "\n", "\r\n", "é", "\u{2028}", " ", "\r\r"];
        // Every text of up to four pieces.
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = texts
                .iter()
                .flat_map(|t| pieces.iter().map(move |p| format!("{t}{p}")))
                .collect();
            texts.extend(longer);
        }
        texts.sort();
        texts.dedup();
        for t in &texts {
            assert_eq!(has_bare_cr(t), scan(t), "{t:?}");
        }
        assert!(has_bare_cr("a: 1\rb: 2\r"));
        assert!(!has_bare_cr("a: 1\r\nb: 2\r\n"));
        assert!(has_bare_cr("a: 1\r\nb: 2\r"));
    }
}
