//! `cargo xtask bundle`: an installable `.deb` of Rota (desktop app + `rota` CLI).
//!
//! Release build with the `custom-protocol` feature (the app serves its embedded UI, no dev
//! server), packed by cargo-deb from `[package.metadata.deb]` in `src-tauri/Cargo.toml`; nothing
//! is downloaded at build time (`AppImage` tooling would). The package is then checked with
//! `dpkg-deb` (name, dependencies, files) before its path is printed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{build_ui, cargo, output, setup, status, step};

/// cargo-deb release known to work with the metadata in src-tauri/Cargo.toml.
const CARGO_DEB_VERSION: &str = "3.8.0";

/// Paths the package must contain (as `dpkg-deb --contents` lists them).
const EXPECTED_FILES: &[&str] = &[
    "./usr/bin/rota-app",
    "./usr/bin/rota",
    "./usr/lib/rota/web-extensions/librota_trim.so",
    "./usr/share/applications/rota.desktop",
    "./usr/share/icons/hicolor/128x128/apps/rota.png",
    "./usr/share/icons/hicolor/scalable/apps/rota.svg",
];
/// Libraries the app needs at run time (dpkg-shlibdeps finds the first two; the tray library is
/// loaded with dlopen and listed by hand).
const EXPECTED_DEPENDS: &[&str] = &[
    "libwebkit2gtk-4.1-0",
    "libgtk-3-0",
    "libayatana-appindicator3-1",
];

pub fn bundle() -> Result<()> {
    let started = Instant::now();
    setup(false)?;
    if output(Command::new("dpkg-deb").arg("--version")).is_none() {
        bail!("dpkg-deb not found: `cargo xtask bundle` builds a .deb on Debian/Ubuntu only");
    }
    step("cargo-deb");
    if output(cargo().args(["deb", "--version"])).is_some() {
        eprintln!("    present");
    } else {
        status(cargo().args([
            "install",
            "--locked",
            "cargo-deb",
            "--version",
            CARGO_DEB_VERSION,
        ]))?;
    }
    build_ui()?;

    step("release build (app with its embedded UI, CLI)");
    status(cargo().args([
        "build",
        "--release",
        "-p",
        "rota-app",
        "-p",
        "rota-cli",
        "--features",
        "rota-app/custom-protocol",
    ]))?;

    rota_trim::stage_web_extension(&crate::target_dir()?.join("release"))?;
    step("package (cargo-deb)");
    // cargo-deb prints the path of the package on stdout.
    let out = cargo()
        .args(["deb", "-p", "rota-app", "--no-build"])
        .output()
        .context("running cargo deb")?;
    if !out.status.success() {
        bail!(
            "cargo deb failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let deb = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| PathBuf::from(l.trim()))
        .rfind(|p| p.extension().is_some_and(|e| e == "deb"))
        .context("cargo deb did not print the package path")?;

    check_package(&deb)?;
    let size = std::fs::metadata(&deb)?.len();
    eprintln!(
        "\nbuilt in {:.0} s: {} ({:.1} MB)\ninstall: sudo apt-get install {}",
        started.elapsed().as_secs_f64(),
        deb.display(),
        size as f64 / 1e6,
        deb.display(),
    );
    // The path alone on stdout, for scripts.
    #[allow(clippy::print_stdout)]
    {
        println!("{}", deb.display());
    }
    Ok(())
}

/// `dpkg-deb --info` and `--contents`: the name, the run-time libraries and the files.
fn check_package(deb: &Path) -> Result<()> {
    step("check the package (dpkg-deb)");
    let info = output(Command::new("dpkg-deb").arg("--info").arg(deb))
        .context("dpkg-deb --info failed")?;
    let contents = output(Command::new("dpkg-deb").arg("--contents").arg(deb))
        .context("dpkg-deb --contents failed")?;
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
            .unwrap_or_default()
            .to_owned()
    };
    let depends = field("Depends");
    let mut problems = Vec::new();
    if field("Package") != "rota" {
        problems.push(format!("package name is {:?}, not rota", field("Package")));
    }
    for lib in EXPECTED_DEPENDS {
        if !depends.split(',').any(|d| d.trim().starts_with(lib)) {
            problems.push(format!("Depends lacks {lib}"));
        }
    }
    let paths: Vec<&str> = contents
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .collect();
    for want in EXPECTED_FILES {
        if !paths.contains(want) {
            problems.push(format!("missing {want}"));
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} is not right:\n  {}",
            deb.display(),
            problems.join("\n  ")
        );
    }
    eprintln!(
        "    Package {} {} ({}), {} files\n    Depends: {depends}",
        field("Package"),
        field("Version"),
        field("Architecture"),
        paths.iter().filter(|p| !p.ends_with('/')).count(),
    );
    Ok(())
}
