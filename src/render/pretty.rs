//! JSON written by hand the way serde_json's pretty printer writes it (two spaces a level, `": "`
//! after a key, `[]` and `{}` when empty), for the JSON report's file entries: a run writes
//! hundreds of fields for every file (about 400 for a kube-apiserver manifest with strict), and
//! going through serde for each, escaping every field's name, took 16% of the instructions of
//! `check --format json` (10% written here). A string is copied as it is unless it holds
//! something JSON escapes, which serde_json then escapes. The JSON report's tests hold every
//! entry written here to serde_json's printing of the same value.

use serde_json::value::RawValue;
use std::cell::OnceCell;

/// `,`, a line break and the spaces of the deepest indentation copied whole ([`Pretty::line`]):
/// a report's entries are 4 spaces deep and their fields a few levels more.
const SEPARATOR: [u8; 2 + 62] = {
    let mut s = [b' '; 64];
    s[0] = b',';
    s[1] = b'\n';
    s
};

/// Where the JSON goes, and how deep the value being written is.
pub(super) struct Pretty<'b> {
    buf: &'b mut Vec<u8>,
    /// Spaces before every line of the value (it sits that deep in what is around it).
    base: usize,
    level: usize,
}

/// An object or an array being written: whether it has a member yet.
struct Open {
    empty: bool,
}

impl<'b> Pretty<'b> {
    /// A value nested `base` spaces deep, written after what `buf` holds.
    pub(super) fn new(buf: &'b mut Vec<u8>, base: usize) -> Self {
        Pretty {
            buf,
            base,
            level: 0,
        }
    }

    fn indent(&mut self) {
        let n = self.base + 2 * self.level;
        self.buf.resize(self.buf.len() + n, b' ');
    }

    /// A line break (after a comma unless `first`) and the indentation, in one copy when the
    /// value is not nested deeper than [`SEPARATOR`] has spaces for.
    fn line(&mut self, first: bool) {
        let n = self.base + 2 * self.level;
        let from = usize::from(first);
        match SEPARATOR.get(from..2 + n) {
            Some(s) => self.buf.extend_from_slice(s),
            None => {
                self.buf.extend_from_slice(&SEPARATOR[from..2]);
                self.indent();
            }
        }
    }

    /// Opens an object (`{`) or an array (`[`).
    fn open(&mut self, bracket: u8) -> Open {
        self.buf.push(bracket);
        self.level += 1;
        Open { empty: true }
    }

    /// Closes what `open` opened with `bracket` (`}` or `]`).
    fn close(&mut self, open: Open, bracket: u8) {
        self.level -= 1;
        if !open.empty {
            self.buf.push(b'\n');
            self.indent();
        }
        self.buf.push(bracket);
    }

    /// The next member of an array: its separator and indentation.
    fn item(&mut self, open: &mut Open) {
        self.line(open.empty);
        open.empty = false;
    }

    /// The next member of an object, up to its value: `name` is a field's name, which JSON
    /// writes as it is (ASCII letters and `_`).
    fn key(&mut self, open: &mut Open, name: &str) {
        debug_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        self.item(open);
        self.buf.push(b'"');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\": ");
    }

    /// A string: as it is between quotes when nothing in it needs escaping (most of a report's
    /// strings), else as serde_json escapes it.
    pub(super) fn str(&mut self, s: &str) {
        if needs_escape(s.as_bytes()) {
            // Writing a string into a vector cannot fail.
            let _ = serde_json::to_writer(&mut *self.buf, s);
        } else {
            self.buf.push(b'"');
            self.buf.extend_from_slice(s.as_bytes());
            self.buf.push(b'"');
        }
    }

    pub(super) fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.null(),
        }
    }

    /// JSON that is escaped already.
    pub(super) fn raw(&mut self, r: &RawValue) {
        self.buf.extend_from_slice(r.get().as_bytes());
    }

    pub(super) fn uint(&mut self, mut n: usize) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&digits[at..]);
    }

    pub(super) fn opt_uint(&mut self, n: Option<usize>) {
        match n {
            Some(n) => self.uint(n),
            None => self.null(),
        }
    }

    pub(super) fn bool(&mut self, b: bool) {
        self.buf
            .extend_from_slice(if b { b"true" } else { b"false" });
    }

    pub(super) fn null(&mut self) {
        self.buf.extend_from_slice(b"null");
    }

    /// An array of strings.
    pub(super) fn strs<'s>(&mut self, items: impl IntoIterator<Item = &'s str>) {
        self.array(items, |p, s| p.str(s));
    }

    /// An array of `items`, each written by `write`.
    pub(super) fn array<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        mut write: impl FnMut(&mut Self, T),
    ) {
        let mut a = self.open(b'[');
        for x in items {
            self.item(&mut a);
            write(self, x);
        }
        self.close(a, b']');
    }

    /// An object, to be written field by field and ended with [`Object::end`].
    pub(super) fn object(&mut self) -> Object<'_, 'b> {
        let open = self.open(b'{');
        Object { p: self, open }
    }
}

/// Fields of an object as [`Object::fields`] wrote them: how deep they were, whether they were
/// the object's first, and their bytes (from the line break before the first field).
#[derive(Default)]
pub(super) struct Written(OnceCell<(usize, bool, Vec<u8>)>);

/// An object being written: each field's name, then its value.
pub(super) struct Object<'p, 'b> {
    p: &'p mut Pretty<'b>,
    open: Open,
}

impl<'b> Object<'_, 'b> {
    /// The field `name` (ASCII letters and `_`), its value to be written next.
    pub(super) fn field(&mut self, name: &str) -> &mut Pretty<'b> {
        self.p.key(&mut self.open, name);
        self.p
    }

    pub(super) fn str(&mut self, name: &str, v: &str) -> &mut Self {
        self.field(name).str(v);
        self
    }

    pub(super) fn opt_str(&mut self, name: &str, v: Option<&str>) -> &mut Self {
        self.field(name).opt_str(v);
        self
    }

    pub(super) fn raw(&mut self, name: &str, v: &RawValue) -> &mut Self {
        self.field(name).raw(v);
        self
    }

    pub(super) fn uint(&mut self, name: &str, v: usize) -> &mut Self {
        self.field(name).uint(v);
        self
    }

    pub(super) fn opt_uint(&mut self, name: &str, v: Option<usize>) -> &mut Self {
        self.field(name).opt_uint(v);
        self
    }

    pub(super) fn bool(&mut self, name: &str, v: bool) -> &mut Self {
        self.field(name).bool(v);
        self
    }

    pub(super) fn strs<'s>(
        &mut self,
        name: &str,
        items: impl IntoIterator<Item = &'s str>,
    ) -> &mut Self {
        self.field(name).strs(items);
        self
    }

    /// The fields `write` writes, which are the same every time it is called with `runs`
    /// (a rule's texts in each of its findings): the first time, written and kept in `runs`;
    /// then copied from it wherever they come at the same depth and place (first in their
    /// object or not), else written again. A report writes the same few texts of each rule
    /// thousands of times, at one depth.
    pub(super) fn fields(
        &mut self,
        runs: Option<&Written>,
        write: impl FnOnce(&mut Self),
    ) -> &mut Self {
        let at = (self.p.base + 2 * self.p.level, self.open.empty);
        let kept = runs
            .and_then(|r| r.0.get())
            .filter(|(indent, first, _)| (*indent, *first) == at);
        let from = self.p.buf.len();
        match kept {
            Some((_, _, bytes)) => {
                // Tests write the fields too, and hold what was kept to them.
                if cfg!(debug_assertions) {
                    write(self);
                    let again = self.p.buf.split_off(from);
                    assert_eq!(
                        bytes, &again,
                        "the fields kept differ from the fields written"
                    );
                    self.open.empty = at.1;
                }
                self.p.buf.extend_from_slice(bytes);
                self.open.empty &= bytes.is_empty();
            }
            None => {
                write(self);
                if let Some(r) = runs {
                    // Kept once: fields that come at another depth later are only written.
                    let _ = r.0.set((at.0, at.1, self.p.buf[from..].to_vec()));
                }
            }
        }
        self
    }

    /// Closes the object.
    pub(super) fn end(self) {
        self.p.close(self.open, b'}');
    }
}

/// Whether JSON escapes any byte of `b` (a control character, `"` or `\`): checked a block of
/// bytes at a time, without stopping at the first, which the compiler turns into vector
/// operations.
fn needs_escape(b: &[u8]) -> bool {
    b.chunks(32).any(|block| {
        block.iter().fold(false, |found, &c| {
            found | (c < 0x20) | (c == b'"') | (c == b'\\')
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values nested deeper than the separator has spaces for, numbers, booleans and null are
    /// written as serde_json prints them.
    #[test]
    fn deep_values_are_what_serde_json_prints() {
        let mut value = serde_json::json!([0, 7, 42, usize::MAX, true, false, null, "s", {}, []]);
        for depth in 0..40 {
            value = serde_json::json!({ "k": [value, depth] });
        }
        fn write(p: &mut Pretty, v: &serde_json::Value) {
            match v {
                serde_json::Value::Null => p.null(),
                serde_json::Value::Bool(b) => p.bool(*b),
                serde_json::Value::Number(n) => p.opt_uint(n.as_u64().map(|n| n as usize)),
                serde_json::Value::String(s) => p.str(s),
                serde_json::Value::Array(items) => p.array(items, write),
                serde_json::Value::Object(fields) => {
                    let mut o = p.object();
                    for (k, v) in fields {
                        write(o.field(k), v);
                    }
                    o.end();
                }
            }
        }
        let mut hand = Vec::new();
        write(&mut Pretty::new(&mut hand, 0), &value);
        let serde = serde_json::to_string_pretty(&value).expect("prints");
        assert_eq!(String::from_utf8(hand).expect("UTF-8"), serde);
    }

    /// Fields kept once are copied only where they come at the depth and place they were
    /// written: objects at three depths, the fields first in them or after another, each
    /// written twice, are the same bytes as the fields written every time; and what was kept is
    /// what the first object got.
    #[test]
    fn kept_fields_are_copied_where_they_were_written() {
        let odd = "a \"quoted\" value";
        let write = |p: &mut Pretty, runs: Option<&Written>| {
            for depth in [1, 3, 2, 1, 3] {
                for first in [true, false, true] {
                    // An object nested `depth` arrays deep.
                    let mut p = Pretty {
                        buf: &mut *p.buf,
                        base: 2,
                        level: depth,
                    };
                    let mut o = p.object();
                    if !first {
                        o.uint("before", depth);
                    }
                    o.fields(runs, |o| {
                        o.str("title", odd).strs("cis", ["1.2.3", "4"]);
                    })
                    .bool("after", first);
                    o.end();
                }
            }
        };
        let (mut fresh, mut copied) = (Vec::new(), Vec::new());
        write(&mut Pretty::new(&mut fresh, 0), None);
        let runs = Written::default();
        write(&mut Pretty::new(&mut copied, 0), Some(&runs));
        assert_eq!(String::from_utf8(copied), String::from_utf8(fresh));
        let (indent, first, bytes) = runs.0.get().expect("kept");
        assert_eq!((*indent, *first), (2 + 2 * 2, true));
        let kept = String::from_utf8(bytes.clone()).expect("UTF-8");
        assert!(kept.starts_with("\n      \"title\": "), "{kept:?}");
    }
}
