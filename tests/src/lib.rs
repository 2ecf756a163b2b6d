//! End-to-end harness: drives the real desktop app in the real `WebKit` webview.
//!
//! Each [`App`] gets its own data directory (`ROTA_HOME` and XDG dirs in a temp dir), its own
//! private D-Bus session (so single-instance and the tray do not see other runs), and its own
//! `tauri-driver` → `WebKitWebDriver` → app chain on free ports, and its own X display (an
//! `Xvfb` of its own): screenshots are taken from the X server, of the app's window as the user
//! sees it, and two apps launched in parallel never overlap. Screenshots go to
//! `<workspace>/target/e2e/<name>.png` (WebKitGTK's WebDriver snapshot hangs on the
//! non-composited page the app uses, hence the X display). Launches are serialised: two
//! `WebKitWebDriver`s started at once can pick the same inspector port.
//!
//! The scenarios are integration tests of the app crate (`src-tauri/tests/it/e2e.rs` on a seeded
//! store, `e2e_mock.rs` with rota-mock as every provider), so they use `CARGO_BIN_EXE_rota-app`
//! and Tauri is compiled once per test run.
//!
//! Needs `Xvfb`, `import` (package imagemagick), `tauri-driver` on `PATH` or in `~/.cargo/bin`, and
//! `/usr/bin/WebKitWebDriver` (`cargo xtask setup` installs them).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};

/// How long to wait for the UI to reach an expected state.
pub const UI_TIMEOUT: Duration = Duration::from_secs(15);

/// Where screenshots are written.
pub fn screenshot_dir() -> PathBuf {
    // The run-time variable (cargo sets it for the test binary of a workspace member) names
    // this clone even when cargo reused this library from another clone sharing the target
    // dir; the compile-time one is the fallback for binaries started by hand.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("../target/e2e")
}

/// What to launch and with which environment.
#[derive(Debug)]
pub struct Launch {
    /// Absolute path of the app binary (`env!("CARGO_BIN_EXE_rota-app")`).
    pub binary: PathBuf,
    /// Data directory to reuse (for restart scenarios); a new temp dir when `None`.
    pub home: Option<tempfile::TempDir>,
    pub env: Vec<(String, String)>,
    /// `ROTA_GATEWAY_PORT` of the app; a free port picked at launch when `None`, so apps
    /// launched in parallel never compete for one.
    pub gateway_port: Option<u16>,
}

impl Launch {
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        Self {
            binary: binary.into(),
            home: None,
            env: Vec::new(),
            gateway_port: None,
        }
    }

    /// Runs the app's gateway on this port (e.g. one the test holds, to see it fail).
    #[must_use]
    pub fn gateway_port(mut self, port: u16) -> Self {
        self.gateway_port = Some(port);
        self
    }

    #[must_use]
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    #[must_use]
    pub fn home(mut self, home: tempfile::TempDir) -> Self {
        self.home = Some(home);
        self
    }
}

/// Held from starting `tauri-driver` until its `WebDriver` session (and so the app) is up.
static LAUNCHING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A running app under `WebDriver` control.
#[derive(Debug)]
pub struct App {
    pub client: Client,
    /// The temp dir holding `rota/` (`ROTA_HOME`) and the XDG dirs.
    pub home: tempfile::TempDir,
    /// The app's `ROTA_GATEWAY_PORT`.
    pub gateway_port: u16,
    driver: Child,
    dbus: Child,
    xvfb: Child,
    /// The app's X display (`:N`).
    display: String,
}

impl App {
    /// The app's `ROTA_HOME`.
    pub fn rota_home(home: &Path) -> PathBuf {
        home.join("rota")
    }

    pub async fn launch(launch: Launch) -> Result<App> {
        let home = match launch.home {
            Some(h) => h,
            None => tempfile::Builder::new().prefix("rota-e2e-").tempdir()?,
        };
        let rota_home = Self::rota_home(home.path());
        std::fs::create_dir_all(&rota_home)?;
        // The web extension the app names for WebKit's web process, as `cargo xtask` stages it.
        if let Some(profile_dir) = launch.binary.parent() {
            rota_trim::stage_web_extension(profile_dir)?;
        }

        let (xvfb, display) = start_xvfb()?;
        // Stops what was started so far when a later step fails.
        let mut guard = StartGuard {
            driver: None,
            dbus: None,
            xvfb: Some(xvfb),
        };
        let (dbus, address) = start_session_bus()?;
        guard.dbus = Some(dbus);

        // One launch at a time in this process: each WebKitWebDriver picks the port of its
        // browser's inspector server, and two launched at the same instant were seen to pick the
        // same one, both then driving the first app while the second test hung forever.
        let _launching = LAUNCHING.lock().await;
        let gateway_port = match launch.gateway_port {
            Some(p) => p,
            None => free_port()?,
        };
        let port = free_port()?;
        let native_port = free_port()?;
        let mut cmd = Command::new(tauri_driver()?);
        cmd.args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native_port.to_string(),
        ])
        .args(["--native-driver", WEBKIT_WEBDRIVER])
        .env("ROTA_HOME", &rota_home)
        .env("XDG_DATA_HOME", home.path().join("xdg-data"))
        .env("XDG_CONFIG_HOME", home.path().join("xdg-config"))
        .env("XDG_CACHE_HOME", home.path().join("xdg-cache"))
        .env("DBUS_SESSION_BUS_ADDRESS", &address)
        .env("DISPLAY", &display)
        .env("NO_AT_BRIDGE", "1")
        .env("ROTA_GATEWAY_PORT", gateway_port.to_string())
        .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(if verbose() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        // Own process group: killing tauri-driver alone leaves WebKitWebDriver (and the app)
        // running, so the whole group is ended.
        .process_group(0);
        guard.driver = Some(cmd.spawn().context("could not start tauri-driver")?);
        wait_for_port(port, Duration::from_secs(20))?;

        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "wry".into());
        caps.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": launch.binary.to_string_lossy() }),
        );
        let client = ClientBuilder::native()
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .context("WebDriver session could not start the app")?;
        let (driver, dbus, xvfb) = guard.take();
        let app = App {
            client,
            home,
            gateway_port,
            driver,
            dbus,
            xvfb,
            display,
        };
        // The window exists when the Leptos app has mounted its header.
        app.wait_for("header.topbar").await?;
        Ok(app)
    }

    /// Waits until an element matching `css` exists.
    /// Any error (none yet, or a stale-element answer while the page re-renders) is asked
    /// again until the timeout.
    pub async fn wait_for(&self, css: &str) -> Result<Element> {
        let deadline = Instant::now() + UI_TIMEOUT;
        loop {
            match self.client.find(Locator::Css(css)).await {
                Ok(el) => return Ok(el),
                Err(e) if Instant::now() > deadline => {
                    return Err(e).with_context(|| {
                        format!("no element matches `{css}` within {UI_TIMEOUT:?}")
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Waits until `css` matches nothing. WebKit's driver may answer a query that races the
    /// element's removal with a stale-element error: that is asked again, not a failure.
    pub async fn wait_gone(&self, css: &str) -> Result<()> {
        let deadline = Instant::now() + UI_TIMEOUT;
        loop {
            match self.client.find_all(Locator::Css(css)).await {
                Ok(found) if found.is_empty() => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    return Err(e).with_context(|| format!("waiting for `{css}` to go"));
                }
                Ok(_) | Err(_) => {}
            }
            if Instant::now() > deadline {
                bail!("`{css}` still present after {UI_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the text of the first element matching `css` satisfies `pred`; returns it.
    pub async fn wait_text(&self, css: &str, pred: impl Fn(&str) -> bool) -> Result<String> {
        let deadline = Instant::now() + UI_TIMEOUT;
        let mut last = String::new();
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                last = el.text().await.unwrap_or_default();
                if pred(&last) {
                    return Ok(last);
                }
            }
            if Instant::now() > deadline {
                bail!("text of `{css}` never matched; last seen: {last:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Texts of all elements matching `css`. A list re-rendered between finding its elements
    /// and reading them (a live event landed) is read again, from the new elements.
    pub async fn texts(&self, css: &str) -> Result<Vec<String>> {
        let deadline = Instant::now() + UI_TIMEOUT;
        loop {
            let mut out = Vec::new();
            let mut stale = None;
            let found = match self.client.find_all(Locator::Css(css)).await {
                Ok(found) => found,
                Err(e) if Instant::now() > deadline => {
                    return Err(e).with_context(|| format!("finding `{css}`"));
                }
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            for el in found {
                match el.text().await {
                    Ok(t) => out.push(t),
                    Err(e) => {
                        stale = Some(e);
                        break;
                    }
                }
            }
            match stale {
                None => return Ok(out),
                Some(e) if Instant::now() > deadline => {
                    return Err(e).with_context(|| format!("reading the texts of `{css}`"));
                }
                Some(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Clicks `css` once it exists and is enabled, as a user waits for a greyed-out button
    /// (a click on a disabled one is silently dropped, which made tests race the UI).
    pub async fn click(&self, css: &str) -> Result<()> {
        let deadline = Instant::now() + UI_TIMEOUT;
        loop {
            let el = self.wait_for(css).await?;
            // A re-rendered element goes stale between finding and asking; find it again.
            if el.is_enabled().await.unwrap_or(false) {
                match el.click().await {
                    Ok(()) => return Ok(()),
                    Err(e) if Instant::now() > deadline => {
                        return Err(e).with_context(|| format!("clicking `{css}`"));
                    }
                    // The driver may answer "stale" for a click that landed and removed its
                    // own element (an Acknowledge button that closes its notice): nothing left
                    // to click means it landed. An element that is still there was re-rendered
                    // before the click, which did not land: click it again.
                    Err(_) => {
                        if self.client.find(Locator::Css(css)).await.is_err() {
                            return Ok(());
                        }
                    }
                }
            }
            if Instant::now() > deadline {
                bail!("`{css}` stayed disabled for {UI_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Presses a key with optional Ctrl, as a user would (`WebDriver` actions).
    pub async fn press(&self, key: Key, ctrl: bool) -> Result<()> {
        self.press_char(char::from(key), ctrl).await
    }

    pub async fn press_char(&self, c: char, ctrl: bool) -> Result<()> {
        let mut keys = KeyActions::new("keyboard".to_owned());
        if ctrl {
            keys = keys.then(KeyAction::Down {
                value: char::from(Key::Control),
            });
        }
        keys = keys
            .then(KeyAction::Down { value: c })
            .then(KeyAction::Up { value: c });
        if ctrl {
            keys = keys.then(KeyAction::Up {
                value: char::from(Key::Control),
            });
        }
        self.client.perform_actions(keys).await?;
        self.client.release_actions().await?;
        Ok(())
    }

    /// Scrolls the first element matching `css` into view (for screenshots of long views).
    pub async fn scroll_to(&self, css: &str) -> Result<()> {
        let el = self.wait_for(css).await?;
        let arg = serde_json::to_value(&el)?;
        self.client
            .execute("arguments[0].scrollIntoView({block: 'center'});", vec![arg])
            .await
            .with_context(|| format!("scrolling to `{css}`"))?;
        Ok(())
    }

    /// Sets the window to `width` × 560 and waits until the page has that width.
    pub async fn resize(&self, width: u32) -> Result<()> {
        self.resize_to(width, 560).await
    }

    /// Sets the window to `width` × `height` and waits until the page is that wide (a window
    /// manager's decorations may take a few pixels).
    pub async fn resize_to(&self, width: u32, height: u32) -> Result<()> {
        self.client.set_window_size(width, height).await?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let w = self
                .client
                .execute("return window.innerWidth;", vec![])
                .await?;
            if w.as_u64()
                .is_some_and(|w| w <= u64::from(width) && w + 40 > u64::from(width))
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("window is {w} wide, not {width}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Elements under `css` whose content is wider than their box (clipped or scrolling
    /// sideways), and buttons whose text wrapped onto a second line.
    pub async fn overflowing(&self, css: &str) -> Result<Vec<String>> {
        let found = self
            .client
            .execute(
                "const out = [];
                 for (const el of document.querySelectorAll(arguments[0])) {
                   if (el.scrollWidth > el.clientWidth + 1) out.push(el.id || el.className);
                 }
                 // A button laid out in lines by design (a label over a hint) is checked
                 // line by line: each of its parts must stay on one line.
                 const wraps = (el, factor) => {
                   const line = parseFloat(getComputedStyle(el).lineHeight) || 20;
                   return el.getBoundingClientRect().height > factor * line;
                 };
                 for (const b of document.querySelectorAll('.button')) {
                   if (!b.offsetParent) continue;
                   const parts = [...b.children].filter(c => c.tagName === 'SPAN');
                   const wrapped = parts.length > 1 ? parts.some(p => wraps(p, 1.6)) : wraps(b, 2.2);
                   if (wrapped) out.push('wrapped: ' + b.textContent);
                 }
                 return out;",
                vec![serde_json::json!(css)],
            )
            .await?;
        Ok(serde_json::from_value(found)?)
    }

    /// Screenshots `<name>-default` at the window's default size (1120 × 740) and
    /// `<name>-760` at its minimum width, checking at the minimum that nothing under `css` is
    /// clipped and no button wraps; leaves the window at its default size.
    pub async fn screenshot_both_widths(&self, name: &str, css: &str) -> Result<()> {
        self.resize_to(1120, 740).await?;
        self.screenshot(&format!("{name}-default")).await?;
        self.resize_to(760, 740).await?;
        let clipped = self.overflowing(css).await?;
        if !clipped.is_empty() {
            self.screenshot(&format!("{name}-760")).await?;
            bail!("{name} at 760 px: {clipped:?}");
        }
        self.screenshot(&format!("{name}-760")).await?;
        self.resize_to(1120, 740).await
    }

    /// Saves a screenshot of the webview as `target/e2e/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        // WebKit snapshots the last painted frame: wait for two frames so the picture shows
        // the DOM the test just checked, not an older paint (matters on a loaded machine).
        self.client
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                vec![],
            )
            .await
            .context("waiting for a paint before the screenshot")?;
        // Then the app process shows that frame in its X window at its next frame clock tick.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        // From the X server, not `WebDriver`: WebKitGTK's snapshot never answers when the page
        // is not composited (the app's default), and this is the window as a user sees it.
        // The app's window is the only one on its display.
        let out = tokio::process::Command::new("import")
            .args([
                "-display",
                &self.display,
                "-window",
                "root",
                "-trim",
                "+repage",
            ])
            .arg(format!("png:{}", path.display()))
            .output()
            .await
            .context("could not run `import` (package imagemagick)")?;
        if !out.status.success() {
            bail!(
                "screenshot {name} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(path)
    }

    /// The processes running for this launch (the app, its WebKit processes, the drivers),
    /// found by the `ROTA_HOME` they inherit: (pid, command name as `/proc` shows it, at most
    /// 15 characters).
    pub fn processes(&self) -> Vec<(u32, String)> {
        let marker = format!("ROTA_HOME={}", Self::rota_home(self.home.path()).display());
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter_map(|pid| {
                let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
                environ
                    .split(|&b| b == 0)
                    .any(|var| var == marker.as_bytes())
                    .then_some(())?;
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
                Some((pid, comm.trim_end().to_owned()))
            })
            .collect()
    }

    /// Ends the session and stops the app, its drivers and its D-Bus; keeps the data dir.
    pub async fn quit(mut self) -> Result<tempfile::TempDir> {
        let _ = self.client.clone().close().await;
        kill_group(&mut self.driver);
        stop(&mut self.dbus);
        stop(&mut self.xvfb);
        // Take the home out without running Drop's cleanup twice.
        let home = std::mem::replace(&mut self.home, tempfile::tempdir()?);
        Ok(home)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
        stop(&mut self.dbus);
        stop(&mut self.xvfb);
    }
}

/// A private D-Bus session bus (so single-instance and the tray see no other app): the daemon
/// and its address.
pub fn start_session_bus() -> Result<(Child, String)> {
    spawn_reporting(
        Command::new("dbus-daemon").args([
            "--session",
            "--nofork",
            "--nopidfile",
            "--print-address=1",
        ]),
        "dbus-daemon (package dbus-daemon)",
    )
}

/// An `Xvfb` of its own for one app, on a display number the X server picks itself
/// (`-displayfd`), so parallel launches never race for one.
fn start_xvfb() -> Result<(Child, String)> {
    let (mut xvfb, line) = spawn_reporting(
        Command::new("Xvfb").args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1280x800x24",
            "-nolisten",
            "tcp",
        ]),
        "Xvfb (package xvfb)",
    )?;
    if line.parse::<u32>().is_err() {
        stop(&mut xvfb);
        bail!("Xvfb reported {line:?}, not a display number");
    }
    Ok((xvfb, format!(":{line}")))
}

/// Starts a daemon that reports one line on its stdout when it is ready (D-Bus its address,
/// Xvfb its display): the child and that line, trimmed.
fn spawn_reporting(command: &mut Command, what: &str) -> Result<(Child, String)> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("could not start {what}"))?;
    let mut line = String::new();
    let read = child
        .stdout
        .take()
        .map(|out| BufReader::new(out).read_line(&mut line));
    if !matches!(read, Some(Ok(n)) if n > 0) {
        stop(&mut child);
        bail!("{what} started but reported nothing");
    }
    Ok((child, line.trim().to_owned()))
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Cleans up when launching fails half-way.
struct StartGuard {
    driver: Option<Child>,
    dbus: Option<Child>,
    xvfb: Option<Child>,
}

impl StartGuard {
    fn take(&mut self) -> (Child, Child, Child) {
        (
            self.driver.take().expect("once"),
            self.dbus.take().expect("once"),
            self.xvfb.take().expect("once"),
        )
    }
}

impl Drop for StartGuard {
    fn drop(&mut self) {
        if let Some(d) = self.driver.as_mut() {
            kill_group(d);
        }
        for c in [self.dbus.as_mut(), self.xvfb.as_mut()]
            .into_iter()
            .flatten()
        {
            stop(c);
        }
    }
}

fn kill_group(child: &mut Child) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    // The driver runs in its own process group (see launch): end the whole group, app included.
    let group = Pid::from_raw(i32::try_from(child.id()).expect("pid fits i32"));
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    let _ = killpg(group, Signal::SIGKILL);
    let _ = child.wait();
}

const WEBKIT_WEBDRIVER: &str = "/usr/bin/WebKitWebDriver";

fn tauri_driver() -> Result<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(p) = cargo_home
        .map(|h| h.join("bin/tauri-driver"))
        .filter(|p| p.exists())
    {
        return Ok(p);
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("tauri-driver"))
                .find(|p| p.exists())
        })
        .context("tauri-driver not found: run `cargo xtask setup`")
}

/// `ROTA_E2E_VERBOSE=1` shows the drivers' and the app's output.
fn verbose() -> bool {
    std::env::var_os("ROTA_E2E_VERBOSE").is_some_and(|v| v != "0")
}

/// A port nothing listens on right now (the OS picks it).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for_port(port: u16, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("tauri-driver did not listen on {port} within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Re-exported for tests that need raw `WebDriver` calls.
pub use fantoccini::Locator as By;
/// Re-exported so tests name keys without depending on fantoccini directly.
pub use fantoccini::key::Key as Keys;

/// Result type of the harness and the scenarios.
pub use anyhow::Result as E2eResult;
