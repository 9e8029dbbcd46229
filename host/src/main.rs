//! The `waygate` binary: everything lives in the library; see `waygate::cli`.

fn main() -> std::process::ExitCode {
    waygate::cli::main()
}
