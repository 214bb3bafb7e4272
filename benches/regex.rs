//! The cost of MongoDB's regex dialect per match: `MongoRegex` (PCRE translated to the `regex`
//! crate, `fancy-regex` for backtracking features) beside the `regex` crate running a pattern
//! written for it directly, as Expanse did before, in the same run.
//!
//! Run: `cargo bench --bench regex`. Results: BENCHMARKS.md.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use expanse::query::MongoRegex;

/// (case, MongoDB pattern, the same pattern written for the `regex` crate, options, subjects)
const CASES: &[(&str, &str, &str, &str)] = &[
    ("prefix ^ab, i", "^ab", "^ab", "i"),
    (
        "word class ^\\w+@\\w+\\.com$",
        r"^\w+@\w+\.com$",
        r"^(?-u:\w)+@(?-u:\w)+\.com\z",
        "",
    ),
    (
        "alternation (red|green|blue)",
        "(red|green|blue)",
        "(red|green|blue)",
        "",
    ),
];

const SUBJECTS: &[&str] = &[
    "abc",
    "ABCDEF",
    "alice@example.com",
    "no match here at all, a longer string of forty-odd chars",
    "the blue whale",
];

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("regex");
    for (name, mongo, plain, options) in CASES {
        let ours = MongoRegex::new(mongo, options).expect("compiles");
        let theirs = regex::RegexBuilder::new(plain)
            .case_insensitive(options.contains('i'))
            .build()
            .expect("compiles");
        group.bench_function(format!("{name} / MongoRegex"), |b| {
            b.iter(|| {
                SUBJECTS
                    .iter()
                    .filter(|s| ours.is_match(black_box(s)))
                    .count()
            })
        });
        group.bench_function(format!("{name} / regex crate"), |b| {
            b.iter(|| {
                SUBJECTS
                    .iter()
                    .filter(|s| theirs.is_match(black_box(s)))
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
    group.bench_function("compile ^\\w+@\\w+\\.com$ / regex crate", |b| {
        b.iter(|| regex::Regex::new(black_box(r"^(?-u:\w)+@(?-u:\w)+\.com\z")).expect("compiles"))
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
