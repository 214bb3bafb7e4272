//! Source locations for diagnostics: `file:line:col`.

use std::fmt;
use std::sync::Arc;

/// A position in a source file (1-based line and column, in characters).
///
/// ```
/// use expanse::Location;
/// let at = Location::new("rules.json", 3, 14);
/// assert_eq!(at.to_string(), "rules.json:3:14");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file name as given by the caller (or `<input>`).
    pub file: Arc<str>,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

impl Location {
    /// A location in `file`.
    pub fn new(file: impl Into<Arc<str>>, line: usize, col: usize) -> Location {
        Location {
            file: file.into(),
            line,
            col,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}
