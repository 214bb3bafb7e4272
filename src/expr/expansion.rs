//! `%%` expansions: their roots, their known fields, and validation with suggestions.

use pest::Parser;

use crate::grammar::{ExpressionGrammar, Rule};
use crate::query::FieldPath;
use crate::suggest::closest;

/// The root of an expansion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Base {
    /// `%%root`: the document at the end of the operation.
    Root,
    /// `%%prevRoot`: the document before the operation (missing on insert).
    PrevRoot,
    /// `%%this`: one field's value at the end of the operation.
    This,
    /// `%%prev`: one field's value before the operation.
    Prev,
    /// `%%user`: the requesting user.
    User,
    /// `%%args`: service-rule arguments.
    Args,
    /// `%%values`: app values by name.
    Values,
    /// `%%environment`: `{tag, values}`.
    Environment,
    /// `%%request`: incoming request metadata.
    Request,
    /// `%%partition`: the Sync partition value.
    Partition,
    /// `%%true`
    True,
    /// `%%false`
    False,
}

/// Every root with its spelling.
pub const ROOTS: &[(&str, Base)] = &[
    ("root", Base::Root),
    ("prevRoot", Base::PrevRoot),
    ("this", Base::This),
    ("prev", Base::Prev),
    ("user", Base::User),
    ("args", Base::Args),
    ("values", Base::Values),
    ("environment", Base::Environment),
    ("request", Base::Request),
    ("partition", Base::Partition),
    ("true", Base::True),
    ("false", Base::False),
];

const USER_FIELDS: &[&str] = &["id", "type", "data", "custom_data", "identities"];
const ENVIRONMENT_FIELDS: &[&str] = &["tag", "values"];
const REQUEST_FIELDS: &[&str] = &[
    "httpMethod",
    "httpReferrer",
    "httpUserAgent",
    "rawQueryString",
    "remoteIPAddress",
    "requestHeaders",
    "service",
    "action",
    "webhookUrl",
];

impl Base {
    /// The spelling after `%%`.
    pub fn name(self) -> &'static str {
        ROOTS
            .iter()
            .find(|(_, b)| *b == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// The fields this root is known to have at its first level (`None`: any field).
    fn known_fields(self) -> Option<&'static [&'static str]> {
        match self {
            Base::User => Some(USER_FIELDS),
            Base::Environment => Some(ENVIRONMENT_FIELDS),
            Base::Request => Some(REQUEST_FIELDS),
            Base::True | Base::False => Some(&[]),
            _ => None,
        }
    }
}

/// A parsed expansion: root and path.
#[derive(Debug, Clone, PartialEq)]
pub struct Expansion {
    /// The root.
    pub base: Base,
    /// The dotted path below the root (may be empty).
    pub path: FieldPath,
}

impl std::fmt::Display for Expansion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "%%{}", self.base.name())?;
        for part in self.path.parts() {
            write!(f, ".{part}")?;
        }
        Ok(())
    }
}

/// Why an expansion is not valid, with a suggestion when one is close.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpansionProblem {
    /// What is wrong.
    pub message: String,
    /// The nearest valid spelling, if any.
    pub suggestion: Option<String>,
}

/// Parses and checks the text of an expansion (`%%user.custom_data.team`).
///
/// ```
/// use expanse::expr::{parse_expansion, Base};
/// let e = parse_expansion("%%user.custom_data.prefs.0.lang").unwrap();
/// assert_eq!(e.base, Base::User);
/// assert_eq!(e.path.to_string(), "custom_data.prefs.0.lang");
/// let problem = parse_expansion("%%usr.id").unwrap_err();
/// assert_eq!(problem.suggestion.as_deref(), Some("%%user.id"));
/// ```
pub fn parse_expansion(text: &str) -> Result<Expansion, ExpansionProblem> {
    let parsed = ExpressionGrammar::parse(Rule::expansion, text).map_err(|_| ExpansionProblem {
        message: format!(
            "malformed expansion {text:?}: expected %%name.path with no empty segments"
        ),
        suggestion: None,
    })?;
    let mut root_name = "";
    let mut parts: Vec<String> = Vec::new();
    for pair in parsed.flatten() {
        match pair.as_rule() {
            Rule::expansion_root => root_name = pair.as_str(),
            Rule::path_segment => parts.push(pair.as_str().to_owned()),
            _ => {}
        }
    }
    let rest = |parts: &[String]| parts.iter().map(|p| format!(".{p}")).collect::<String>();
    let Some((_, base)) = ROOTS.iter().find(|(name, _)| *name == root_name) else {
        let suggestion = closest(root_name, ROOTS.iter().map(|(n, _)| *n))
            .map(|n| format!("%%{n}{}", rest(&parts)));
        return Err(ExpansionProblem {
            message: format!("unknown expansion %%{root_name}"),
            suggestion,
        });
    };
    if let (Some(first), Some(known)) = (parts.first(), base.known_fields()) {
        if !known.contains(&first.as_str()) {
            let suggestion = closest(first.trim_end_matches('%'), known.iter().copied())
                .map(|f| format!("%%{}.{f}{}", base.name(), rest(&parts[1..])));
            let message = if known.is_empty() {
                format!("%%{} has no fields", base.name())
            } else {
                format!(
                    "unknown field {first:?} of %%{} (it has {})",
                    base.name(),
                    known.join(", ")
                )
            };
            return Err(ExpansionProblem {
                message,
                suggestion,
            });
        }
    }
    // The expression docs spell the identity key `providerType`; user objects use `provider_type`.
    if *base == Base::User && parts.first().map(String::as_str) == Some("identities") {
        for part in parts.iter_mut().skip(1) {
            if part == "providerType" {
                *part = "provider_type".into();
            }
        }
    }
    Ok(Expansion {
        base: *base,
        path: FieldPath::from_parts(parts),
    })
}
