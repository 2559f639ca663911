//! The `valv` binary: see `valv::cli`.

/// mimalloc: the store allocates and frees many small nodes per insert; with glibc malloc that
/// was a fifth of the server's time (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    valv::cli::run()
}
