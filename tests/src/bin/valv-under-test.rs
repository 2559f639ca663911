//! The real `valv` entry point under a binary name this package owns, so end-to-end tests can
//! run it as a child process (and kill -9 it).

fn main() -> std::process::ExitCode {
    valv::cli::run()
}
