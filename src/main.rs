//! The `phonetree` binary: parses arguments and maps outcomes to exit codes.

// A webhook allocates and frees many small buffers across worker threads (form fields, the
// session, TwiML); mimalloc's per-thread heaps serve them with far less work than glibc's
// malloc, which took a quarter of the server's CPU under load (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    phonetree::cli::main()
}
