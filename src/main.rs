//! The `phonetree` binary: parses arguments and maps outcomes to exit codes.

fn main() -> std::process::ExitCode {
    phonetree::cli::main()
}
