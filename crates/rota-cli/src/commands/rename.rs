//! `rota auth rename <provider> <account> <label>`.

use rota_types::SuccessResponse;

use super::open_store;
use crate::cli::RenameArgs;
use crate::error::CliError;
use crate::output::Output;
use crate::pick::{account_error, parse_provider, require_accounts};

const USAGE: &str = "rota auth rename <provider> <account> <label>";

pub fn run(args: &RenameArgs, out: &Output) -> Result<(), CliError> {
    let provider = parse_provider(&args.provider, USAGE)?;
    // A bad label is a usage error (exit 2), caught before the store is touched.
    let label = rota_core::validate_label(&args.label)
        .map_err(|e| CliError::usage(format!("invalid <label>: {e}"), USAGE))?;
    let store = open_store()?;
    require_accounts(&store.load()?, provider)?;
    let renamed = rota_ops::rename(
        &store,
        &rota_ops::Target::typed(provider, &args.account),
        Some(&label),
    )
    .map_err(|e| account_error(e, provider))?;
    let old = renamed.old;
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
