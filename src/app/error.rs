//! Why an app directory could not be loaded, and a namespace without rules.

use crate::diagnostic::Diagnostic;

/// An app directory that could not be loaded: every problem found, each with `file:line:col`.
#[derive(Debug, Clone, thiserror::Error)]
pub struct LoadError {
    /// The problems.
    pub errors: Vec<Diagnostic>,
    /// Warnings found on the way.
    pub warnings: Vec<Diagnostic>,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// No rules exist for a namespace (App Services: `NoMatchingRuleFound`, HTTP 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no rule exists for namespace '{database}.{collection}'")]
pub struct NoMatchingRule {
    /// The database.
    pub database: String,
    /// The collection.
    pub collection: String,
}

impl NoMatchingRule {
    /// The App Services error code.
    pub const CODE: &'static str = "NoMatchingRuleFound";
}
