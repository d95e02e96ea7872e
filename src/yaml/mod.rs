//! A YAML tree that remembers where every node came from.
//!
//! The tree is built from `saphyr-parser` events, or for plain block YAML by `block.rs`, which
//! builds the same tree faster (see there). Each node carries the byte range it occupies
//! in the original text, so that the patcher can splice replacements into the untouched text
//! instead of re-serialising the document (DESIGN invariant 1).
//!
//! Aliases are recorded, never expanded, so an alias bomb costs nothing; nesting depth is
//! bounded; duplicate mapping keys are an error (the Kubernetes decoders reject them too).

mod block;
mod builder;
pub mod compare;
mod parse;
mod scalar;
mod tree;

pub use parse::parse_full;
pub use scalar::{
    double_quote, plain_ok, plain_string_ok, render_scalar, yaml11_bool, yaml11_non_string,
};
pub(crate) use tree::{head_end, line_end_inclusive, line_start};
pub use tree::{line_col, Document, Kind, Node, Span, Style, YamlError};

/// Parses every document in `text`: plain block YAML with the block reader, anything else (and
/// any error) with the full parser, which give the same trees.
pub fn parse(text: &str) -> Result<Vec<Document>, YamlError> {
    match block::parse(text) {
        Some(docs) => Ok(docs),
        None => parse_full(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_cover_quoted_scalars_and_flow_collections() {
        let text = "a:\n  - \"--x=1\"\n  - 'y'\nb: [c, \"d\"]\n";
        let docs = parse(text).expect("parses");
        let root = &docs[0].root;
        let a = root.get("a").expect("a");
        assert!(!a.is_flow());
        let item = &a.items()[0];
        assert_eq!(&text[item.span.start..item.span.end], "\"--x=1\"");
        assert_eq!(item.as_str(), Some("--x=1"));
        let b = root.get("b").expect("b");
        assert!(b.is_flow());
        assert_eq!(&text[b.span.start..b.span.end], "[c, \"d\"]");
    }

    #[test]
    fn non_ascii_text_maps_to_byte_offsets() {
        let text = "# ünïcödé\na: \"ß=1\"\n";
        let docs = parse(text).expect("parses");
        let a = docs[0].root.get("a").expect("a");
        assert_eq!(&text[a.span.start..a.span.end], "\"ß=1\"");
    }

    #[test]
    fn duplicate_keys_are_rejected_with_position() {
        let err = parse("a: 1\nb: 2\na: 3\n").expect_err("duplicate");
        assert_eq!((err.line, err.column), (3, 1));
        assert!(err.message.contains("duplicate mapping key `a`"));
    }

    /// A mapping of more keys than are compared one by one looks them up in a set: the same
    /// duplicates are found at the same place, and a large mapping without one parses.
    #[test]
    fn duplicate_keys_in_a_large_mapping_are_rejected_with_position() {
        let keys: String = (0..200).map(|i| format!("k{i}: {i}\n")).collect();
        let docs = parse(&keys).expect("200 distinct keys");
        let Kind::Map { entries, .. } = &docs[0].root.kind else {
            panic!("a mapping");
        };
        assert_eq!(entries.len(), 200);
        // A key repeated before the set is made, one repeated after, and one whose first
        // place is in the set's first fill.
        for (again, line) in [("k3", 5), ("k150", 201), ("k10", 201)] {
            let text = if line == 5 {
                format!("k0: 0\nk1: 1\nk2: 2\nk3: 3\n{again}: x\n{keys}")
            } else {
                format!("{keys}{again}: x\n")
            };
            let err = parse(&text).expect_err(again);
            assert_eq!((err.line, err.column), (line, 1), "{again}: {err}");
            assert!(
                err.message
                    .contains(&format!("duplicate mapping key `{again}`")),
                "{err}"
            );
        }
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let err = parse("a: [1, 2\nb: 3\n").expect_err("unclosed flow sequence");
        assert!(err.line >= 1 && err.column >= 1, "{err}");
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let text = "[".repeat(200) + &"]".repeat(200);
        let err = parse(&text).expect_err("too deep");
        assert!(err.message.contains("nesting"), "{err}");
    }

    #[test]
    fn aliases_are_not_expanded() {
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n";
        let docs = parse(bomb).expect("parses");
        assert_eq!(docs[0].root.get("c").expect("c").items().len(), 9);
    }

    #[test]
    fn plain_scalar_safety() {
        assert!(plain_ok("--profiling=false", false));
        assert!(plain_ok("--enable-admission-plugins=A,B", false));
        assert!(!plain_ok("--enable-admission-plugins=A,B", true));
        assert!(!plain_ok("false", false));
        assert!(!plain_ok("a: b", false));
        assert!(!plain_ok("", false));
        assert!(!plain_ok("30", false));
        assert_eq!(
            render_scalar("it's", Style::SingleQuoted, false).as_deref(),
            Some("'it''s'")
        );
        assert_eq!(double_quote("a\"b"), "\"a\\\"b\"");
    }

    #[test]
    fn line_helpers() {
        let t = "ab\ncd\nef";
        assert_eq!(line_start(t, 4), 3);
        assert_eq!(line_end_inclusive(t, 4), 6);
        assert_eq!(line_end_inclusive(t, 7), 8);
        assert_eq!(line_col(t, 4), (2, 2));
    }
}
