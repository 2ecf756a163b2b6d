//! `rota auth login <provider>`: the provider's login flow in the terminal (docs/product.md §2).
//!
//! - Anthropic: the policy notice (docs/product.md §9), the authorize URL (a browser is opened
//!   when possible), then the pasted `code#state` or redirect URL — from `--code`, a prompt on a
//!   terminal, or the first line of standard input otherwise.
//! - OpenAI: browser + loopback callback on `127.0.0.1` by default; `--device` for the
//!   device-code flow.
//! - GitHub Copilot: device code (optionally on a GitHub Enterprise domain).
//!
//! On success the account is upserted (the newest login becomes active) and printed. Human text
//! goes to stdout, or to stderr with `--json` so that stdout stays one JSON document.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::time::Duration;

use rota_providers::{LoginResult, ProviderError, Providers, ProvidersConfig};
use rota_store::now_ms;
use rota_types::{ApiError, DEFAULT_NAMESPACE, ErrorCode, ProviderId};

use super::open_store;
use crate::cli::LoginArgs;
use crate::error::CliError;
use crate::output::Output;
use crate::pick::{account_name, parse_provider, stdin_is_terminal};

const USAGE: &str = "rota auth login <anthropic|openai|github-copilot> [--device] [--enterprise DOMAIN] [--code CODE#STATE] [--json]";

/// The notice shown before every Anthropic login: the policy, then the CLI's next step.
fn anthropic_notice() -> String {
    format!(
        "Note: {} let Claude Code keep its own login and import it (`rota auth import claude-code`).",
        rota_types::display::ANTHROPIC_SIGN_IN_POLICY
    )
}

pub fn run(args: &LoginArgs, out: &Output) -> Result<(), CliError> {
    let provider = parse_provider(&args.provider, USAGE)?;
    if args.device && provider != ProviderId::OpenAi {
        return Err(CliError::usage("--device is only for openai", USAGE));
    }
    if args.enterprise.is_some() && provider != ProviderId::GithubCopilot {
        return Err(CliError::usage(
            "--enterprise is only for github-copilot",
            USAGE,
        ));
    }
    if args.code.is_some() && provider != ProviderId::Anthropic {
        return Err(CliError::usage("--code is only for anthropic", USAGE));
    }
    // Check the store before talking to anyone.
    let store = open_store()?;
    let providers = Providers::new(config(args)?).map_err(provider_error)?;
    let ui = Ui {
        json: out.json,
        browser: !args.no_browser && std::env::var_os(rota_config::env::NO_BROWSER).is_none(),
        timeout: Duration::from_secs(args.timeout.max(1)),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(ErrorCode::Os, format!("cannot start the runtime: {e}")))?;
    let result = match provider {
        ProviderId::Anthropic => anthropic(&runtime, &providers, args, &ui),
        ProviderId::OpenAi if args.device => openai_device(&runtime, &providers, &ui),
        ProviderId::OpenAi => openai_browser(&runtime, &providers, &ui),
        ProviderId::GithubCopilot => copilot(&runtime, &providers, &ui),
    }?;
    let upserted = store.upsert_account(
        provider,
        DEFAULT_NAMESPACE,
        result.new_login(),
        result.secrets,
        now_ms(),
    )?;
    let id = upserted.id.to_string();
    let handed_off = super::handoff_line(&rota_ops::Handoff::sync(&store, provider));
    let state = store.load()?;
    let summary = state
        .get_accounts(provider, DEFAULT_NAMESPACE, now_ms())
        .into_iter()
        .find(|a| a.id == id)
        .ok_or_else(|| CliError::failed(ErrorCode::Internal, "the new account is missing"))?;
    if out.json {
        out.print_json(&summary);
    } else {
        out.print(&format!(
            "Logged in as {} ({})\n",
            out.bold(&account_name(&summary)),
            provider
        ));
        if let Some(line) = handed_off {
            out.print(&format!("{line}\n"));
        }
    }
    Ok(())
}

/// The providers' URLs as every surface reads them (defaults, `config.toml`, the environment),
/// then `--enterprise`.
fn config(args: &LoginArgs) -> Result<ProvidersConfig, CliError> {
    let mut c = super::providers_config(USAGE)?;
    if let Some(domain) = &args.enterprise {
        let mocked = std::env::var(rota_config::env::PROVIDERS_MOCK_BASE)
            .is_ok_and(|b| !b.trim().is_empty());
        if mocked {
            // rota-mock serves every GitHub host under one base: only the domain changes.
            domain
                .trim()
                .trim_start_matches("https://")
                .trim_end_matches('/')
                .clone_into(&mut c.github.domain);
        } else {
            let mut g = rota_providers::GithubConfig::for_domain(domain);
            g.client_id.clone_from(&c.github.client_id);
            g.slow_down_secs = c.github.slow_down_secs;
            g.copilot_token_skew_secs = c.github.copilot_token_skew_secs;
            c.github = g;
        }
    }
    Ok(c)
}

/// How the flow talks to the person running it.
struct Ui {
    json: bool,
    browser: bool,
    timeout: Duration,
}

impl Ui {
    /// A line for the person: stdout normally, stderr with `--json`.
    fn say(&self, line: &str) {
        if self.json {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        } else {
            let mut o = std::io::stdout().lock();
            let _ = writeln!(o, "{line}");
            let _ = o.flush();
        }
    }

    /// Tries to open `url` in a browser; never fails (the URL is printed anyway).
    fn open(&self, url: &str) {
        if !self.browser || !std::io::stdout().is_terminal() {
            return;
        }
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else if cfg!(windows) {
            "explorer"
        } else {
            "xdg-open"
        };
        let _ = std::process::Command::new(opener)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }

    /// Runs `fut` behind a spinner when a person is watching.
    fn wait<T>(
        &self,
        runtime: &tokio::runtime::Runtime,
        message: &str,
        fut: impl Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, CliError> {
        let spinner = (!self.json && stdin_is_terminal()).then(|| {
            let s = cliclack::spinner();
            s.start(message);
            s
        });
        let result = runtime.block_on(fut);
        if let Some(s) = spinner {
            match &result {
                Ok(_) => s.stop("Approved"),
                Err(_) => s.error("Login failed"),
            }
        }
        result.map_err(provider_error)
    }
}

fn provider_error(e: ProviderError) -> CliError {
    CliError::Failed(ApiError::from(e))
}

fn anthropic(
    runtime: &tokio::runtime::Runtime,
    providers: &Providers,
    args: &LoginArgs,
    ui: &Ui,
) -> Result<LoginResult, CliError> {
    let interactive = args.code.is_none() && stdin_is_terminal();
    ui.say(&anthropic_notice());
    ui.say("");
    let login = rota_providers::anthropic::PasteLogin::begin(providers).map_err(provider_error)?;
    if args.code.is_none() {
        ui.say("Open this URL, sign in and copy the code it shows:");
        ui.say(&login.url);
        ui.say("");
        ui.open(&login.url);
    }
    let pasted = match &args.code {
        Some(code) => code.clone(),
        None if interactive => cliclack::input("Paste the code (code#state) or the redirect URL")
            .validate(|s: &String| {
                if s.trim().is_empty() {
                    Err("paste the code the page shows")
                } else {
                    Ok(())
                }
            })
            .interact::<String>()?,
        None => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            if line.trim().is_empty() {
                return Err(CliError::usage(
                    "no code: pass --code CODE#STATE or pipe it on standard input",
                    USAGE,
                ));
            }
            line
        }
    };
    runtime
        .block_on(login.complete(providers, pasted.trim()))
        .map_err(provider_error)
}

fn openai_browser(
    runtime: &tokio::runtime::Runtime,
    providers: &Providers,
    ui: &Ui,
) -> Result<LoginResult, CliError> {
    let login = runtime
        .block_on(rota_providers::openai::BrowserLogin::begin(providers))
        .map_err(provider_error)?;
    ui.say("Open this URL in a browser on this machine and sign in:");
    ui.say(&login.url);
    ui.say(&format!(
        "(waiting for the callback on 127.0.0.1:{}; on a machine without a browser use --device)",
        login.port()
    ));
    ui.open(&login.url);
    ui.wait(
        runtime,
        "Waiting for the browser…",
        login.complete(providers, ui.timeout),
    )
}

fn openai_device(
    runtime: &tokio::runtime::Runtime,
    providers: &Providers,
    ui: &Ui,
) -> Result<LoginResult, CliError> {
    let login = runtime
        .block_on(rota_providers::openai::DeviceLogin::begin(providers))
        .map_err(provider_error)?;
    ui.say(&format!("Open {}", login.verification_url));
    ui.say(&format!("and enter the code {}", login.user_code));
    ui.open(&login.verification_url);
    ui.wait(
        runtime,
        "Waiting for approval…",
        login.wait(providers, ui.timeout),
    )
}

fn copilot(
    runtime: &tokio::runtime::Runtime,
    providers: &Providers,
    ui: &Ui,
) -> Result<LoginResult, CliError> {
    let mut login = runtime
        .block_on(rota_providers::copilot::DeviceLogin::begin(providers))
        .map_err(provider_error)?;
    ui.say(&format!("Open {}", login.verification_uri));
    ui.say(&format!("and enter the code {}", login.user_code));
    ui.open(&login.verification_uri);
    let timeout = ui.timeout;
    ui.wait(
        runtime,
        "Waiting for approval…",
        login.wait(providers, timeout),
    )
}
