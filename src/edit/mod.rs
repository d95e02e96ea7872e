//! The format-preserving editor, one for every document kind. A kind says where a setting is
//! and what it should become; the editor turns that into byte splices of the original text in
//! the style (indentation, quoting, flow or block, line endings) of the neighbouring lines.
//! Nothing is re-serialised: the output is the untouched text with the planned lines replaced,
//! inserted or removed.
//!
//! - [`lines`]: where lines start and end, and whole lines inserted or removed;
//! - [`scalar`]: values written as YAML scalars and small mappings;
//! - [`sequence`]: items of block and flow sequences deleted, replaced and added;
//! - [`mapping`]: entries of block mappings set and removed by their dotted path;
//! - `splice`: the splices themselves, applied to the text without overlaps.

pub(crate) mod lines;
pub(crate) mod mapping;
pub(crate) mod scalar;
pub(crate) mod sequence;
mod splice;

pub(crate) use sequence::Editor;
pub(crate) use splice::{apply, merge_inserts, refuse, EditError, Splice};
