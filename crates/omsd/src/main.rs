//! `omsd`: the OMS daemon and its operator commands (see `omsd::cli`). The end-to-end tests
//! build this same file into their copy of the program.

fn main() -> std::process::ExitCode {
    omsd::cli::main()
}
