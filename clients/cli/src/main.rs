//! The `valvctl` binary: see the library.

fn main() -> std::process::ExitCode {
    valvctl::main()
}
