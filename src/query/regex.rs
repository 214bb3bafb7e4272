//! MongoDB regular expressions (`/pattern/flags`, `$regex` with `$options`) on the `regex` crate.
//!
//! MongoDB uses PCRE; the `regex` crate covers its common subset. Patterns it cannot compile
//! (look-around, back-references) are reported as errors, never silently widened.

use bson::Bson;

/// Largest compiled program accepted for one pattern (bounds memory on hostile input).
const SIZE_LIMIT: usize = 1 << 20;

/// A compiled regular expression with the pattern and flags it came from.
#[derive(Debug, Clone)]
pub struct MongoRegex {
    pattern: String,
    options: String,
    compiled: regex::Regex,
}

impl MongoRegex {
    /// Compiles `pattern` with MongoDB option letters (`i`, `m`, `s`, `x`, `u`).
    ///
    /// ```
    /// use expanse::query::MongoRegex;
    /// let r = MongoRegex::new("^ab", "i").unwrap();
    /// assert!(r.is_match("ABc"));
    /// assert!(MongoRegex::new("a", "q").is_err());
    /// ```
    pub fn new(pattern: &str, options: &str) -> Result<MongoRegex, String> {
        let mut builder = regex::RegexBuilder::new(pattern);
        builder.size_limit(SIZE_LIMIT);
        for flag in options.chars() {
            match flag {
                'i' => builder.case_insensitive(true),
                'm' => builder.multi_line(true),
                's' => builder.dot_matches_new_line(true),
                'x' => builder.ignore_whitespace(true),
                'u' => builder.unicode(true),
                other => return Err(format!("invalid flag in regex options: {other}")),
            };
        }
        let compiled = builder
            .build()
            .map_err(|e| format!("invalid regular expression /{pattern}/: {e}"))?;
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
        self.compiled.is_match(text)
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
