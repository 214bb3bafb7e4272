//! AFL++ target: `expanse::fuzzing::fixture_file` on each input (see `fuzz-afl/README.md`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(text) = std::str::from_utf8(data) {
            expanse::fuzzing::fixture_file(text);
        }
    });
}
