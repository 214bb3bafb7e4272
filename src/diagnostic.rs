//! Located problems found while reading an app, a rules file, an expression or a fixture, and the
//! sink every reader reports them to: one wording for an unknown key, a value of the wrong kind,
//! and a suggestion.

use std::fmt;

use crate::json::{Json, JsonError, JsonKind};
use crate::suggest::closest;
use crate::Location;

/// One problem, with where it is and a hint.
///
/// ```
/// use expanse::{Diagnostic, Location};
/// let d = Diagnostic::new(Location::new("rules.json", 3, 14), "unknown key \"rols\"")
///     .with_hint(Some("did you mean \"roles\"?".into()));
/// assert_eq!(d.to_string(), "rules.json:3:14: unknown key \"rols\" (did you mean \"roles\"?)");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Where.
    pub at: Location,
    /// What is wrong.
    pub message: String,
    /// A suggestion (`did you mean %%user.id?`).
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A problem at `at`, without a hint.
    pub fn new(at: Location, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            at,
            message: message.into(),
            hint: None,
        }
    }

    /// The same problem with `hint`.
    pub fn with_hint(mut self, hint: Option<String>) -> Diagnostic {
        self.hint = hint;
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl From<JsonError> for Diagnostic {
    fn from(e: JsonError) -> Diagnostic {
        Diagnostic::new(e.at, e.message)
    }
}

/// "did you mean …?" for `word` among `known`, when one is close enough.
///
/// ```
/// assert_eq!(
///     expanse::diagnostic::did_you_mean("rols", ["roles", "filters"]),
///     Some("did you mean \"roles\"?".to_owned())
/// );
/// ```
pub fn did_you_mean<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    closest(word, known).map(|s| format!("did you mean {s:?}?"))
}

/// The errors and warnings of one reading, in the order found.
///
/// ```
/// use expanse::diagnostic::Diagnostics;
/// use expanse::Location;
/// let mut found = Diagnostics::default();
/// found.unknown_key("fliters", &Location::new("rules.json", 2, 3), &["filters", "roles"], "a rules file");
/// assert_eq!(
///     found.errors[0].to_string(),
///     "rules.json:2:3: unknown key \"fliters\" in a rules file (did you mean \"filters\"?)"
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagnostics {
    /// What makes the input unusable.
    pub errors: Vec<Diagnostic>,
    /// What is accepted but probably not meant.
    pub warnings: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Records an error.
    pub fn error(&mut self, at: &Location, message: impl Into<String>, hint: Option<String>) {
        self.errors
            .push(Diagnostic::new(at.clone(), message).with_hint(hint));
    }

    /// Records a warning.
    pub fn warn(&mut self, at: &Location, message: impl Into<String>, hint: Option<String>) {
        self.warnings
            .push(Diagnostic::new(at.clone(), message).with_hint(hint));
    }

    /// Records an unknown key of `what`, suggesting the closest of `known`.
    pub fn unknown_key(&mut self, key: &str, at: &Location, known: &[&str], what: &str) {
        let hint = did_you_mean(key, known.iter().copied());
        self.error(at, format!("unknown key {key:?} in {what}"), hint);
    }

    /// The string `json` holds, or an error saying `what` must be one.
    pub fn string<'j>(&mut self, json: &'j Json, what: &str) -> Option<&'j str> {
        match &json.kind {
            JsonKind::String(s) => Some(s),
            _ => {
                self.error(
                    &json.at,
                    format!("{what} must be a string, found {}", json.kind_name()),
                    None,
                );
                None
            }
        }
    }

    /// Whether no error was found.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}
