//! "Did you mean …?" suggestions by edit distance, for every reader's unknown names.

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
///
/// ```
/// use expanse::suggest::closest;
/// assert_eq!(closest("usr", ["user", "root", "values"]), Some("user"));
/// assert_eq!(closest("zzzzzz", ["user", "root"]), None);
/// ```
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    let candidates: Vec<&'a str> = candidates.into_iter().collect();
    // A truncated name (`custom` for `custom_data`) is a typo too.
    if word.len() >= 3 {
        if let Some(prefixed) = candidates
            .iter()
            .find(|c| c.to_lowercase().starts_with(&word.to_lowercase()))
        {
            return Some(prefixed);
        }
    }
    candidates
        .into_iter()
        .map(|c| (distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance between two strings, in characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}
