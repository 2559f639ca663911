//! The `valv` binary: see `valv::cli`.

fn main() -> std::process::ExitCode {
    valv::cli::run()
}
