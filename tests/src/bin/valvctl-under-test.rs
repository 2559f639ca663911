//! The real `valvctl` entry point under a binary name this package owns, for the README
//! walkthrough test.

fn main() -> std::process::ExitCode {
    valvctl::main()
}
