//! `bench_app --app <binary> [--minutes N] [--launches K]`: the desktop app's own costs, run by
//! `cargo xtask bench app` (release build, under Xvfb when there is no display).
//!
//! 1. **Launch → first paint**, K launches through `tauri-driver` → `WebKitWebDriver`, every
//!    milestone relative to the app process's start time from `/proc/<pid>/stat` (10 ms ticks):
//!    the webview's navigation start (`performance.timeOrigin`, wall clock), the load event
//!    (Navigation Timing), `first-contentful-paint` (Paint Timing; if the engine reports none,
//!    the summary says so), and when `WebDriver` found the mounted header (an upper bound).
//! 2. **Idle** with the window open, launched directly (no `WebDriver` attached), empty store,
//!    private D-Bus: after a warm-up, CPU of the app plus every descendant (`WebKit` web and
//!    network processes) from `utime + stime` over N minutes, as % of one core; memory sampled
//!    every 10 s: RSS (`VmRSS`) and PSS (`smaps_rollup`, shared pages split fairly), summed;
//!    at the end also the distinct resident pages of the processes together (root only).

#![allow(clippy::print_stdout)] // the figures are this tool's output

use std::collections::HashMap;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use rota_e2e::{App, Launch, free_port};

const SAMPLE_EVERY: Duration = Duration::from_secs(10);

struct Args {
    app: PathBuf,
    minutes: f64,
    launches: usize,
    warmup: Duration,
}

fn parse_args() -> Result<Args> {
    let mut app = None;
    let mut minutes = 10.0;
    let mut launches = 3;
    let mut warmup = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--app" => app = Some(PathBuf::from(value()?)),
            "--minutes" => minutes = value()?.parse().context("--minutes: a number")?,
            "--launches" => launches = value()?.parse().context("--launches: a number")?,
            "--warmup-secs" => {
                warmup = Some(Duration::from_secs(
                    value()?.parse().context("--warmup-secs: a number")?,
                ));
            }
            _ => bail!(
                "usage: bench_app --app <binary> [--minutes N] [--launches K] [--warmup-secs S]"
            ),
        }
    }
    let app = app.context("--app <binary> is required")?;
    Ok(Args {
        app: app
            .canonicalize()
            .with_context(|| app.display().to_string())?,
        minutes,
        launches: launches.max(1),
        // Long runs get a full minute to settle (caches, first usage of the JIT); short
        // tries 15 s.
        warmup: warmup.unwrap_or(Duration::from_secs(if minutes >= 2.0 { 60 } else { 15 })),
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    if std::env::var_os("DISPLAY").is_none() {
        bail!("no DISPLAY: run through `cargo xtask bench app`, which starts Xvfb");
    }
    let tck = clock_ticks();
    eprintln!("app: {}", args.app.display());

    eprintln!("\n== launch → first paint ({} launches) ==", args.launches);
    let mut launches = Vec::new();
    for i in 0..args.launches {
        let l = launch_once(&args.app, tck).await?;
        eprintln!("  launch {}: {}", i + 1, l.describe());
        launches.push(l);
    }
    let median = |f: &dyn Fn(&Launched) -> Option<f64>| {
        let mut v: Vec<f64> = launches.iter().filter_map(f).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    let paint = median(&|l| l.paint);
    let header = median(&|l| Some(l.header_seen)).unwrap_or_default();
    let load = median(&|l| l.load_end);
    let nav = median(&|l| Some(l.navigation)).unwrap_or_default();

    eprintln!(
        "\n== idle, window open: warm-up {} s, then {} min ==",
        args.warmup.as_secs(),
        args.minutes
    );
    let idle = idle(&args, tck)?;

    println!("\napp benchmark ({})", args.app.display());
    let n = launches.len();
    // WebKitGTK does not report first-contentful-paint on every launch: say how many did.
    let painted = launches.iter().filter(|l| l.paint.is_some()).count();
    match paint {
        Some(ms) => println!(
            "  launch → first contentful paint (median of the {painted} of {n} launches that \
             reported one): {ms:.0} ms  (medians of all: → navigation start {nav:.0} ms, → header \
             seen via WebDriver {header:.0} ms)"
        ),
        None => println!(
            "  launch → first paint: not reported (no Paint Timing entry in any launch); \
             launch → page loaded (load event) {}, → UI mounted (header seen via WebDriver, an \
             upper bound) {header:.0} ms  (median of {n})",
            load.map_or_else(|| "n/a".to_owned(), |ms| format!("{ms:.0} ms")),
        ),
    }
    println!(
        "  idle CPU over {:.1} min, app + WebKit processes: {:.3} % of one core  (goal < 0.2 %)",
        idle.seconds / 60.0,
        idle.cpu_percent
    );
    for (name, pct) in &idle.cpu_by_name {
        println!("      {name:<24} {pct:.3} %");
    }
    println!(
        "  memory at the end, app + WebKit processes: RSS {:.0} MB, PSS {:.0} MB  (goal ≤ 200 MB); peak during the run: RSS {:.0} MB, PSS {:.0} MB",
        mb(idle.rss_end),
        mb(idle.pss_end),
        mb(idle.rss_peak),
        mb(idle.pss_peak)
    );
    match idle.distinct_end {
        Some(kb) => println!(
            "      distinct resident pages (each page once across the processes): {:.0} MB",
            mb(kb)
        ),
        None => println!("      distinct resident pages: needs root (/proc/<pid>/pagemap)"),
    }
    for (name, rss, pss) in &idle.mem_by_name {
        println!(
            "      {name:<24} RSS {:>5.0} MB  PSS {:>5.0} MB",
            mb(*rss),
            mb(*pss)
        );
    }
    Ok(())
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

// ------------------------------------------------------------------ first paint

/// Milestones of one launch, in milliseconds since the app process started.
struct Launched {
    /// The webview's navigation start (`performance.timeOrigin`).
    navigation: f64,
    /// The page's load event finished.
    load_end: Option<f64>,
    /// First (contentful) paint, when the engine reports Paint Timing.
    paint: Option<f64>,
    /// When `WebDriver` found the mounted header (an upper bound of the mount).
    header_seen: f64,
}

impl Launched {
    fn describe(&self) -> String {
        let opt = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |ms| format!("{ms:.0} ms"));
        format!(
            "navigation start {:.0} ms, load event {}, first contentful paint {}, header seen {:.0} ms",
            self.navigation,
            opt(self.load_end),
            opt(self.paint),
            self.header_seen
        )
    }
}

/// One launch through `WebDriver`; every time relative to the app process's start.
async fn launch_once(binary: &Path, tck: u64) -> Result<Launched> {
    let app = App::launch(Launch::new(binary)).await?;
    let found_at = epoch_ms();
    let pid = newest_process_of(binary).context("app process not found in /proc")?;
    let started = process_start_epoch_ms(pid, tck)?;
    let v = app
        .client
        .execute(
            "const p = performance.getEntriesByType('paint');\
             const f = p.find(e => e.name === 'first-contentful-paint');\
             const nav = performance.getEntriesByType('navigation')[0];\
             return {origin: performance.timeOrigin, paint: f ? f.startTime : null,\
                     load: nav && nav.loadEventEnd > 0 ? nav.loadEventEnd : null};",
            vec![],
        )
        .await?;
    let _ = app.quit().await?;
    let origin = v["origin"].as_f64().context("no performance.timeOrigin")? - started;
    let rel = |k: &str| v[k].as_f64().map(|ms| origin + ms);
    Ok(Launched {
        navigation: origin,
        load_end: rel("load"),
        paint: rel("paint"),
        header_seen: found_at - started,
    })
}

#[allow(clippy::disallowed_methods)] // a wall-clock reading is the measurement itself
fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// The most recently started process whose executable is `binary`.
fn newest_process_of(binary: &Path) -> Option<u32> {
    let mut best: Option<(u64, u32)> = None;
    for pid in all_pids() {
        if std::fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .as_deref()
            != Some(binary)
        {
            continue;
        }
        if let Some(stat) = Stat::read(pid)
            && best.is_none_or(|(t, _)| stat.start_ticks > t)
        {
            best = Some((stat.start_ticks, pid));
        }
    }
    best.map(|(_, pid)| pid)
}

fn process_start_epoch_ms(pid: u32, tck: u64) -> Result<f64> {
    let stat = Stat::read(pid).context("process vanished")?;
    let proc_stat = std::fs::read_to_string("/proc/stat")?;
    let btime: f64 = proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .context("no btime in /proc/stat")?
        .trim()
        .parse()?;
    Ok((btime + stat.start_ticks as f64 / tck as f64) * 1000.0)
}

// ------------------------------------------------------------------ idle

struct Idle {
    seconds: f64,
    cpu_percent: f64,
    cpu_by_name: Vec<(String, f64)>,
    rss_end: u64,
    pss_end: u64,
    rss_peak: u64,
    pss_peak: u64,
    /// Resident pages counted once across the processes; `None` without root.
    distinct_end: Option<u64>,
    mem_by_name: Vec<(String, u64, u64)>,
}

fn idle(args: &Args, tck: u64) -> Result<Idle> {
    let home = tempfile::Builder::new()
        .prefix("rota-bench-app-")
        .tempdir()?;
    let (_dbus, child) = spawn_app(&args.app, home.path())?;
    let pid = child.id();
    let mut app = Reap(child, true);

    std::thread::sleep(args.warmup);
    if let Ok(Some(st)) = app.0.try_wait() {
        bail!("the app exited during the warm-up ({st})");
    }
    if let Some(out) = Command::new("xdotool")
        .args(["search", "--onlyvisible", "--name", "^Rota$"])
        .output()
        .ok()
        .filter(|o| o.status.success())
    {
        let n = String::from_utf8_lossy(&out.stdout).lines().count();
        eprintln!("  visible windows named Rota: {n}");
    }

    let start = Instant::now();
    let first = tree_stats(pid);
    // Per pid: (name, first ticks seen, last ticks seen); processes that start later count from 0.
    let mut cpu: HashMap<u32, (String, u64, u64)> = first
        .iter()
        .map(|s| (s.pid, (s.name.clone(), s.ticks, s.ticks)))
        .collect();
    let (mut rss_peak, mut pss_peak) = (0, 0);
    let total = Duration::from_secs_f64(args.minutes * 60.0);
    let last_mem = loop {
        let stats = tree_stats(pid);
        for s in &stats {
            cpu.entry(s.pid).or_insert_with(|| (s.name.clone(), 0, 0)).2 = s.ticks;
        }
        let rss: u64 = stats.iter().map(|s| s.rss_kb).sum();
        let pss: u64 = stats.iter().map(|s| s.pss_kb).sum();
        rss_peak = rss_peak.max(rss);
        pss_peak = pss_peak.max(pss);
        let elapsed = start.elapsed();
        if elapsed >= total {
            break stats;
        }
        if let Ok(Some(st)) = app.0.try_wait() {
            bail!("the app exited during the measurement ({st})");
        }
        eprintln!(
            "  {:>4.0} s: RSS {:.0} MB, PSS {:.0} MB, {} processes",
            elapsed.as_secs_f64(),
            mb(rss),
            mb(pss),
            stats.len()
        );
        std::thread::sleep(SAMPLE_EVERY.min(total.saturating_sub(elapsed)));
    };
    let seconds = start.elapsed().as_secs_f64();
    let pct = |ticks: u64| ticks as f64 / tck as f64 / seconds * 100.0;
    let mut by_name: HashMap<String, u64> = HashMap::new();
    for (name, first, last) in cpu.values() {
        *by_name.entry(name.clone()).or_default() += last - first;
    }
    let used: u64 = by_name.values().sum();
    let mut cpu_by_name: Vec<_> = by_name.into_iter().map(|(n, t)| (n, pct(t))).collect();
    cpu_by_name.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut mem: HashMap<String, (u64, u64)> = HashMap::new();
    for s in &last_mem {
        let e = mem.entry(s.name.clone()).or_default();
        e.0 += s.rss_kb;
        e.1 += s.pss_kb;
    }
    let mut mem_by_name: Vec<_> = mem.into_iter().map(|(n, (r, p))| (n, r, p)).collect();
    mem_by_name.sort_by_key(|m| std::cmp::Reverse(m.2));
    let pids: Vec<u32> = last_mem.iter().map(|s| s.pid).collect();
    let distinct_end = distinct_rss_kb(&pids);
    drop(app);
    Ok(Idle {
        seconds,
        cpu_percent: pct(used),
        cpu_by_name,
        rss_end: last_mem.iter().map(|s| s.rss_kb).sum(),
        pss_end: last_mem.iter().map(|s| s.pss_kb).sum(),
        rss_peak,
        pss_peak,
        distinct_end,
        mem_by_name,
    })
}

/// RAM the processes hold together: each resident page once, however many of them map it.
/// Summed RSS counts a library page once per process that maps it; PSS also hands part of a
/// page to unrelated processes that map it too (the X server maps the same Mesa and LLVM).
/// Page frame numbers in `/proc/<pid>/pagemap` are visible to root only, hence the `None`.
fn distinct_rss_kb(pids: &[u32]) -> Option<u64> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    const PRESENT: u64 = 1 << 63;
    const FRAME: u64 = (1 << 55) - 1;
    let mut frames = std::collections::HashSet::new();
    let mut page_kb = 4;
    for pid in pids {
        let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
        let mut pagemap = std::fs::File::open(format!("/proc/{pid}/pagemap")).ok()?;
        let mut range = (0, 0);
        for line in smaps.lines() {
            let first = line.split_whitespace().next().unwrap_or_default();
            if let Some((a, b)) = first.split_once('-')
                && let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16))
            {
                range = (a, b);
            } else if let Some(v) = line.strip_prefix("KernelPageSize:") {
                page_kb = v.split_whitespace().next()?.parse().ok()?;
            } else if let Some(v) = line.strip_prefix("Rss:") {
                // Only mappings with resident pages: the web process reserves tens of GB.
                if v.split_whitespace().next() == Some("0") {
                    continue;
                }
                let page = page_kb * 1024;
                let mut entries = vec![0u8; usize::try_from((range.1 - range.0) / page * 8).ok()?];
                pagemap.seek(SeekFrom::Start(range.0 / page * 8)).ok()?;
                pagemap.read_exact(&mut entries).ok()?;
                for e in entries.chunks_exact(8) {
                    let e = u64::from_le_bytes(e.try_into().ok()?);
                    if e & PRESENT != 0 {
                        // A present page with frame 0: the kernel hides frames from non-root.
                        if e & FRAME == 0 {
                            return None;
                        }
                        frames.insert(e & FRAME);
                    }
                }
            }
        }
    }
    Some(frames.len() as u64 * page_kb)
}

/// The app with its own data dir and private D-Bus, as a user starts it (no `WebDriver`).
fn spawn_app(binary: &Path, home: &Path) -> Result<(Reap, Child)> {
    let (dbus, address) = rota_e2e::start_session_bus()?;
    let child = Command::new(binary)
        .env("ROTA_HOME", home.join("rota"))
        .env("ROTA_SECRET_STORE", "file")
        .env("ROTA_GATEWAY_PORT", free_port()?.to_string())
        .env("XDG_DATA_HOME", home.join("xdg-data"))
        .env("XDG_CONFIG_HOME", home.join("xdg-config"))
        .env("XDG_CACHE_HOME", home.join("xdg-cache"))
        .env("DBUS_SESSION_BUS_ADDRESS", &address)
        .env("NO_AT_BRIDGE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("starting the app")?;
    Ok((Reap(dbus, false), child))
}

/// One process of the app's tree at one moment.
struct ProcSample {
    pid: u32,
    name: String,
    ticks: u64,
    rss_kb: u64,
    pss_kb: u64,
}

/// The app and all its descendants.
fn tree_stats(root: u32) -> Vec<ProcSample> {
    let stats: Vec<Stat> = all_pids().filter_map(Stat::read).collect();
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(stats.iter().filter(|s| s.ppid == parent).map(|s| s.pid));
        i += 1;
    }
    stats
        .into_iter()
        .filter(|s| tree.contains(&s.pid))
        .map(|s| ProcSample {
            pid: s.pid,
            ticks: s.utime + s.stime,
            rss_kb: kb_field(&format!("/proc/{}/status", s.pid), "VmRSS:"),
            pss_kb: kb_field(&format!("/proc/{}/smaps_rollup", s.pid), "Pss:"),
            name: s.comm,
        })
        .collect()
}

fn kb_field(path: &str, key: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn all_pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
}

/// The fields of `/proc/<pid>/stat` we use.
struct Stat {
    pid: u32,
    comm: String,
    ppid: u32,
    utime: u64,
    stime: u64,
    start_ticks: u64,
}

impl Stat {
    fn read(pid: u32) -> Option<Self> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `comm` is in parentheses and may contain spaces: split at the last ')'.
        let (head, rest) = text.rsplit_once(')')?;
        let comm = head.split_once('(')?.1.to_owned();
        let f: Vec<&str> = rest.split_whitespace().collect();
        // After comm: state(0) ppid(1) … utime(11) stime(12) … starttime(19).
        Some(Self {
            pid,
            comm,
            ppid: f.get(1)?.parse().ok()?,
            utime: f.get(11)?.parse().ok()?,
            stime: f.get(12)?.parse().ok()?,
            start_ticks: f.get(19)?.parse().ok()?,
        })
    }
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux in practice).
fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

/// Stops a child on drop: the app's whole process group (its `WebKit` processes) or the child.
struct Reap(Child, bool);

impl Drop for Reap {
    fn drop(&mut self) {
        if self.1 {
            let group = Pid::from_raw(i32::try_from(self.0.id()).unwrap_or(i32::MAX));
            let _ = killpg(group, Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && matches!(self.0.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = killpg(group, Signal::SIGKILL);
        } else {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}
