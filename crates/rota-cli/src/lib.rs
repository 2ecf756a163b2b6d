//! `rota`, the command line of Rota: manage the account pools the desktop app and the gateway
//! use, from a terminal or a script (docs/interfaces.md §2).
//!
//! # Shape
//!
//! - [`cli`]: the clap command tree. Only this crate knows clap.
//! - `commands/*`: one module per subcommand; each resolves its arguments (prompting only when
//!   interactive), calls one `rota-store` operation and renders the result as text or as the
//!   `rota-types` JSON the HTTP API uses.
//! - `pick`: provider/account resolution (id, id prefix, unambiguous label) and the clack-style
//!   prompts (`cliclack`), used only when standard input is a terminal and no argument was given.
//! - `usage_source`: where `rota auth usage` gets values: a live parallel fetch through
//!   `rota-providers` (or only the store's cache with `--cached`).
//! - `commands/login`: the providers' login flows in the terminal (paste, loopback, device).
//! - `commands/serve`: `rota serve`, the `rota-gateway` headless until SIGINT/SIGTERM.
//!
//! # Boundaries
//!
//! Store-only commands are synchronous and never start an async runtime or touch the network
//! (only `usage` and `login` start a single-threaded runtime, `serve` a two-worker one);
//! listing opens the store with [`rota_store::Store::open_quick`] so it needs no keychain round
//! trip. No command prints a token: it only ever handles `rota-types` summaries.
//! Exit codes: 0 ok, 1 operation failed, 2 usage error.

pub mod cli;
mod commands;
mod error;
mod output;
mod pick;
mod usage_source;

use std::process::ExitCode;

use clap::Parser;

pub use error::CliError;
pub use usage_source::{CachedUsage, FetchOutcome, FetchedUsage, LiveUsage, UsageSource};

/// Parses the process arguments, runs the command and returns its exit code.
pub fn run() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let out = output::Output::new(cli.json());
    match commands::run(cli, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            out.error(&e);
            ExitCode::from(e.exit_code())
        }
    }
}
