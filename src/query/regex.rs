//! MongoDB regular expressions (`/pattern/flags`, `$regex` with `$options`) in MongoDB's own
//! dialect (PCRE2, see [`super::pcre`]): translated to the `regex` crate's syntax and run
//! there, or on `fancy-regex` (a backtracking engine over the `regex` crate) when the pattern
//! needs look-around, back-references, atomic groups or possessive quantifiers. Patterns the
//! translation cannot express are reported as errors, never silently widened.

use bson::Bson;

use super::pcre::translate;

/// Largest compiled program accepted for one pattern (bounds memory on hostile input).
const SIZE_LIMIT: usize = 1 << 20;

/// Most backtracking steps of one match on the backtracking engine; a match that needs more
/// does not match (MongoDB stops such a match with an error).
const BACKTRACK_LIMIT: usize = 1_000_000;

/// The engine a pattern runs on.
#[derive(Debug, Clone)]
enum Engine {
    /// The `regex` crate: linear time.
    Plain(regex::Regex),
    /// `fancy-regex`, for what needs backtracking.
    Backtracking(Box<fancy_regex::Regex>),
}

/// A compiled regular expression with the pattern and flags it came from.
#[derive(Debug, Clone)]
pub struct MongoRegex {
    pattern: String,
    options: String,
    compiled: Engine,
}

impl MongoRegex {
    /// Compiles `pattern` with MongoDB option letters (`i`, `m`, `s`, `x`, `u`), in MongoDB's
    /// dialect: `\w`, `\d`, `\s` and `\b` are ASCII unless the pattern starts with `(*UCP)`.
    ///
    /// ```
    /// use expanse::query::MongoRegex;
    /// let r = MongoRegex::new("^ab", "i").unwrap();
    /// assert!(r.is_match("ABc"));
    /// assert!(MongoRegex::new("a", "q").is_err());
    /// assert!(!MongoRegex::new(r"^\w+$", "").unwrap().is_match("suárez"));
    /// assert!(MongoRegex::new(r"(*UCP)^\w+$", "").unwrap().is_match("suárez"));
    /// assert!(MongoRegex::new(r"^\Q(a)\E$", "").unwrap().is_match("(a)"));
    /// assert!(MongoRegex::new(r"(\w)\1", "").unwrap().is_match("xaay"));
    /// ```
    pub fn new(pattern: &str, options: &str) -> Result<MongoRegex, String> {
        if pattern.contains('\0') {
            return Err("Regular expression cannot contain an embedded null byte".into());
        }
        if options.contains('\0') {
            return Err(
                "Regular expression options string cannot contain an embedded null byte".into(),
            );
        }
        let mut flags = Flags::default();
        for flag in options.chars() {
            match flag {
                'i' => flags.case_insensitive = true,
                'm' => flags.multi_line = true,
                's' => flags.dot_all = true,
                'x' => flags.extended = true,
                'u' => {}
                other => return Err(format!("invalid flag in regex options: {other}")),
            }
        }
        let translation = translate(pattern, flags.multi_line)?;
        let invalid =
            |e: &dyn std::fmt::Display| format!("invalid regular expression /{pattern}/: {e}");
        let compiled = if translation.backtracking {
            let mut builder = fancy_regex::RegexBuilder::new(&translation.pattern);
            builder
                .case_insensitive(flags.case_insensitive)
                .multi_line(flags.multi_line)
                .dot_matches_new_line(flags.dot_all)
                .ignore_whitespace(flags.extended)
                .backtrack_limit(BACKTRACK_LIMIT)
                .delegate_size_limit(SIZE_LIMIT);
            Engine::Backtracking(Box::new(builder.build().map_err(|e| invalid(&e))?))
        } else {
            let mut builder = regex::RegexBuilder::new(&translation.pattern);
            builder
                .size_limit(SIZE_LIMIT)
                .case_insensitive(flags.case_insensitive)
                .multi_line(flags.multi_line)
                .dot_matches_new_line(flags.dot_all)
                .ignore_whitespace(flags.extended);
            Engine::Plain(builder.build().map_err(|e| invalid(&e))?)
        };
        let mut sorted: Vec<char> = options.chars().collect();
        sorted.sort_unstable();
        Ok(MongoRegex {
            pattern: pattern.to_owned(),
            options: sorted.into_iter().collect(),
            compiled,
        })
    }

    /// Compiles a BSON regular expression value.
    pub fn from_bson(regex: &bson::Regex) -> Result<MongoRegex, String> {
        MongoRegex::new(regex.pattern.as_str(), regex.options.as_str())
    }

    /// Whether the text matches (anywhere, as MongoDB's unanchored match).
    pub fn is_match(&self, text: &str) -> bool {
        match &self.compiled {
            Engine::Plain(r) => r.is_match(text),
            // A match past the backtracking limit does not match.
            Engine::Backtracking(r) => r.is_match(text).unwrap_or(false),
        }
    }

    /// MongoDB's regex predicate on one value: strings and symbols are matched; a regular
    /// expression value matches when pattern and flags are the same.
    pub fn matches_value(&self, value: &Bson) -> bool {
        match value {
            Bson::String(s) | Bson::Symbol(s) => self.is_match(s),
            Bson::RegularExpression(r) => {
                let mut flags: Vec<char> = r.options.as_str().chars().collect();
                flags.sort_unstable();
                r.pattern.as_str() == self.pattern
                    && flags.into_iter().collect::<String>() == self.options
            }
            _ => false,
        }
    }

    /// The pattern text.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The option letters, sorted.
    pub fn options(&self) -> &str {
        &self.options
    }
}

/// The option letters, read.
#[derive(Debug, Default, Clone, Copy)]
struct Flags {
    case_insensitive: bool,
    multi_line: bool,
    dot_all: bool,
    extended: bool,
}
