//! AFL++ target: `expanse::fuzzing::update_apply` on each input (a document, a line break, an
//! update; see `fuzz-afl/README.md`).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(text) = std::str::from_utf8(data) {
            expanse::fuzzing::update_apply(text);
        }
    });
}
