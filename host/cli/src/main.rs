//! The `waygate` binary: everything lives in the library; see `waygate_cli`.

fn main() -> std::process::ExitCode {
    waygate_cli::main()
}
