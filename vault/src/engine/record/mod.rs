//! Record-level pseudonymisation, the pure part: find the fields a record policy names in a JSON
//! document, and rewrite the document by splicing byte ranges, so that everything the policy does
//! not touch — key order, spacing, number spelling, escapes — reaches the caller byte for byte as
//! it was sent.
//!
//! The document is first checked by `serde_json` (strict JSON, nesting limited); only then does
//! the small scanner here walk it to record where each value starts and ends.

use std::{borrow::Cow, ops::Range};

/// Longest JSON pointer accepted in a policy.
pub const MAX_POINTER_BYTES: usize = 1024;

/// One token of a policy pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A member name; a token of digits also matches that array index (RFC 6901).
    Key(String),
    /// `*`: every element of an array.
    Any,
}

/// A parsed policy pointer such as `/contacts/*/phone`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(Vec<Token>);

impl Pattern {
    /// Parses an RFC 6901 pointer with `*` tokens; the empty pointer (the whole record) is refused.
    pub fn parse(pointer: &str) -> Result<Self, &'static str> {
        if pointer.len() > MAX_POINTER_BYTES {
            return Err("a JSON pointer of at most 1024 bytes");
        }
        let Some(rest) = pointer.strip_prefix('/') else {
            return Err("a JSON pointer starting with '/', e.g. /patient/ssn");
        };
        let mut tokens = Vec::new();
        for raw in rest.split('/') {
            if raw == "*" {
                tokens.push(Token::Any);
                continue;
            }
            let mut key = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                match c {
                    '~' => match chars.next() {
                        Some('0') => key.push('~'),
                        Some('1') => key.push('/'),
                        _ => return Err("'~' must be followed by 0 or 1 in a JSON pointer"),
                    },
                    c => key.push(c),
                }
            }
            tokens.push(Token::Key(key));
        }
        Ok(Self(tokens))
    }

    fn matches(&self, path: &[Step<'_>]) -> bool {
        self.0.len() == path.len()
            && self.0.iter().zip(path).all(|(t, s)| match (t, s) {
                (Token::Any, Step::Index(_)) => true,
                (Token::Any, Step::Key(_)) => false,
                (Token::Key(k), Step::Key(name)) => k == name,
                (Token::Key(k), Step::Index(i)) => k.parse::<usize>().ok() == Some(*i),
            })
    }
}

impl std::fmt::Display for Pattern {
    /// The pointer as a policy spells it (`~0`, `~1` escapes; `*` for every element).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&render_pattern(self))
    }
}

/// A policy ready to apply: identifier field patterns (by rule index) and fields to drop.
#[derive(Debug, Clone, Default)]
pub struct Compiled {
    fields: Vec<(Pattern, bool)>,
    drops: Vec<Pattern>,
}

impl Compiled {
    /// `fields` are (pattern, required) in policy order; the first matching field wins.
    pub fn new(fields: Vec<(Pattern, bool)>, drops: Vec<Pattern>) -> Self {
        Self { fields, drops }
    }

    fn field(&self, path: &[Step<'_>]) -> Option<usize> {
        self.fields.iter().position(|(p, _)| p.matches(path))
    }

    fn dropped(&self, path: &[Step<'_>]) -> bool {
        self.drops.iter().any(|p| p.matches(path))
    }
}

/// A step from a value to one of its children.
#[derive(Debug, Clone)]
enum Step<'a> {
    Key(Cow<'a, str>),
    Index(usize),
}

/// Renders a path as a JSON pointer (for error messages and verdicts; keys, never values).
fn pointer(path: &[Step<'_>]) -> String {
    let mut out = String::new();
    for step in path {
        out.push('/');
        match step {
            Step::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
            Step::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

/// An identifier found in a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Index of the policy field that names it.
    pub rule: usize,
    /// Its pointer in this record, e.g. `/contacts/0/phone`.
    pub pointer: String,
    /// Byte range of the JSON value (with quotes, for a string).
    pub range: Range<usize>,
    /// The value: a string's decoded text, or a number's digits.
    pub value: String,
}

/// A field that breaks the policy: where, and the rule (never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's pointer in the record (empty for the record itself).
    pub pointer: String,
    /// The rule it broke.
    pub rule: String,
}

/// What to do to one record.
#[derive(Debug, Default)]
pub struct Plan {
    /// Identifier values, in document order.
    pub hits: Vec<Hit>,
    /// Byte ranges to delete (dropped members with their separators).
    pub drops: Vec<Range<usize>>,
}

/// Finds the policy's fields in `doc`. Every error of the record is reported, not just the first.
pub fn plan(doc: &str, policy: &Compiled) -> Result<Plan, Vec<FieldError>> {
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(doc) {
        return Err(vec![FieldError {
            pointer: String::new(),
            rule: format!(
                "must be one JSON document ({} at line {} column {})",
                match e.classify() {
                    serde_json::error::Category::Eof => "it ends too early",
                    _ => "syntax error",
                },
                e.line(),
                e.column()
            ),
        }]);
    }
    let mut walk = Walk {
        s: doc.as_bytes(),
        doc,
        pos: 0,
        policy,
        plan: Plan::default(),
        errors: Vec::new(),
        seen: vec![false; policy.fields.len()],
    };
    walk.ws();
    let mut path = Vec::new();
    walk.value(&mut path, true, None);
    for (i, (p, required)) in policy.fields.iter().enumerate() {
        if *required && !walk.seen[i] {
            walk.errors.push(FieldError {
                pointer: render_pattern(p),
                rule: "required field is missing".into(),
            });
        }
    }
    if walk.errors.is_empty() {
        Ok(walk.plan)
    } else {
        Err(walk.errors)
    }
}

fn render_pattern(p: &Pattern) -> String {
    let mut out = String::new();
    for t in &p.0 {
        out.push('/');
        match t {
            Token::Any => out.push('*'),
            Token::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
        }
    }
    out
}

/// Applies replacements and deletions to `doc`. Ranges must lie on character boundaries;
/// overlapping deletions merge, and a replacement inside a deleted range is skipped.
pub fn splice(doc: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(r, _)| (r.start, r.end));
    let mut out = String::with_capacity(doc.len());
    let mut cursor = 0;
    for (range, text) in edits {
        if range.end <= cursor && range.start < cursor {
            continue;
        }
        let start = range.start.max(cursor);
        if start > range.end {
            continue;
        }
        out.push_str(&doc[cursor..start]);
        out.push_str(&text);
        cursor = range.end.max(cursor);
    }
    out.push_str(&doc[cursor..]);
    out
}

/// A JSON value as seen by the scanner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Object,
    Array,
    String,
    Number,
    Null,
    Bool,
}

/// One child of a container: where it starts (its key, for a member) and its value ends.
struct Child {
    start: usize,
    end: usize,
    dropped: bool,
}

struct Walk<'a, 'p> {
    s: &'a [u8],
    doc: &'a str,
    pos: usize,
    policy: &'p Compiled,
    plan: Plan,
    errors: Vec<FieldError>,
    seen: Vec<bool>,
}

impl<'a> Walk<'a, '_> {
    fn ws(&mut self) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    /// Index just past the string starting at `self.pos` (which is a quote).
    fn string_end(&self) -> usize {
        let mut i = self.pos + 1;
        while i < self.s.len() {
            match self.s[i] {
                b'\\' => i += 2,
                b'"' => return i + 1,
                _ => i += 1,
            }
        }
        self.s.len()
    }

    fn decode(&self, range: Range<usize>) -> Cow<'a, str> {
        let raw = &self.doc[range.start + 1..range.end - 1];
        if raw.contains('\\') {
            // Valid JSON was checked before the walk, so this cannot fail.
            Cow::Owned(serde_json::from_str(&self.doc[range]).unwrap_or_default())
        } else {
            Cow::Borrowed(raw)
        }
    }

    /// Walks the value at `self.pos`. `active` is false inside dropped fields; `inherited` is the
    /// rule of an enclosing array that a policy pointer landed on.
    fn value(&mut self, path: &mut Vec<Step<'a>>, active: bool, inherited: Option<usize>) -> usize {
        let start = self.pos;
        let rule = if active {
            self.policy.field(path).or(inherited)
        } else {
            None
        };
        let kind = match self.s.get(start) {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b'n') => Kind::Null,
            Some(b't' | b'f') => Kind::Bool,
            _ => Kind::Number,
        };
        // A rule on a container: only an array of scalars (each element an identifier).
        let from_array = inherited.is_some() && self.policy.field(path).is_none();
        let child_rule = match (rule, kind) {
            (Some(r), Kind::Array) if !from_array => Some(r),
            (Some(_), Kind::Object | Kind::Array | Kind::Bool) => {
                self.errors.push(FieldError {
                    pointer: pointer(path),
                    rule: "an identifier field must hold a string, a number or an array of them"
                        .into(),
                });
                None
            }
            _ => None,
        };
        let end = match kind {
            Kind::Object | Kind::Array => self.container(path, kind, active, child_rule),
            Kind::String => self.string_end(),
            _ => {
                let mut i = start;
                while i < self.s.len()
                    && !matches!(self.s[i], b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
                {
                    i += 1;
                }
                i
            }
        };
        self.pos = end;
        if let (Some(r), Kind::String | Kind::Number) = (rule, kind) {
            let value = match kind {
                Kind::String => self.decode(start..end).into_owned(),
                _ => self.doc[start..end].to_owned(),
            };
            self.seen[r] = true;
            self.plan.hits.push(Hit {
                rule: r,
                pointer: pointer(path),
                range: start..end,
                value,
            });
        }
        end
    }

    fn container(
        &mut self,
        path: &mut Vec<Step<'a>>,
        kind: Kind,
        active: bool,
        rule: Option<usize>,
    ) -> usize {
        let close = if kind == Kind::Object { b'}' } else { b']' };
        self.pos += 1;
        self.ws();
        let mut children: Vec<Child> = Vec::new();
        if self.s.get(self.pos) == Some(&close) {
            return self.pos + 1;
        }
        let mut index = 0;
        loop {
            self.ws();
            let child_start = self.pos;
            let step = if kind == Kind::Object {
                let key_end = self.string_end();
                let key = self.decode(self.pos..key_end);
                self.pos = key_end;
                self.ws();
                self.pos += 1; // ':'
                self.ws();
                Step::Key(key)
            } else {
                Step::Index(index)
            };
            path.push(step);
            let dropped = active && self.policy.dropped(path);
            let end = self.value(path, active && !dropped, rule);
            path.pop();
            children.push(Child {
                start: child_start,
                end,
                dropped,
            });
            index += 1;
            self.ws();
            match self.s.get(self.pos) {
                Some(b',') => self.pos += 1,
                _ => break,
            }
        }
        self.drop_children(&children);
        self.pos + 1
    }

    /// Deletion ranges for the dropped children, taking exactly one separator with each so the
    /// container stays valid JSON and the kept children keep their bytes.
    fn drop_children(&mut self, children: &[Child]) {
        for (i, child) in children.iter().enumerate() {
            if !child.dropped {
                continue;
            }
            let kept_after = children[i + 1..].iter().any(|c| !c.dropped);
            let range = if kept_after {
                child.start..children[i + 1].start
            } else {
                match children[..i].iter().rposition(|c| !c.dropped) {
                    Some(k) => children[k].end..child.end,
                    None => children[0].start..child.end,
                }
            };
            self.plan.drops.push(range);
        }
    }
}

#[cfg(test)]
mod tests;
