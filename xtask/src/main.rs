//! `cargo xtask …` — the project's single entry point for set-up, building, running and testing.
//!
//! - `run`   set up what is missing, build the UI, start the desktop app
//! - `test`  set up, then fmt, clippy, every unit/integration/e2e test, and the UI's wasm build
//! - `build-ui`, `setup`, `bench <name>` for the pieces
//! - `demo`  the app against `rota-mock --demo` with a seeded throwaway store
//! - `bundle` a `.deb` and an `.rpm` from the release build, each unpacked and started
//! - `check-platforms` clippy for Windows and macOS, actionlint on the workflows
//!   (`platforms.rs`, with `macos-sdk-stub/`); `icons` the `.ico`/`.icns` from `icon.png`
//!
//! Set-up installs what a fresh Debian/Ubuntu machine lacks: system packages (apt-get when
//! root, else the exact command is printed), the wasm target, wasm-bindgen-cli at the version
//! Cargo.lock pins, and tauri-driver for the end-to-end tests.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

mod bench_app;
mod bundle;
mod demo;
#[cfg(test)]
mod doc_refs;
mod platforms;

/// Debian packages needed to build and run the app (first list) and to test it (second).
const BUILD_PACKAGES: &[&str] = &[
    "build-essential",
    "pkg-config",
    "libssl-dev",
    "libwebkit2gtk-4.1-dev",
    "libgtk-3-dev",
    "libsoup-3.0-dev",
    "libayatana-appindicator3-dev",
    "librsvg2-dev",
    "libxdo-dev",
    "libdbus-1-dev",
];
const TEST_PACKAGES: &[&str] = &[
    "xvfb",
    "xauth",
    "dbus-daemon",
    "webkit2gtk-driver",
    "gnome-keyring",
    "imagemagick",
    "xdotool",
];
const TAURI_DRIVER_VERSION: &str = "2.1.0";
/// The coding tools rota-cli's `connect_tools` tests run for real, pinned (`npm` package,
/// version). Installed into [`tools_dir`], kept between runs.
const CODING_TOOLS: &[(&str, &str)] = &[
    ("@anthropic-ai/claude-code", "2.1.330"),
    ("@openai/codex", "0.171.0"),
    ("opencode-ai", "1.18.33"),
];
/// The SDK version rota-gateway's integration test was written against.
const ANTHROPIC_SDK: &str = "anthropic==2.12.0";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(),
        Some("test") => test(),
        Some("setup") => setup(true),
        Some("build-ui") => build_ui(),
        Some("demo") => demo::demo(),
        Some("bundle") => bundle::bundle(&args[1..]),
        Some("check-platforms") => setup(true).and_then(|()| platforms::check_platforms()),
        Some("icons") => platforms::icons(),
        Some("bench") if args.get(1).is_some_and(|a| a == "app") => {
            bench_app::bench_app(&args[2..])
        }
        Some("bench") => bench(args.get(1).map(String::as_str)),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n  run        set up, build the UI and start Rota\n  test       set up, then fmt, clippy, all tests (unit, integration, end-to-end)\n  setup      install what is missing (system packages, wasm target, wasm-bindgen, tauri-driver)\n  build-ui   build the Leptos UI into ui/dist\n  demo       Rota with demo accounts and traffic from rota-mock (throwaway data)\n  check-platforms  clippy -D warnings on the product crates for Windows and macOS, actionlint\n  icons      regenerate icons/icon.ico and icon.icns from icon.png\n  bundle     build installable .deb and .rpm (release app + rota CLI) and check each [--debug]\n  bench NAME benchmarks, figures printed (store, cli, cli-usage, usage, gateway, app [--minutes N])"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    // `cargo run` sets CARGO_MANIFEST_DIR at run time too. Prefer that: cargo reuses an xtask
    // binary built from another clone sharing the target dir (CI's cache), and that clone's
    // compile-time path may be gone.
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .expect("xtask is inside the workspace")
        .to_owned()
}

fn cargo() -> Command {
    let mut cmd = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

fn cargo_bin_dir() -> PathBuf {
    env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
        .join("bin")
}

fn step(name: &str) {
    eprintln!("\n\x1b[1m==> {name}\x1b[0m");
}

fn status(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let started = Instant::now();
    let st = cmd
        .status()
        .with_context(|| format!("could not start {shown}"))?;
    if !st.success() {
        bail!("{shown} failed ({st})");
    }
    eprintln!("    ({:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

// ---------------------------------------------------------------------------------------------
// Set-up

fn setup(for_tests: bool) -> Result<()> {
    // Binaries installed by `cargo install` must be found by us and by the tests.
    let bin = cargo_bin_dir();
    let path = env::var_os("PATH").unwrap_or_default();
    let mut paths: Vec<PathBuf> = env::split_paths(&path).collect();
    if !paths.contains(&bin) {
        paths.insert(0, bin);
        // SAFETY-free: single-threaded at this point; children inherit the new PATH.
        set_env("PATH", env::join_paths(paths)?);
    }

    step("system packages");
    let mut wanted: Vec<&str> = BUILD_PACKAGES.to_vec();
    if for_tests {
        wanted.extend_from_slice(TEST_PACKAGES);
        wanted.extend_from_slice(platforms::CROSS_PACKAGES);
    }
    ensure_packages(&wanted)?;

    step("wasm32 target");
    let installed =
        output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if installed
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        eprintln!("    present");
    } else {
        status(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }

    step("wasm-bindgen-cli");
    let want = locked_version("wasm-bindgen")?;
    let have = output(Command::new("wasm-bindgen").arg("--version")).unwrap_or_default();
    if have.split_whitespace().nth(1) == Some(want.as_str()) {
        eprintln!("    wasm-bindgen {want} present");
    } else {
        // Without --locked: the CLI's own lock file wants a webpki-roots release the registry
        // mirror does not carry.
        status(cargo().args(["install", "wasm-bindgen-cli", "--version", &want]))?;
    }

    if for_tests {
        platforms::ensure_targets()?;

        step("tauri-driver");
        if output(Command::new("tauri-driver").arg("--help")).is_some()
            || cargo_bin_dir().join("tauri-driver").exists()
        {
            eprintln!("    present");
        } else {
            status(cargo().args([
                "install",
                "--locked",
                "tauri-driver",
                "--version",
                TAURI_DRIVER_VERSION,
            ]))?;
        }

        step("coding tools (npm)");
        install_coding_tools()?;

        // rota-gateway's integration test drives the gateway with the official SDK.
        step("anthropic Python SDK");
        if output(Command::new("python3").args(["-c", "import anthropic"])).is_some() {
            eprintln!("    present");
        } else {
            let pip = |extra: &[&str]| {
                status(
                    Command::new("python3")
                        .args(["-m", "pip", "install", "--quiet", ANTHROPIC_SDK])
                        .args(extra),
                )
            };
            // Debian's own python3 refuses system-wide pip installs (PEP 668): install for this
            // user only, which touches no Debian package.
            if pip(&[]).is_err() {
                pip(&["--user", "--break-system-packages"])?;
            }
        }
    }
    Ok(())
}

/// `~/.cache/rota-npm`: the npm prefix of [`CODING_TOOLS`] (its `node_modules/.bin` is where
/// the tests look).
fn tools_dir() -> Result<PathBuf> {
    let home = env::var_os("HOME").context("HOME is not set")?;
    Ok(PathBuf::from(home).join(".cache/rota-npm"))
}

/// Installs the pinned tools unless each is already there at its version (a warm run needs no
/// network). npm 11 runs no install scripts by default; none of the three needs one (Claude
/// Code and opencode ship their platform binary as an optional dependency).
fn install_coding_tools() -> Result<()> {
    // The machine's own Node.js and npm when it has them (this image ships Node 20 with npm
    // 11 from NodeSource; Debian's `npm` package would fight over /usr/bin/npm), else Debian's.
    if output(Command::new("npm").arg("--version")).is_none() {
        ensure_packages(&["nodejs", "npm"])?;
    }
    let dir = tools_dir()?;
    let missing: Vec<String> = CODING_TOOLS
        .iter()
        .filter(|(name, version)| {
            let manifest = dir.join("node_modules").join(name).join("package.json");
            let found = fs::read_to_string(manifest).unwrap_or_default();
            !found.contains(&format!("\"version\": \"{version}\""))
        })
        .map(|(name, version)| format!("{name}@{version}"))
        .collect();
    if missing.is_empty() {
        eprintln!("    present in {}", dir.display());
        return Ok(());
    }
    fs::create_dir_all(&dir)?;
    // All three in one install: a partial list would let npm prune the others.
    let all: Vec<String> = CODING_TOOLS
        .iter()
        .map(|(name, version)| format!("{name}@{version}"))
        .collect();
    status(
        Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--no-save",
                "--prefix",
            ])
            .arg(&dir)
            .args(&all),
    )
}

fn set_env(key: &str, value: impl AsRef<std::ffi::OsStr>) {
    // SAFETY: xtask sets variables only from its main thread before spawning any thread.
    #[allow(unsafe_code)] // env::set_var is unsafe since edition 2024; see the SAFETY note.
    unsafe {
        env::set_var(key, value);
    }
}

fn ensure_packages(wanted: &[&str]) -> Result<()> {
    if output(Command::new("dpkg-query").arg("--version")).is_none() {
        eprintln!(
            "    not a Debian/Ubuntu system: make sure the equivalents of these are installed:\n    {}",
            wanted.join(" ")
        );
        return Ok(());
    }
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|p| {
            output(Command::new("dpkg-query").args(["-W", "-f=${Status}", p]))
                .is_none_or(|s| !s.contains("install ok installed"))
        })
        .collect();
    if missing.is_empty() {
        eprintln!("    all {} present", wanted.len());
        return Ok(());
    }
    let is_root = output(Command::new("id").arg("-u")).is_some_and(|u| u.trim() == "0");
    let list = missing.join(" ");
    if !is_root {
        bail!(
            "missing system packages; install them with:\n\n    sudo apt-get update && sudo apt-get install -y --no-install-recommends {list}\n"
        );
    }
    eprintln!("    installing: {list}");
    status(Command::new("apt-get").arg("update").arg("-qq"))?;
    status(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// The version of `package` that Cargo.lock pins.
fn locked_version(package: &str) -> Result<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).context("reading Cargo.lock")?;
    let needle = format!("name = \"{package}\"\nversion = \"");
    let start = lock
        .find(&needle)
        .with_context(|| format!("{package} is not in Cargo.lock"))?
        + needle.len();
    let end = lock[start..].find('"').context("malformed Cargo.lock")?;
    Ok(lock[start..start + end].to_owned())
}

fn target_dir() -> Result<PathBuf> {
    if let Some(dir) = env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return Ok(if dir.is_absolute() {
            dir
        } else {
            root().join(dir)
        });
    }
    let meta = output(cargo().args(["metadata", "--format-version", "1", "--no-deps"]))
        .context("cargo metadata failed")?;
    let v: serde_json::Value = serde_json::from_str(&meta)?;
    Ok(PathBuf::from(
        v["target_directory"]
            .as_str()
            .context("no target_directory")?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Build

fn build_ui() -> Result<()> {
    step("UI (Leptos → wasm32)");
    status(cargo().args([
        "build",
        "-p",
        "rota-ui",
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        "wasm-release",
    ]))?;
    let wasm = target_dir()?.join("wasm32-unknown-unknown/wasm-release/rota_ui.wasm");
    let dist = root().join("ui/dist");
    std::fs::create_dir_all(&dist)?;
    status(
        Command::new("wasm-bindgen")
            .args(["--target", "web", "--no-typescript", "--out-dir"])
            .arg(&dist)
            .arg(&wasm),
    )?;
    for entry in std::fs::read_dir(root().join("ui/static"))? {
        let entry = entry?;
        std::fs::copy(entry.path(), dist.join(entry.file_name()))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Commands

fn run() -> Result<()> {
    setup(false)?;
    build_ui()?;
    if env::var_os("DISPLAY").is_none() && env::var_os("WAYLAND_DISPLAY").is_none() {
        bail!(
            "no display (DISPLAY/WAYLAND_DISPLAY unset): Rota is a desktop app; start it from a desktop session"
        );
    }
    step("Rota");
    status(cargo().args(["build", "-p", "rota-app"]))?;
    rota_trim::stage_web_extension(&target_dir()?.join("debug"))?;
    status(cargo().args(["run", "-p", "rota-app"]))
}

fn test() -> Result<()> {
    let started = Instant::now();
    setup(true)?;
    // The app crate embeds ui/dist at compile time, so the UI is built before anything else.
    build_ui()?;

    step("rustfmt");
    status(cargo().args(["fmt", "--all", "--", "--check"]))?;

    step("clippy (host crates)");
    status(cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"]))?;
    step("clippy (UI, wasm32)");
    status(cargo().args([
        "clippy",
        "-p",
        "rota-ui",
        "--target",
        "wasm32-unknown-unknown",
        "--",
        "-D",
        "warnings",
    ]))?;

    // Windows and macOS: lint only (nothing links or runs for them here).
    platforms::check_platforms()?;

    // No display needed: the end-to-end harness starts an Xvfb of its own for each app.
    step("tests (unit, integration, end-to-end)");
    status(cargo().args(["test", "--no-fail-fast"]))?;

    eprintln!(
        "\nall checks passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `cargo xtask bench <name>`: (name, package, example, what it measures).
const BENCHES: &[(&str, &str, &str, &str)] = &[
    (
        "store",
        "rota-store",
        "bench_store",
        "setActive persisted on 1,000 accounts",
    ),
    (
        "cli",
        "rota-cli",
        "bench_list",
        "`rota auth list` on 3 providers x 5 accounts",
    ),
    (
        "cli-usage",
        "rota-cli",
        "bench_usage",
        "`rota auth usage`, 8 accounts at 200 ms latency",
    ),
    (
        "usage",
        "rota-providers",
        "bench_usage",
        "parallel usage fetch, 8 accounts at 200 ms",
    ),
    (
        "gateway",
        "rota-gateway",
        "bench_gateway",
        "gateway latency, throughput (vs direct and nginx), SSE, 429 rotation, RSS",
    ),
];

fn bench(which: Option<&str>) -> Result<()> {
    let Some((name, package, example, what)) =
        BENCHES.iter().find(|(name, ..)| Some(*name) == which)
    else {
        let names: Vec<_> = BENCHES.iter().map(|(name, ..)| *name).collect();
        bail!("usage: cargo xtask bench <{}>", names.join("|"));
    };
    step(&format!("bench {name}: {what}"));
    if *name == "gateway" {
        // The gateway is compared with nginx `proxy_pass` to the same mock.
        ensure_packages(&["nginx"])?;
    }
    status(cargo().args(["run", "-p", package, "--release", "--example", example]))
}

/// A virtual X display for the end-to-end tests, stopped on drop.
struct Xvfb(Child);

impl Xvfb {
    fn start() -> Result<Self> {
        let n = (99..200)
            .find(|n| {
                !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                    && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
            })
            .context("no free X display number")?;
        let child = Command::new("Xvfb")
            .arg(format!(":{n}"))
            .args(["-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("could not start Xvfb (package xvfb)")?;
        let socket = format!("/tmp/.X11-unix/X{n}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !Path::new(&socket).exists() {
            if Instant::now() > deadline {
                bail!("Xvfb :{n} did not start within 10 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        set_env("DISPLAY", format!(":{n}"));
        eprintln!("    started Xvfb on :{n}");
        Ok(Self(child))
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
