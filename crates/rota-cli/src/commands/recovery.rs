//! `rota auth recovery [--ack] [--json]`: what the store repaired after a crash or a damaged
//! file, and acknowledging it (which ends the warnings every command prints).

use std::fmt::Write as _;

use rota_store::{PoolStore, StoreConfig};
use rota_types::{RecoveriesResponse, RecoveryNotice};

use crate::cli::RecoveryArgs;
use crate::error::CliError;
use crate::output::Output;

pub fn run(args: &RecoveryArgs, out: &Output) -> Result<(), CliError> {
    let store = PoolStore::open(StoreConfig::from_env()?)?;
    let notices = if args.ack {
        store.acknowledge_recoveries()?
    } else {
        store.pending_recoveries()
    };
    if out.json {
        out.print_json(&RecoveriesResponse {
            recoveries: notices.iter().map(RecoveryNotice::from).collect(),
        });
        return Ok(());
    }
    let mut text = String::new();
    if notices.is_empty() {
        text.push_str("No recoveries to report.\n");
    }
    for n in &notices {
        let _ = writeln!(text, "{} {n}", out.yellow("▲"));
    }
    if args.ack && !notices.is_empty() {
        let _ = writeln!(text, "Acknowledged {} recovery notice(s).", notices.len());
    } else if !notices.is_empty() {
        let _ = writeln!(
            text,
            "Check the accounts named above, then run `rota auth recovery --ack`."
        );
    }
    out.print(&text);
    Ok(())
}
