//! The `expanse` binary: see `expanse --help`.

/// mimalloc: under `expanse serve` a request allocates and frees thousands of small values
/// (documents, Extended JSON text); glibc's allocator spent about a fifth of the server's CPU
/// on them (BENCHMARKS.md, "The HTTP server"). The library leaves the choice to its embedder.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    expanse::cli::run()
}
