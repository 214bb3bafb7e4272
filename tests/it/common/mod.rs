//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod apps;
pub mod generate;

/// The URI of the MongoDB-wire test server started by `scripts/test`.
///
/// Returns `None` (the caller skips, saying so) when no server was configured; panics when
/// `EXPANSE_REQUIRE_MONGODB` is set, so CI can never skip these tests silently.
pub fn mongodb_uri(test: &str) -> Option<String> {
    match std::env::var("MONGODB_URI") {
        Ok(uri) if !uri.is_empty() => Some(uri),
        _ => {
            if std::env::var_os("EXPANSE_REQUIRE_MONGODB").is_some() {
                panic!("{test}: EXPANSE_REQUIRE_MONGODB is set but MONGODB_URI is not");
            }
            eprintln!("{test}: skipped, MONGODB_URI is not set (scripts/test sets it)");
            None
        }
    }
}

/// A small deterministic generator (SplitMix64), so generated cases are reproducible by seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Runs the `expanse` binary with `args` in the package root.
pub fn expanse(args: &[&str]) -> std::process::Output {
    expanse_in(env!("CARGO_MANIFEST_DIR"), args)
}

/// Runs the `expanse` binary with `args` in `dir`.
pub fn expanse_in(dir: impl AsRef<std::path::Path>, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_expanse"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run expanse")
}
