//! Expanse's own app settings (`"expanse": {…}` in the root config), for choices App Services
//! does not offer.

use crate::query::NullSemantics;

/// How queries behave where Expanse lets the app choose.
///
/// Read from the root config (`root_config.json`):
///
/// ```json
/// {"name": "my-app", "expanse": {"query_semantics": "8.0", "allow_user_regex": false}}
/// ```
///
/// - `query_semantics`: `"8.0"` (the default) or `"9.0"`, the MongoDB release whose rules for
///   `null` through arrays the in-process matcher follows ([`NullSemantics`]).
/// - `allow_user_regex`: App Services lets only the system user query with regular
///   expressions (`$regex`, and a regular expression as a value: `{name: /^a/}`, inside `$in`,
///   `$nin`, `$all` or `$not`); `true` lets users do so too. Defaults to `false`.
///
/// ```
/// use expanse::app::QuerySettings;
/// let settings = QuerySettings::default();
/// assert!(!settings.allow_user_regex);
/// assert_eq!(settings.null_semantics.release(), "8.0");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuerySettings {
    /// The release whose null-through-arrays rules the matcher follows.
    pub null_semantics: NullSemantics,
    /// Whether users (not only the system user) may query with regular expressions.
    pub allow_user_regex: bool,
}

/// Default size limit of a `context.http` response body.
pub const DEFAULT_HTTP_MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// What `context.http` may reach (Expanse's choice: App Services let functions reach any
/// host). Read from the root config:
///
/// ```json
/// {"name": "my-app", "expanse": {"http": {"allowed_hosts": ["api.example.com", "*.example.org"],
///                                          "max_response_bytes": 1048576}}}
/// ```
///
/// - `allowed_hosts`: host names (or IP addresses) functions may send requests to, on any port;
///   `*.example.org` allows every subdomain of `example.org` (not `example.org` itself).
///   Empty or absent: `context.http` is disabled.
/// - `max_response_bytes`: the largest response body read (default 8 MiB).
///
/// ```
/// use expanse::app::HttpSettings;
/// let settings = HttpSettings {
///     allowed_hosts: vec!["api.example.com".into(), "*.example.org".into()],
///     ..HttpSettings::default()
/// };
/// assert!(settings.allows("API.example.com"));
/// assert!(settings.allows("eu.example.org"));
/// assert!(!settings.allows("example.org"));
/// assert!(!settings.allows("evil.com"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Host names (lower case) or `*.` patterns.
    pub allowed_hosts: Vec<String>,
    /// The largest response body read, in bytes.
    pub max_response_bytes: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            allowed_hosts: Vec::new(),
            max_response_bytes: DEFAULT_HTTP_MAX_RESPONSE_BYTES,
        }
    }
}

impl HttpSettings {
    /// Whether `context.http` is enabled (some host is allowed).
    pub fn enabled(&self) -> bool {
        !self.allowed_hosts.is_empty()
    }

    /// Whether requests may go to `host` (compared case-insensitively; an IPv6 address with or
    /// without brackets).
    pub fn allows(&self, host: &str) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.allowed_hosts.iter().any(|pattern| {
            let pattern = pattern.trim_start_matches('[').trim_end_matches(']');
            match pattern.strip_prefix("*.") {
                Some(domain) => host
                    .strip_suffix(domain)
                    .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                None => host == pattern,
            }
        })
    }
}

/// Why an `allowed_hosts` entry is refused, or `None` for a valid host name, IP address or
/// `*.domain` pattern.
pub(crate) fn host_pattern_problem(pattern: &str) -> Option<&'static str> {
    let name = pattern.strip_prefix("*.").unwrap_or(pattern);
    if name.is_empty() {
        return Some("an allowed host cannot be empty");
    }
    if name.contains("://") || name.contains('/') {
        return Some("an allowed host is a host name, without scheme or path");
    }
    if name.contains('*') {
        return Some("only a leading \"*.\" is allowed in a host pattern");
    }
    if name.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let bracketed = name.starts_with('[') && name.ends_with(']');
    if bracketed
        && name[1..name.len() - 1]
            .parse::<std::net::Ipv6Addr>()
            .is_ok()
    {
        return None;
    }
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() <= 253 && name.split('.').all(valid_label) {
        None
    } else {
        Some("an allowed host must be a host name or an IP address, without a port (any port is allowed)")
    }
}
