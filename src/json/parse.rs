//! The pest-based JSON parser that keeps locations.

use pest::iterators::Pair;
use pest::Parser;
use std::sync::Arc;

use super::{Json, JsonKind, Member};
use crate::grammar::{ExpressionGrammar, Rule};
use crate::Location;

/// The deepest nesting of arrays and objects accepted (deeper input is refused, not parsed, so a
/// hostile file cannot exhaust the stack).
pub const MAX_DEPTH: usize = 128;

/// Largest input accepted, in bytes.
pub const MAX_INPUT: usize = 64 * 1024 * 1024;

/// A JSON text that could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{at}: {message}")]
pub struct JsonError {
    /// Where the problem is.
    pub at: Location,
    /// What is wrong.
    pub message: String,
}

/// Parses JSON text, keeping the location of every value; `file` names the source in locations.
///
/// ```
/// let json = expanse::json::parse("{\n  \"owner_id\": \"%%user.id\"\n}", "rule.json").unwrap();
/// let member = &json.as_object().unwrap()[0];
/// assert_eq!(member.key_at.to_string(), "rule.json:2:3");
/// let err = expanse::json::parse("{\"a\": }", "bad.json").unwrap_err();
/// assert!(err.to_string().starts_with("bad.json:1:7:"), "{err}");
/// ```
pub fn parse(text: &str, file: &str) -> Result<Json, JsonError> {
    let file: Arc<str> = Arc::from(file);
    if text.len() > MAX_INPUT {
        return Err(JsonError {
            at: Location::new(file, 1, 1),
            message: format!("input is larger than {MAX_INPUT} bytes"),
        });
    }
    check_depth(text, &file)?;
    let mut pairs = ExpressionGrammar::parse(Rule::json, text).map_err(|e| {
        where_it_broke(text, &file).unwrap_or_else(|| {
            let (line, col) = match e.line_col {
                pest::error::LineColLocation::Pos(p) => p,
                pest::error::LineColLocation::Span(p, _) => p,
            };
            JsonError {
                at: Location::new(file.clone(), line, col),
                message: describe_pest_error(&e),
            }
        })
    })?;
    let value = pairs.next().ok_or_else(|| JsonError {
        at: Location::new(file.clone(), 1, 1),
        message: "expected a JSON value".into(),
    })?;
    let mut cursor = Cursor::new(text, file.clone());
    build(value, &mut cursor)
}

/// Where a JSON text stops being JSON, read left to right, in plain words: the grammar's own
/// error points where its last alternative gave up (often the value before a missing comma),
/// so a streaming reader that stops at the first byte that cannot continue the text says it
/// better. `None` when that reader accepts the text.
fn where_it_broke(text: &str, file: &Arc<str>) -> Option<JsonError> {
    let error = serde_json::from_str::<serde::de::IgnoredAny>(text).err()?;
    let (line, col) = (error.line().max(1), error.column().max(1));
    // serde_json counts bytes; a location counts characters.
    let col = text
        .lines()
        .nth(line - 1)
        .map(|l| {
            l.char_indices()
                .take_while(|(i, _)| *i < col)
                .count()
                .max(1)
        })
        .unwrap_or(col);
    let full = error.to_string();
    let said = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(message, _)| message);
    Some(JsonError {
        at: Location::new(file.clone(), line, col),
        message: plain_words(said),
    })
}

/// serde_json's messages in the words of a rule author.
fn plain_words(said: &str) -> String {
    let message = match said {
        "expected `,` or `}`" => "expected ',' or '}' after a member",
        "expected `,` or `]`" => "expected ',' or ']' after an element",
        "expected `:`" => "expected ':' after a member's name",
        "key must be a string" => "expected a member's name in double quotes",
        "trailing comma" => "a trailing comma: remove the ',' before the closing bracket",
        "EOF while parsing an object" => "the text ends inside an object: a '}' is missing",
        "EOF while parsing a list" => "the text ends inside an array: a ']' is missing",
        "EOF while parsing a string" => "the text ends inside a string: a '\"' is missing",
        "EOF while parsing a value" => "expected a value, but the text ends",
        "expected value" => {
            "expected a value (an object, array, string, number, true, false or null)"
        }
        "trailing characters" => "unexpected text after the JSON value",
        "control character (\\u0000-\\u001F) found while parsing a string" => {
            "a control character inside a string: write it escaped (\\n, \\t, \\u0000…)"
        }
        other => return format!("invalid JSON: {other}"),
    };
    message.to_owned()
}

fn describe_pest_error(e: &pest::error::Error<Rule>) -> String {
    match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives.iter().map(rule_name).collect();
            names.sort_unstable();
            names.dedup();
            if names.is_empty() {
                "invalid JSON".into()
            } else {
                format!("invalid JSON: expected {}", names.join(", "))
            }
        }
        pest::error::ErrorVariant::CustomError { message } => message.clone(),
    }
}

fn rule_name(rule: &Rule) -> &'static str {
    match rule {
        Rule::object | Rule::pair => "an object or member",
        Rule::array => "an array",
        Rule::string | Rule::chars | Rule::char => "a string",
        Rule::number => "a number",
        Rule::boolean => "true or false",
        Rule::null => "null",
        Rule::EOI => "end of input",
        _ => "a JSON value",
    }
}

/// Refuses nesting deeper than [`MAX_DEPTH`] before the recursive parser sees it.
fn check_depth(text: &str, file: &Arc<str>) -> Result<(), JsonError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let (mut line, mut col) = (1usize, 0usize);
    for c in text.chars() {
        if c == '\n' {
            line += 1;
            col = 0;
        } else {
            col += 1;
        }
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(JsonError {
                        at: Location::new(file.clone(), line, col),
                        message: format!("nesting deeper than {MAX_DEPTH} levels"),
                    });
                }
            }
            '}' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Turns byte offsets into line:col, moving forward through the text (pairs arrive in document
/// order), so locating every value of a large document stays linear.
struct Cursor<'t> {
    text: &'t str,
    file: Arc<str>,
    offset: usize,
    line: usize,
    col: usize,
}

impl<'t> Cursor<'t> {
    fn new(text: &'t str, file: Arc<str>) -> Cursor<'t> {
        Cursor {
            text,
            file,
            offset: 0,
            line: 1,
            col: 1,
        }
    }

    fn locate(&mut self, pair: &Pair<Rule>) -> Location {
        let target = pair.as_span().start();
        if target < self.offset {
            self.offset = 0;
            self.line = 1;
            self.col = 1;
        }
        for c in self.text[self.offset..target].chars() {
            if c == '\n' {
                self.line += 1;
                self.col = 1;
            } else {
                self.col += 1;
            }
        }
        self.offset = target;
        Location::new(self.file.clone(), self.line, self.col)
    }
}

fn build(pair: Pair<Rule>, cursor: &mut Cursor) -> Result<Json, JsonError> {
    let at = cursor.locate(&pair);
    let kind = match pair.as_rule() {
        Rule::null => JsonKind::Null,
        Rule::boolean => JsonKind::Bool(pair.as_str() == "true"),
        Rule::number => JsonKind::Number(pair.as_str().to_owned()),
        Rule::string => JsonKind::String(unescape(pair, &at)?),
        Rule::array => JsonKind::Array(
            pair.into_inner()
                .map(|p| build(p, cursor))
                .collect::<Result<_, _>>()?,
        ),
        Rule::object => {
            let mut members: Vec<Member> = Vec::new();
            for member in pair.into_inner() {
                let mut inner = member.into_inner();
                let (Some(key), Some(value)) = (inner.next(), inner.next()) else {
                    continue;
                };
                let key_at = cursor.locate(&key);
                let key = unescape(key, &key_at)?;
                if members.iter().any(|m| m.key == key) {
                    return Err(JsonError {
                        at: key_at,
                        message: format!("duplicate key {key:?}"),
                    });
                }
                members.push(Member {
                    key,
                    key_at,
                    value: build(value, cursor)?,
                });
            }
            JsonKind::Object(members)
        }
        other => {
            return Err(JsonError {
                at,
                message: format!("unexpected {other:?}"),
            })
        }
    };
    Ok(Json { kind, at })
}

/// Decodes the escapes of a string token (including UTF-16 surrogate pairs).
fn unescape(pair: Pair<Rule>, at: &Location) -> Result<String, JsonError> {
    let raw = pair.into_inner().next().map(|p| p.as_str()).unwrap_or("");
    if !raw.contains('\\') {
        return Ok(raw.to_owned());
    }
    serde_json::from_str::<String>(&format!("\"{raw}\"")).map_err(|e| JsonError {
        at: at.clone(),
        message: format!("invalid string escape: {e}"),
    })
}
