//! `rota-mock`: runs the mock provider server (see the library docs for the URL layout).

use std::path::PathBuf;

use clap::Parser;
use rota_mock::{MockConfig, MockServer};

/// Mock Anthropic / OpenAI / GitHub Copilot server for Rota's tests, benchmarks and demo mode.
#[derive(Debug, Parser)]
#[command(name = "rota-mock", version)]
struct Args {
    /// Seed three accounts per provider (one fresh, one near its limit, one cooling down).
    #[arg(long)]
    demo: bool,
    /// Port to bind on 127.0.0.1 (0 = a free one, printed).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Write `{base_url, urls, accounts}` (accounts with tokens) as JSON to this file.
    #[arg(long)]
    state_out: Option<PathBuf>,
    /// Delay between streamed events, milliseconds (demo default 25).
    #[arg(long)]
    stream_delay_ms: Option<u64>,
    /// Approve device-flow codes by themselves after this many milliseconds (demo default 3000).
    #[arg(long)]
    auto_approve_ms: Option<u64>,
    /// Print the accounts as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[allow(clippy::print_stdout)] // printing the base URL and accounts is this binary's interface
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let config = MockConfig {
        port: args.port,
        stream_chunk_delay_ms: args
            .stream_delay_ms
            .unwrap_or(if args.demo { 25 } else { 0 }),
        device_auto_approve_after_ms: args.auto_approve_ms.or(args.demo.then_some(3_000)),
        ..MockConfig::default()
    };
    let handle = MockServer::start(config).await?;
    let accounts = if args.demo {
        handle.seed_demo()
    } else {
        Vec::new()
    };
    let state = serde_json::json!({
        "base_url": handle.base_url(),
        "urls": handle.urls(),
        "accounts": accounts,
    });
    if let Some(path) = &args.state_out {
        std::fs::write(path, serde_json::to_vec_pretty(&state)?)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&state)?);
    } else {
        println!("rota-mock listening on {}", handle.base_url());
        let u = handle.urls();
        println!(
            "  anthropic: {}\n  openai:    {}\n  github:    {}\n  control:   {}",
            u.anthropic, u.openai, u.github, u.control
        );
        for a in &accounts {
            let u = &a.usage;
            let five = u.five_hour.map_or(0.0, |w| w.utilization);
            let seven = u.seven_day.map_or(0.0, |w| w.utilization);
            println!(
                "  {:<18} {:<20} 5h {five:>5.1}%  7d {seven:>5.1}%  premium {}/{}  access {}",
                a.id,
                a.email,
                u.premium_interactions.remaining,
                u.premium_interactions.entitlement,
                a.access_token.chars().take(24).collect::<String>() + "…",
            );
        }
        println!("Ctrl-C to stop.");
    }
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = handle.wait() => {}
    }
    Ok(())
}
