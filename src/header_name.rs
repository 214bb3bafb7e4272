//! HTTP header names as App Services shows them to functions: each dash-separated word
//! capitalised (`content-type` → `Content-Type`), as Go, its runtime, canonicalises them.

/// `content-type` → `Content-Type`.
pub(crate) fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn each_word_is_capitalised() {
        assert_eq!(canonical("content-type"), "Content-Type");
        assert_eq!(canonical("x-request-ID"), "X-Request-ID");
        assert_eq!(canonical("a--b"), "A--B");
        assert_eq!(canonical(""), "");
    }
}
