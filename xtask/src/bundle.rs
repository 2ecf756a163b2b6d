//! `cargo xtask bundle`: installable `.deb` and `.rpm` packages of Rota (desktop app + `rota`
//! CLI).
//!
//! Release build with the `custom-protocol` feature (the app serves its embedded UI, no dev
//! server). The `.deb` is packed by cargo-deb from `[package.metadata.deb]` in
//! `src-tauri/Cargo.toml`; the `.rpm` by `rpmbuild` (Debian's `rpm` package) from a spec written
//! here with the same file list (`assets` of that table), its library requirements found by
//! rpm's ELF dependency generator. Nothing is downloaded at build time. (An `AppImage` is not
//! built here: Tauri's `AppImage` step downloads linuxdeploy and the `AppImage` runtime from
//! GitHub, and no package registry carries the runtime; the release workflow builds it.)
//!
//! Each package is checked: metadata and file list (`dpkg-deb`, `rpm -qp`), then unpacked into a
//! scratch root where the `rota` CLI runs (`--version`, `auth list --json` on an empty store),
//! every binary's libraries resolve (`ldd`), and the app starts under Xvfb with a private D-Bus:
//! its window appears, and WebKit's web process loads the memory-trim extension from the
//! unpacked tree (the package's layout, not the build tree's).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{Xvfb, build_ui, cargo, ensure_packages, output, root, setup, status, step};

/// Debian packages the `.rpm` and the checks need: rpmbuild/rpm2cpio, cpio to unpack it.
const BUNDLE_PACKAGES: &[&str] = &["rpm", "cpio", "xvfb", "xauth", "dbus-daemon", "xdotool"];
/// The tray library is loaded with dlopen, so rpm's generator cannot see it (Fedora's name).
const RPM_EXTRA_REQUIRES: &[&str] = &["libayatana-appindicator-gtk3"];

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

/// `cargo xtask bundle [--debug]`. `--debug` packs the debug build instead of the release one
/// (no LTO, no `custom-protocol`: minutes instead of a full optimised build), to check the
/// packaging itself; only the release packages are for users.
pub fn bundle(args: &[String]) -> Result<()> {
    let debug = match args {
        [] => false,
        [flag] if flag == "--debug" => true,
        _ => bail!("usage: cargo xtask bundle [--debug]"),
    };
    let profile_dir = if debug { "debug" } else { "release" };
    let started = Instant::now();
    setup(false)?;
    step("packaging tools");
    ensure_packages(BUNDLE_PACKAGES)?;
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

    if debug {
        step("debug build (app with its embedded UI, CLI)");
        status(cargo().args(["build", "-p", "rota-app", "-p", "rota-cli"]))?;
    } else {
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
    }

    rota_trim::stage_web_extension(&crate::target_dir()?.join(profile_dir))?;
    step("package (cargo-deb)");
    // cargo-deb prints the path of the package on stdout; it reads `target/release/…` assets
    // from the chosen profile's directory.
    let cargo_profile = if debug { "dev" } else { "release" };
    let out = cargo()
        .args([
            "deb",
            "-p",
            "rota-app",
            "--no-build",
            "--profile",
            cargo_profile,
        ])
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
    let scratch = tempfile::tempdir()?;
    let deb_root = scratch.path().join("deb");
    status(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&deb_root))?;
    smoke_test(&deb_root, "deb")?;

    let rpm = build_rpm(profile_dir)?;
    let rpm_root = scratch.path().join("rpm");
    unpack_rpm(&rpm, &rpm_root)?;
    smoke_test(&rpm_root, "rpm")?;

    eprintln!(
        "\nbuilt and checked in {:.0} s:",
        started.elapsed().as_secs_f64()
    );
    for (package, install) in [(&deb, "sudo apt-get install"), (&rpm, "sudo dnf install")] {
        let size = std::fs::metadata(package)?.len();
        eprintln!(
            "  {} ({:.1} MB)  install: {install} {}",
            package.display(),
            size as f64 / 1e6,
            package.display()
        );
    }
    // The paths alone on stdout, for scripts.
    #[allow(clippy::print_stdout)]
    {
        println!("{}\n{}", deb.display(), rpm.display());
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

/// `[package.metadata.deb]` of the app crate: (source, destination, mode) with sources resolved
/// (`target/release/…` is the profile's directory in the cargo target dir, as cargo-deb reads
/// it; others are relative to `src-tauri/`) and destinations made absolute file paths.
fn package_assets(profile_dir: &str) -> Result<Vec<(PathBuf, PathBuf, String)>> {
    let meta = output(cargo().args(["metadata", "--format-version", "1", "--no-deps"]))
        .context("cargo metadata failed")?;
    let meta: serde_json::Value = serde_json::from_str(&meta)?;
    let app = meta["packages"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "rota-app"))
        .context("no rota-app package")?;
    let assets = app["metadata"]["deb"]["assets"]
        .as_array()
        .context("no [package.metadata.deb] assets")?;
    let target = crate::target_dir()?;
    let crate_dir = root().join("src-tauri");
    assets
        .iter()
        .map(|a| {
            let field = |i: usize| a[i].as_str().context("malformed asset");
            let (src, dest, mode) = (field(0)?, field(1)?, field(2)?);
            let src = match src.strip_prefix("target/release/") {
                Some(rest) => target.join(profile_dir).join(rest),
                None => crate_dir.join(src),
            };
            let mut dest = PathBuf::from("/").join(dest);
            if field(1)?.ends_with('/') {
                dest = dest.join(src.file_name().context("asset without a file name")?);
            }
            Ok((src, dest, mode.to_owned()))
        })
        .collect()
}

/// Builds `rota-<version>-1.x86_64.rpm` with rpmbuild from the same files as the `.deb`.
fn build_rpm(profile_dir: &str) -> Result<PathBuf> {
    step("package (rpmbuild)");
    let version = env!("CARGO_PKG_VERSION"); // the workspace version, shared with the app
    let assets = package_assets(profile_dir)?;
    let top = crate::target_dir()?.join("rpmbuild");
    let _ = std::fs::remove_dir_all(&top);
    std::fs::create_dir_all(top.join("SPECS"))?;
    let mut install = String::new();
    let mut files = String::new();
    for (src, dest, mode) in &assets {
        if !src.is_file() {
            bail!(
                "{} is missing (built by the release build above)",
                src.display()
            );
        }
        writeln!(
            install,
            "install -D -m {mode} '{}' '%{{buildroot}}{}'",
            src.display(),
            dest.display()
        )?;
        writeln!(files, "{}", dest.display())?;
    }
    let spec = format!(
        "Name: rota
Version: {version}
Release: 1
Summary: Pool your AI subscription accounts and rotate on rate limits
License: MIT OR Apache-2.0
URL: https://github.com/rota-app/rota
Requires: {requires}
# The binaries are built and stripped by cargo; no debug package, no re-stripping.
%global debug_package %{{nil}}
%global __os_install_post %{{nil}}

%description
Rota pools the accounts you pay for at each AI provider (Claude Pro/Max, ChatGPT Plus/Pro
through Codex, GitHub Copilot) and uses them as one: every account's rate-limit usage, one-click
switching, and rotation to the next account when one answers 429. Desktop app with a tray icon,
the rota CLI and a local gateway.

%install
{install}
%files
{files}",
        requires = RPM_EXTRA_REQUIRES.join(", "),
    );
    let spec_path = top.join("SPECS/rota.spec");
    std::fs::write(&spec_path, spec)?;
    status(
        Command::new("rpmbuild")
            .arg("-bb")
            .arg("--quiet")
            .arg("--define")
            .arg(format!("_topdir {}", top.display()))
            // Debian's rpm would otherwise look for its own dependency database.
            .args(["--nodeps", "--target", "x86_64-linux"])
            .arg(&spec_path),
    )?;
    let rpm = top.join(format!("RPMS/x86_64/rota-{version}-1.x86_64.rpm"));
    if !rpm.is_file() {
        bail!("rpmbuild did not write {}", rpm.display());
    }
    check_rpm(&rpm, &assets)?;
    Ok(rpm)
}

/// `rpm -qp`: the name, the requirements (the GUI libraries found by rpm's ELF scan plus the
/// tray library) and every file.
fn check_rpm(rpm: &Path, assets: &[(PathBuf, PathBuf, String)]) -> Result<()> {
    step("check the .rpm (rpm -qp)");
    let query = |what: &str| {
        output(Command::new("rpm").args(["-qp", what]).arg(rpm))
            .with_context(|| format!("rpm -qp {what} failed"))
    };
    let name = query("--qf=%{NAME} %{VERSION}-%{RELEASE} %{ARCH}")?;
    let requires = query("--requires")?;
    let listed = query("--list")?;
    let mut problems = Vec::new();
    if !name.starts_with("rota ") {
        problems.push(format!("package is {name:?}"));
    }
    for want in ["libwebkit2gtk-4.1.so.0", "libgtk-3.so.0"]
        .iter()
        .chain(RPM_EXTRA_REQUIRES)
    {
        if !requires.lines().any(|l| l.starts_with(want)) {
            problems.push(format!("Requires lacks {want}"));
        }
    }
    for (_, dest, _) in assets {
        let dest = dest.display().to_string();
        if !listed.lines().any(|l| l == dest) {
            problems.push(format!("missing {dest}"));
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} is not right:\n  {}",
            rpm.display(),
            problems.join("\n  ")
        );
    }
    eprintln!(
        "    {name}, {} files\n    Requires: {}",
        listed.lines().count(),
        requires
            .lines()
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

fn unpack_rpm(rpm: &Path, dest: &Path) -> Result<()> {
    std::fs::create_dir_all(dest)?;
    let cpio = Command::new("rpm2cpio")
        .arg(rpm)
        .stdout(Stdio::piped())
        .spawn()
        .context("could not start rpm2cpio")?;
    status(
        Command::new("cpio")
            .args(["-idm", "--quiet"])
            .current_dir(dest)
            .stdin(cpio.stdout.context("rpm2cpio without stdout")?),
    )
}

/// Runs what a user runs from an unpacked package (`root` holds its `usr/`).
fn smoke_test(root: &Path, kind: &str) -> Result<()> {
    step(&format!(
        "start the unpacked .{kind} (CLI, libraries, app under Xvfb)"
    ));
    let bin = root.join("usr/bin");
    let home = tempfile::tempdir()?;
    let cli = bin.join("rota");
    let version = output(Command::new(&cli).arg("--version"))
        .with_context(|| format!("{} --version failed", cli.display()))?;
    if !version.starts_with("rota ") {
        bail!("rota --version printed {version:?}");
    }
    let list = output(
        Command::new(&cli)
            .args(["auth", "list", "--json"])
            .env("ROTA_HOME", home.path())
            .env("ROTA_SECRET_STORE", "file"),
    )
    .context("rota auth list --json failed on an empty store")?;
    serde_json::from_str::<serde_json::Value>(&list)
        .context("rota auth list --json did not print JSON")?;
    eprintln!("    {} and `rota auth list --json` work", version.trim());

    for file in [bin.join("rota-app"), cli] {
        let ldd = output(Command::new("ldd").arg(&file)).context("ldd failed")?;
        if let Some(line) = ldd.lines().find(|l| l.contains("not found")) {
            bail!("{}: a library is missing: {}", file.display(), line.trim());
        }
    }
    eprintln!("    every library of rota-app and rota resolves");

    let xvfb = Xvfb::start()?;
    let mut app = Command::new("dbus-run-session")
        .arg("--")
        .arg(bin.join("rota-app"))
        .env("ROTA_HOME", home.path())
        .env("ROTA_SECRET_STORE", "file")
        .env("ROTA_GATEWAY_PORT", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("could not start rota-app")?;
    let result = wait_for_app(root, &mut app);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(app.id().cast_signed()),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = app.wait();
    drop(xvfb);
    result
}

/// The window titled "Rota" appears, and a process of the app has the trim extension from the
/// unpacked tree mapped (WebKit's web process loads it from `<prefix>/lib/rota/web-extensions`).
fn wait_for_app(root: &Path, app: &mut std::process::Child) -> Result<()> {
    let extension = root.join("usr/lib/rota/web-extensions/librota_trim.so");
    let extension = extension.display().to_string();
    let deadline = Instant::now() + Duration::from_mins(1);
    let (mut window, mut loaded) = (false, false);
    while Instant::now() < deadline && !(window && loaded) {
        if let Some(status) = app.try_wait()? {
            bail!("rota-app exited during start-up ({status})");
        }
        window = window
            || output(Command::new("xdotool").args(["search", "--name", "^Rota$"]))
                .is_some_and(|ids| !ids.trim().is_empty());
        loaded = loaded || maps_contain(&extension);
        std::thread::sleep(Duration::from_millis(250));
    }
    if !window {
        bail!("no window named Rota appeared within 60 s");
    }
    if !loaded {
        bail!("no process loaded {extension} within 60 s");
    }
    eprintln!("    the app's window appeared and WebKit loaded the packaged extension");
    Ok(())
}

fn maps_contain(path: &str) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs
        .flatten()
        .any(|p| std::fs::read_to_string(p.path().join("maps")).is_ok_and(|m| m.contains(path)))
}
