//! The `rota` binary: everything lives in the library ([`rota_cli::run`]) so tests and
//! benchmarks exercise the same code.

// `rota serve` hosts the gateway: its per-request allocations are cheaper with this allocator.
#[global_allocator]
static GLOBAL: rota_gateway::GlobalAllocator = rota_gateway::GlobalAllocator;

fn main() -> std::process::ExitCode {
    rota_cli::run()
}
