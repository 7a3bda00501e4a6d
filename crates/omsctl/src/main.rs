//! `omsctl`: the OMS command line (see `omsctl::cli`). The end-to-end tests build this same
//! file into their copy of the program.

fn main() -> std::process::ExitCode {
    omsctl::cli::main()
}
