//! The `expanse` binary: see `expanse --help`.

fn main() -> std::process::ExitCode {
    expanse::cli::run()
}
