//! `cargo xtask bench app [--minutes N] [--launches K] [--warmup-secs S]`: the desktop app's
//! launch-to-first-paint time, idle CPU and memory (release build with the embedded UI, as
//! `cargo xtask bundle` packs it). The measuring is done by the `bench_app` example of the
//! end-to-end harness (it drives the app through `WebDriver` and reads `/proc`).

use std::process::Command;

use anyhow::Result;

use crate::{Xvfb, build_ui, cargo, setup, status, step, target_dir};

pub fn bench_app(args: &[String]) -> Result<()> {
    setup(true)?;
    build_ui()?;
    step("release build of the app (embedded UI)");
    status(cargo().args([
        "build",
        "--release",
        "-p",
        "rota-app",
        "--features",
        "rota-app/custom-protocol",
    ]))?;
    let target = target_dir()?;
    rota_trim::stage_web_extension(&target.join("release"))?;
    step("bench_app (measuring tool)");
    status(cargo().args(["build", "-p", "rota-e2e", "--example", "bench_app"]))?;
    // Xvfb renders in software: the CPU figures are those of a machine without a GPU.
    let _xvfb = if std::env::var_os("DISPLAY").is_none() {
        Some(Xvfb::start()?)
    } else {
        None
    };
    step("bench app: launch → first paint, idle CPU, memory");
    status(
        Command::new(target.join("debug/examples/bench_app"))
            .arg("--app")
            .arg(target.join("release/rota-app"))
            .args(args),
    )
}
