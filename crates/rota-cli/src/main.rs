//! The `rota` binary: everything lives in the library ([`rota_cli::run`]) so tests and
//! benchmarks exercise the same code.

fn main() -> std::process::ExitCode {
    rota_cli::run()
}
