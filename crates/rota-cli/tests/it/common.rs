//! Shared test harness: a temporary `ROTA_HOME` (file secret store), seeded through
//! `rota-store`'s own API, and the real `rota` binary run against it.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rota_core::{NewLogin, PoolState, Ulid};
use rota_store::{PoolStore, SecretBundle, SecretStoreMode, StoreConfig, now_ms};
use rota_types::WindowKind::{FiveHour, Premium, SevenDay};
use rota_types::{
    AccountIdentity, AnthropicExtra, CopilotUsage, DEFAULT_NAMESPACE, OpenAiUsage, ProviderId,
    ProviderUsage, UnixMs, UsageSnapshot, UsageWindow,
};

pub const MINUTE: i64 = 60_000;
pub const HOUR: i64 = 60 * MINUTE;

/// The path of the binary under test.
pub const ROTA: &str = env!("CARGO_BIN_EXE_rota");

pub struct Env {
    pub root: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Self {
            root: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// `$HOME` of the child: the store path then prints as `~/rota-home`.
    pub fn home(&self) -> &Path {
        self.root.path()
    }

    pub fn rota_home(&self) -> PathBuf {
        self.root.path().join("rota-home")
    }

    pub fn config(&self) -> StoreConfig {
        StoreConfig::new(self.rota_home()).with_secret_store(SecretStoreMode::File)
    }

    pub fn store(&self) -> PoolStore {
        PoolStore::open(self.config()).expect("open store")
    }

    pub fn state(&self) -> PoolState {
        self.store().load().expect("load")
    }

    /// A `rota` command with the test environment (file secrets, our HOME, UTF-8), stdio
    /// untouched (a pseudo-terminal session sets its own).
    pub fn cmd_tty(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(ROTA);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("ROTA_HOME", self.rota_home())
            .env("ROTA_SECRET_STORE", "file")
            .env("LANG", "C.UTF-8")
            .env("TERM", "xterm");
        cmd
    }

    /// A `rota` command as a script runs it: stdin not a terminal, no colour.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.cmd_tty(args);
        cmd.env("NO_COLOR", "1").stdin(Stdio::null());
        cmd
    }

    /// Runs `rota` with stdin not a terminal.
    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.cmd(args).output().expect("run rota");
        Run::from(output)
    }

    /// Adds an account through the store (it becomes active, as a login would).
    pub fn add(&self, provider: ProviderId, label: &str, email: Option<&str>, token: &str) -> Ulid {
        let login = NewLogin {
            identity: AccountIdentity {
                account_id: Some(format!("acct-{label}")),
                email: email.map(str::to_owned),
                ..AccountIdentity::default()
            },
            label: Some(label.to_owned()),
        };
        self.store()
            .upsert_account(
                provider,
                DEFAULT_NAMESPACE,
                login,
                SecretBundle::new(token).with_refresh(format!("{token}-refresh")),
                now_ms(),
            )
            .expect("upsert")
            .id
    }

    /// Stores an account created at rota-mock with its current tokens (it becomes active).
    pub fn store_mock_account(&self, info: &rota_mock::AccountInfo) -> Ulid {
        rota_mock::seed::store_account(&self.store(), info)
    }

    /// The seed's example: Anthropic with Account 1 (work@example.com), Account 2, Account 3;
    /// Account 1 active.
    pub fn seed_anthropic3(&self) -> [Ulid; 3] {
        let a3 = self.add(ProviderId::Anthropic, "Account 3", None, "tok-a3");
        let a2 = self.add(ProviderId::Anthropic, "Account 2", None, "tok-a2");
        let a1 = self.add(
            ProviderId::Anthropic,
            "Account 1",
            Some("work@example.com"),
            "tok-a1",
        );
        [a1, a2, a3]
    }

    /// Anthropic ×3 (seed), OpenAI ×2, GitHub Copilot ×1, with usage, counters, a cooldown and a
    /// re-login flag, so every part of the output has something to show.
    pub fn seed_full(&self) -> Seeded {
        let anthropic = self.seed_anthropic3();
        let o2 = self.add(
            ProviderId::OpenAi,
            "Account 2",
            Some("me@chatgpt.example"),
            "tok-o2",
        );
        let o1 = self.add(
            ProviderId::OpenAi,
            "Account 1",
            Some("dev@chatgpt.example"),
            "tok-o1",
        );
        let c1 = self.add(ProviderId::GithubCopilot, "octocat", None, "tok-c1");
        let now = now_ms();
        // Margins keep the relative texts stable while the test runs ("12 min ago" for 40 s).
        let fetched = now - 12 * MINUTE - 10_000;
        let reset = |d: i64| Some(now + d - 20_000);
        self.store()
            .mutate(|txn| -> rota_store::Result<()> {
                let s = &mut txn.state;
                s.record_usage(
                    ProviderId::Anthropic,
                    anthropic[0],
                    snapshot(
                        fetched,
                        vec![
                            UsageWindow::new(FiveHour, 42.4, reset(3 * HOUR + 12 * MINUTE)),
                            UsageWindow::new(SevenDay, 12.0, reset(51 * HOUR)),
                            UsageWindow::scoped(SevenDay, "Fable", 100.0, reset(51 * HOUR))
                                .with_severity(rota_types::Severity::Critical),
                        ],
                        ProviderUsage::Anthropic(AnthropicExtra::default()),
                    ),
                )?;
                s.record_usage(
                    ProviderId::Anthropic,
                    anthropic[1],
                    snapshot(
                        fetched - 2 * HOUR,
                        vec![
                            UsageWindow::new(FiveHour, 97.0, reset(25 * MINUTE)),
                            UsageWindow::new(SevenDay, 64.0, reset(80 * HOUR)),
                        ],
                        ProviderUsage::Anthropic(AnthropicExtra::default()),
                    ),
                )?;
                s.record_usage(
                    ProviderId::OpenAi,
                    o1,
                    snapshot(
                        fetched,
                        vec![
                            UsageWindow::new(FiveHour, 55.0, reset(2 * HOUR)),
                            UsageWindow::new(SevenDay, 81.0, reset(100 * HOUR)),
                        ],
                        ProviderUsage::OpenAi(OpenAiUsage::default()),
                    ),
                )?;
                s.record_usage(
                    ProviderId::GithubCopilot,
                    c1,
                    snapshot(
                        fetched,
                        vec![UsageWindow::new(Premium, 30.0, reset(10 * 24 * HOUR))],
                        ProviderUsage::GithubCopilot(CopilotUsage {
                            entitlement: Some(300),
                            remaining: Some(210.0),
                            unlimited: false,
                            credits: false,
                        }),
                    ),
                )?;
                let pool = s.providers.get_mut(&ProviderId::Anthropic).unwrap();
                for r in &mut pool.records {
                    if r.id == anthropic[0] {
                        r.health.success_count = 120;
                        r.health.failure_count = 3;
                        r.health.last_status_code = Some(200);
                    }
                    if r.id == anthropic[1] {
                        r.health.success_count = 40;
                        r.health.failure_count = 1;
                        r.health.last_status_code = Some(429);
                        r.health.cooldown_until = Some(now + 25 * MINUTE - 20_000);
                    }
                    if r.id == anthropic[2] {
                        r.health.needs_reauth = true;
                    }
                }
                Ok(())
            })
            .expect("seed usage");
        Seeded {
            anthropic,
            openai: [o1, o2],
            copilot: c1,
        }
    }
}

pub struct Seeded {
    pub anthropic: [Ulid; 3],
    pub openai: [Ulid; 2],
    pub copilot: Ulid,
}

fn snapshot(fetched_at: UnixMs, windows: Vec<UsageWindow>, usage: ProviderUsage) -> UsageSnapshot {
    UsageSnapshot {
        fetched_at,
        status: None,
        windows,
        usage,
    }
}

/// A finished run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:#?}"))
    }
}

/// Insta settings scrubbing what changes between runs: ULIDs, unix-ms times, temp paths.
pub fn insta_settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"\b[0-7][0-9A-HJKMNP-TV-Z]{25}\b", "[ULID]");
    s.add_filter(r"\b1[0-9]{12}\b", "[UNIX_MS]");
    s.add_filter(r"/tmp/\.tmp[A-Za-z0-9]+", "[TMP]");
    s.set_prepend_module_to_snapshot(false);
    s
}
