//! Source locations for diagnostics: `file:line:col`.

use std::fmt;
use std::sync::Arc;

/// A position in a source file (1-based line and column, in characters), or a file or
/// directory as a whole (line 0: shown as its path alone).
///
/// ```
/// use expanse::Location;
/// let at = Location::new("rules.json", 3, 14);
/// assert_eq!(at.to_string(), "rules.json:3:14");
/// assert_eq!(Location::whole("app/").to_string(), "app/");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file name as given by the caller (or `<input>`).
    pub file: Arc<str>,
    /// 1-based line (0: the file or directory as a whole).
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

impl Location {
    /// A file or directory as a whole, not a position inside it (one that may not exist).
    pub fn whole(path: impl Into<Arc<str>>) -> Location {
        Location::new(path, 0, 0)
    }

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
        if self.line == 0 {
            return write!(f, "{}", self.file);
        }
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}
