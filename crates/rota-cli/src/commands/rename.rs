//! `rota auth rename <provider> <account> <label>`.

use rota_store::now_ms;
use rota_types::SuccessResponse;

use super::open_store;
use crate::cli::RenameArgs;
use crate::error::CliError;
use crate::output::Output;
use crate::pick::{parse_provider, resolve_account};

const USAGE: &str = "rota auth rename <provider> <account> <label>";

pub fn run(args: &RenameArgs, out: &Output) -> Result<(), CliError> {
    let provider = parse_provider(&args.provider, USAGE)?;
    // A bad label is a usage error (exit 2), caught before the store is touched.
    let label = rota_core::validate_label(&args.label)
        .map_err(|e| CliError::usage(format!("invalid <label>: {e}"), USAGE))?;
    let store = open_store()?;
    let now = now_ms();
    let old = store.mutate(|txn| -> Result<_, CliError> {
        let id = resolve_account(&txn.state, provider, &args.account)?;
        let old = txn
            .state
            .record(provider, id)
            .map(|r| r.label.clone())
            .unwrap_or_default();
        txn.state.rename(provider, id, &label, now)?;
        Ok(old)
    })?;
    if out.json {
        out.print_json(&SuccessResponse::OK);
    } else {
        out.print(&format!(
            "Renamed {} to {}.\n",
            out.bold(&old),
            out.bold(&label)
        ));
    }
    Ok(())
}
