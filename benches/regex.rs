//! The cost of MongoDB's regex dialect per match: `MongoRegex` (PCRE translated to the `regex`
//! crate, `fancy-regex` for backtracking features) beside what Expanse did before, in the same
//! run: the pattern handed to the `regex` crate unchanged, with the same size limit (its `\w`
//! is then Unicode and its `$` the very end, which is why it had to change).
//!
//! Run: `cargo bench --bench regex`. Results: BENCHMARKS.md.

// criterion's macros generate undocumented public items; a benchmark whose set-up fails stops.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use expanse::query::MongoRegex;

/// (case, pattern, options)
const CASES: &[(&str, &str, &str)] = &[
    ("prefix ^ab, i", "^ab", "i"),
    ("word class ^\\w+@\\w+\\.com$", r"^\w+@\w+\.com$", ""),
    ("alternation (red|green|blue)", "(red|green|blue)", ""),
];

/// How Expanse compiled a pattern before (the `regex` crate, the pattern unchanged).
fn before(pattern: &str, options: &str) -> regex::Regex {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .case_insensitive(options.contains('i'))
        .build()
        .expect("compiles")
}

const SUBJECTS: &[&str] = &[
    "abc",
    "ABCDEF",
    "alice@example.com",
    "no match here at all, a longer string of forty-odd chars",
    "the blue whale",
];

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("regex");
    for (name, pattern, options) in CASES {
        let ours = MongoRegex::new(pattern, options).expect("compiles");
        let theirs = before(pattern, options);
        group.bench_function(format!("{name} / before"), |b| {
            b.iter(|| {
                SUBJECTS
                    .iter()
                    .filter(|s| theirs.is_match(black_box(s)))
                    .count()
            })
        });
        group.bench_function(format!("{name} / MongoRegex"), |b| {
            b.iter(|| {
                SUBJECTS
                    .iter()
                    .filter(|s| ours.is_match(black_box(s)))
                    .count()
            })
        });
    }
    // A back-reference: only the backtracking engine runs it (no `regex` crate baseline).
    let backref = MongoRegex::new(r"(\w)\1", "").expect("compiles");
    group.bench_function("back-reference (\\w)\\1 / MongoRegex", |b| {
        b.iter(|| {
            SUBJECTS
                .iter()
                .filter(|s| backref.is_match(black_box(s)))
                .count()
        })
    });
    group.bench_function("compile ^\\w+@\\w+\\.com$ / MongoRegex", |b| {
        b.iter(|| MongoRegex::new(black_box(r"^\w+@\w+\.com$"), "").expect("compiles"))
    });
    group.bench_function("compile ^\\w+@\\w+\\.com$ / before", |b| {
        b.iter(|| before(black_box(r"^\w+@\w+\.com$"), ""))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
