//! The gateway against rota-mock, in one run:
//!
//! - small-request throughput at 64 connections, closed loop: direct to the mock, through the
//!   gateway, and through Debian's nginx `proxy_pass` (keep-alive upstream) to the same mock;
//! - added latency p50/p99 at 64 connections under a fixed offered load well below
//!   saturation (at saturation every server's latency is just queueing: 64 / throughput, shown
//!   too);
//! - SSE time to first byte, direct vs through the gateway;
//! - the extra latency of a 429 rotation beyond one upstream round trip, with the store on
//!   tmpfs (the gateway's own work) and on disk (plus the fsync'd store write the answer waits
//!   for);
//! - the gateway's RSS after 100,000 requests including 10,000 client-aborted streams.
//!
//! The gateway runs as a child process (this binary with `serve`), so its RSS is its own and it
//! competes for the CPU like nginx does; the mock and the load generator (raw hyper HTTP/1.1
//! connections, no pool) share this process.
//!
//! `cargo run -p rota-gateway --release --example bench_gateway` (`cargo xtask bench gateway`
//! installs nginx first; without nginx that comparison is skipped).
#![allow(clippy::print_stdout, clippy::print_stderr)] // printing the figures is the point

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rota_core::Ulid;
use rota_gateway::{Gateway, GatewayConfig};
use rota_mock::{
    AccountInfo, Behavior, LimitWindow, MockConfig, MockServer, NewAccount, ScriptStep,
};
use rota_providers::{Providers, ProvidersConfig};
use rota_store::{PoolStore, SecretStoreMode, StoreConfig};
use rota_types::{DEFAULT_NAMESPACE, ProviderId};

// The allocator `rota serve` and the app use, so the numbers are theirs.
#[global_allocator]
static GLOBAL: rota_gateway::GlobalAllocator = rota_gateway::GlobalAllocator;

const CONNS: usize = 64;
/// Rounds of the throughput comparison (each target runs 3 s / ROUNDS per round).
const ROUNDS: u32 = 3;
/// Offered load of the latency measurement (requests per second over all 64 connections).
const PACED_RATE: f64 = 2000.0;
const ROTATION_SAMPLES: usize = 30;
/// Accounts in each pool besides the bench account (a realistic pool; cooldowns are reset
/// between rotation samples).
const SPARE_ACCOUNTS: usize = 2;
const RSS_REQUESTS: usize = 100_000;
const RSS_ABORTED: usize = 10_000;

fn small_body(stream: bool) -> Bytes {
    Bytes::from(
        serde_json::json!({
            "model": "claude-sonnet-4-5", "max_tokens": 16, "stream": stream,
            "messages": [{"role": "user", "content": "hi"}],
        })
        .to_string(),
    )
}

/// Where requests go and with which headers.
#[derive(Clone)]
struct Target {
    name: &'static str,
    addr: SocketAddr,
    path: String,
    headers: Vec<(&'static str, String)>,
}

impl Target {
    fn request(&self, body: Bytes) -> Request<Full<Bytes>> {
        let mut b = Request::post(&self.path)
            .header("host", self.addr.to_string())
            .header("content-type", "application/json")
            .header("anthropic-version", "2023-06-01");
        for (k, v) in &self.headers {
            b = b.header(*k, v);
        }
        b.body(Full::new(body)).unwrap()
    }

    async fn connect(&self) -> SendRequest<Full<Bytes>> {
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        sender
    }
}

/// One request on an open connection: latency to the end of the body.
async fn one(sender: &mut SendRequest<Full<Bytes>>, req: Request<Full<Bytes>>) -> Duration {
    let t = Instant::now();
    sender.ready().await.unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(
        status.is_success(),
        "{status}: {}",
        String::from_utf8_lossy(&body)
    );
    t.elapsed()
}

struct Run {
    latencies: Vec<Duration>,
    wall: Duration,
}

impl Run {
    fn pct(&self, p: f64) -> Duration {
        let mut l = self.latencies.clone();
        l.sort();
        l[((l.len() as f64 - 1.0) * p).round() as usize]
    }

    fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }
}

/// 64 connections sending back to back for `dur`.
async fn closed_loop(t: &Target, dur: Duration) -> Run {
    let started = Instant::now();
    let end = started + dur;
    let mut tasks = Vec::new();
    for _ in 0..CONNS {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let mut sender = t.connect().await;
            let body = small_body(false);
            let mut out = Vec::new();
            while Instant::now() < end {
                out.push(one(&mut sender, t.request(body.clone())).await);
            }
            out
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    Run {
        latencies,
        wall: started.elapsed(),
    }
}

/// 64 connections, each sending at a fixed pace (phases spread), `rate` requests/s in all.
async fn paced(t: &Target, rate: f64, dur: Duration) -> Run {
    let interval = Duration::from_secs_f64(CONNS as f64 / rate);
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..CONNS {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let mut sender = t.connect().await;
            let body = small_body(false);
            let mut out = Vec::new();
            let mut next = started + interval.mul_f64(i as f64 / CONNS as f64);
            while next < started + dur {
                tokio::time::sleep_until(next).await;
                out.push(one(&mut sender, t.request(body.clone())).await);
                next += interval;
            }
            out
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    Run {
        latencies,
        wall: started.elapsed(),
    }
}

/// Sequential streaming requests on one connection: time to the first body byte.
async fn ttfb(t: &Target, n: usize) -> Run {
    let mut sender = t.connect().await;
    let started = Instant::now();
    let mut latencies = Vec::new();
    for _ in 0..n {
        sender.ready().await.unwrap();
        let begin = Instant::now();
        let resp = sender
            .send_request(t.request(small_body(true)))
            .await
            .unwrap();
        assert!(resp.status().is_success());
        let mut body = resp.into_body();
        loop {
            let frame = body.frame().await.unwrap().unwrap();
            if frame.data_ref().is_some_and(|d| !d.is_empty()) {
                break;
            }
        }
        latencies.push(begin.elapsed());
        while body.frame().await.is_some() {}
    }
    Run {
        latencies,
        wall: started.elapsed(),
    }
}

/// Streaming requests on fresh connections, each dropped after the first body byte.
async fn aborted_streams(t: &Target, n: usize) {
    let per = n / CONNS;
    let mut tasks = Vec::new();
    for _ in 0..CONNS {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..per {
                let mut sender = t.connect().await;
                sender.ready().await.unwrap();
                let resp = sender
                    .send_request(t.request(small_body(true)))
                    .await
                    .unwrap();
                assert!(resp.status().is_success());
                let mut body = resp.into_body();
                let _ = body.frame().await;
                // Dropping body and sender closes the connection mid-stream.
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// `n` requests over 64 connections, closed loop.
async fn count_requests(t: &Target, n: usize) {
    let per = n / CONNS;
    let mut tasks = Vec::new();
    for _ in 0..CONNS {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let mut sender = t.connect().await;
            let body = small_body(false);
            for _ in 0..per {
                one(&mut sender, t.request(body.clone())).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn signed_ms(a: Duration, b: Duration) -> f64 {
    ms(a) - ms(b)
}

// ------------------------------------------------------------------ processes

/// A child process killed (and reaped) on drop.
struct Reaped {
    child: Child,
    /// `kill -TERM` first (nginx's master then stops its workers).
    term: bool,
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if self.term {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
        }
        // The gateway child stops when its stdin closes.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The gateway as a child process on the store in `dir`: its address, token and process.
fn spawn_gateway(dir: &Path, mock_base: &str) -> (SocketAddr, String, Reaped) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("serve")
        .arg(dir)
        .arg(mock_base)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line.trim().parse().expect("the gateway's address");
    let api: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("api.json")).unwrap()).unwrap();
    let token = api["token"].as_str().unwrap().to_owned();
    (addr, token, Reaped { child, term: false })
}

/// `bench_gateway serve <dir> <mock base>`: the gateway alone, until stdin closes.
fn serve_child(dir: &str, mock_base: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Arc::new(
            PoolStore::open(StoreConfig::new(dir).with_secret_store(SecretStoreMode::File))
                .unwrap(),
        );
        let providers =
            Arc::new(Providers::new(ProvidersConfig::with_mock_base(mock_base)).unwrap());
        let gw = Gateway::start(GatewayConfig::new(dir).with_port(0), store, providers)
            .await
            .unwrap();
        println!("{}", gw.addr());
        std::io::stdout().flush().unwrap();
        // The parent closes stdin (or dies): stop.
        let _ = tokio::task::spawn_blocking(|| {
            let mut s = String::new();
            let _ = std::io::stdin().read_line(&mut s);
        })
        .await;
        gw.shutdown().await;
    });
}

fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// nginx `proxy_pass` to the mock: own prefix and config, `daemon off`, keep-alive upstream,
/// two workers (as many as the gateway has threads).
fn spawn_nginx(nginx: &Path, dir: &Path, mock: SocketAddr) -> (SocketAddr, Reaped) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dir.display();
    let conf = format!(
        "worker_processes 2;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         upstream mock {{ server {mock}; keepalive 128; keepalive_requests 10000000; }}\n\
         keepalive_requests 10000000;\n\
         server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://mock;\n\
         proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n    }}\n  }}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new(nginx)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "nginx did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (addr, Reaped { child, term: true })
}

/// CPU seconds (user + system) used so far by `pids`.
fn cpu_secs(pids: &[u32]) -> f64 {
    let tick = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(100.0);
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .map(|stat| {
            // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| {
                f.get(i - 3)
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            (ticks(14) + ticks(15)) / tick
        })
        .sum()
}

/// nginx's worker processes (children of the master).
fn children_of(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    let rest = s.rsplit_once(')')?.1.to_owned();
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

// ------------------------------------------------------------------ stores

/// A store in `dir` with `n` rotation accounts plus the bench account (added last: active).
fn seed(mock: &rota_mock::MockHandle, dir: &Path, tag: &str, n: usize) -> Vec<(AccountInfo, Ulid)> {
    let store =
        PoolStore::open(StoreConfig::new(dir).with_secret_store(SecretStoreMode::File)).unwrap();
    let mut out = Vec::new();
    for i in 0..=n {
        let email = if i == n {
            format!("bench-{tag}@example.com")
        } else {
            format!("rot{i}-{tag}@example.com")
        };
        let info = mock.add_account(NewAccount::new(ProviderId::Anthropic).email(email));
        let id = rota_mock::seed::store_account(&store, &info);
        out.push((info, id));
    }
    out
}

/// Clears every cooldown (as if the windows had reset), through the store like any writer.
fn reset_cooldowns(dir: &Path) {
    let store =
        PoolStore::open(StoreConfig::new(dir).with_secret_store(SecretStoreMode::File)).unwrap();
    store
        .mutate(|txn| {
            for pool in txn.state.providers.values_mut() {
                for r in &mut pool.records {
                    r.health.cooldown_until = None;
                    r.cooldown_kind = None;
                    r.rate_limit_streak = 0;
                }
            }
            Ok::<_, rota_store::StoreError>(())
        })
        .unwrap();
}

fn active_email(dir: &Path, accounts: &[(AccountInfo, Ulid)]) -> String {
    let store =
        PoolStore::open(StoreConfig::new(dir).with_secret_store(SecretStoreMode::File)).unwrap();
    let id = store
        .load()
        .unwrap()
        .active_id(
            ProviderId::Anthropic,
            DEFAULT_NAMESPACE,
            rota_store::now_ms(),
        )
        .unwrap();
    accounts.iter().find(|a| a.1 == id).unwrap().0.email.clone()
}

/// Median latencies of: a rotated request (the active account answers 429 once), a plain
/// request, both through the gateway, and a direct 429 round trip.
async fn rotation(
    mock: &rota_mock::MockHandle,
    dir: &Path,
    accounts: &[(AccountInfo, Ulid)],
    via: &Target,
    direct_probe: &Target,
    probe_email: &str,
) -> (Duration, Duration, Duration) {
    let mut rot = Vec::new();
    let mut plain = Vec::new();
    let mut rt429 = Vec::new();
    let mut gw = via.connect().await;
    let mut direct = direct_probe.connect().await;
    let rate_limit = Behavior::RateLimit {
        reset_in_seconds: 3600,
        window: LimitWindow::FiveHour,
    };
    for _ in 0..ROTATION_SAMPLES {
        reset_cooldowns(dir);
        // The first request after the reset also re-reads the changed pool; not timed.
        one(&mut gw, via.request(small_body(false))).await;
        plain.push(one(&mut gw, via.request(small_body(false))).await);
        mock.push_behavior(probe_email, rate_limit.clone()).unwrap();
        let t = Instant::now();
        direct.ready().await.unwrap();
        let resp = direct
            .send_request(direct_probe.request(small_body(false)))
            .await
            .unwrap();
        assert_eq!(resp.status(), 429);
        let _ = resp.into_body().collect().await.unwrap();
        rt429.push(t.elapsed());
        mock.push_behavior(&active_email(dir, accounts), rate_limit.clone())
            .unwrap();
        rot.push(one(&mut gw, via.request(small_body(false))).await);
    }
    let med = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    (med(rot), med(plain), med(rt429))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// One run, top to bottom in the order of its printed report.
#[allow(clippy::too_many_lines)]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        serve_child(&args[2], &args[3]);
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!(
        "machine: {cores} cores, load average {} at start",
        loadavg()
    );

    let mock_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mock = mock_rt
        .block_on(MockServer::start(MockConfig {
            usage_per_request: 0.0,
            log_capacity: 16,
            ..MockConfig::default()
        }))
        .unwrap();
    let mock_base = mock.base_url().to_owned();

    let disk = tempfile::tempdir().unwrap();
    let disk_accounts = seed(&mock, disk.path(), "disk", SPARE_ACCOUNTS);
    let shm = Path::new("/dev/shm");
    let tmpfs = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let tmpfs_accounts = seed(&mock, tmpfs.path(), "tmpfs", SPARE_ACCOUNTS);
    let probe = mock.add_account(NewAccount::new(ProviderId::Anthropic).email("probe@example.com"));

    let (gw_addr, gw_token, gw_proc) = spawn_gateway(disk.path(), &mock_base);
    let gw_pid = gw_proc.child.id();
    let (shm_addr, shm_token, _shm_proc) = spawn_gateway(tmpfs.path(), &mock_base);

    let bench = &disk_accounts.last().unwrap().0;
    let mock_addr = mock.addr();
    let upstream_path = {
        let base = mock.provider_base(ProviderId::Anthropic);
        let path = base.split_once("://").map_or(base, |(_, r)| r);
        format!("{}/v1/messages", path.find('/').map_or("", |i| &path[i..]))
    };
    let direct_headers = |token: &str| {
        vec![
            ("authorization", format!("Bearer {token}")),
            ("anthropic-beta", "oauth-2025-04-20".to_owned()),
        ]
    };
    let direct = Target {
        name: "direct",
        addr: mock_addr,
        path: upstream_path.clone(),
        headers: direct_headers(&bench.access_token),
    };
    let direct_probe = Target {
        name: "direct-probe",
        addr: mock_addr,
        path: upstream_path.clone(),
        headers: direct_headers(&probe.access_token),
    };
    let via = Target {
        name: "gateway",
        addr: gw_addr,
        path: "/anthropic/v1/messages?beta=true".to_owned(),
        headers: vec![("x-api-key", gw_token)],
    };
    let via_tmpfs = Target {
        name: "gateway (store on tmpfs)",
        addr: shm_addr,
        path: via.path.clone(),
        headers: vec![("x-api-key", shm_token)],
    };
    let nginx_dir = tempfile::tempdir().unwrap();
    let nginx = nginx_binary().map(|bin| spawn_nginx(&bin, nginx_dir.path(), mock_addr));
    let via_nginx = nginx.as_ref().map(|(addr, _)| Target {
        name: "nginx",
        addr: *addr,
        path: upstream_path.clone(),
        headers: direct_headers(&bench.access_token),
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut targets = vec![&direct, &via];
        targets.extend(via_nginx.as_ref());
        let proxy_pids = |t: &Target| -> Vec<u32> {
            match t.name {
                "gateway" => vec![gw_pid],
                "nginx" => nginx
                    .as_ref()
                    .map(|(_, p)| children_of(p.child.id()))
                    .unwrap_or_default(),
                _ => Vec::new(),
            }
        };
        for t in &targets {
            let _ = closed_loop(t, Duration::from_millis(700)).await;
        }
        let rss_start = rss_kib(gw_pid, "VmRSS:");

        println!(
            "\n== small requests, {CONNS} connections, closed loop (3 s each, as {ROUNDS} interleaved rounds)"
        );
        // Interleaved rounds rather than one 3 s block per target: on a host shared with other
        // work a burst of outside load then hits every target alike instead of one of them.
        let mut runs: Vec<Run> = targets
            .iter()
            .map(|_| Run {
                latencies: Vec::new(),
                wall: Duration::ZERO,
            })
            .collect();
        let mut cpu = vec![0.0f64; targets.len()];
        for _ in 0..ROUNDS {
            for (i, t) in targets.iter().enumerate() {
                let pids = proxy_pids(t);
                let cpu_before = cpu_secs(&pids);
                let r = closed_loop(t, Duration::from_secs(3) / ROUNDS).await;
                cpu[i] += cpu_secs(&pids) - cpu_before;
                runs[i].latencies.extend(r.latencies);
                runs[i].wall += r.wall;
            }
        }
        for ((t, r), cpu) in targets.iter().zip(&runs).zip(&cpu) {
            let cpu = if proxy_pids(t).is_empty() {
                String::new()
            } else {
                format!(
                    "  proxy CPU {:.1} us/request",
                    cpu * 1e6 / r.latencies.len() as f64
                )
            };
            println!(
                "{:<8} {:>7.0} req/s   p50 {:.2} ms  p99 {:.2} ms{cpu}",
                t.name,
                r.rps(),
                ms(r.pct(0.5)),
                ms(r.pct(0.99))
            );
        }
        println!(
            "gateway throughput: {:.2}x direct{}",
            runs[1].rps() / runs[0].rps(),
            runs.get(2).map_or_else(
                || ", nginx not installed: no comparison".to_owned(),
                |n| format!(", {:.2}x nginx (goal >= 0.70)", runs[1].rps() / n.rps())
            )
        );

        println!(
            "\n== added latency, {CONNS} connections at {PACED_RATE:.0} req/s offered (4 s each)"
        );
        let d = paced(&direct, PACED_RATE, Duration::from_secs(4)).await;
        let g = paced(&via, PACED_RATE, Duration::from_secs(4)).await;
        println!(
            "direct   p50 {:.3} ms  p99 {:.3} ms  ({} requests)",
            ms(d.pct(0.5)),
            ms(d.pct(0.99)),
            d.latencies.len()
        );
        println!(
            "gateway  p50 {:.3} ms  p99 {:.3} ms  ({} requests)",
            ms(g.pct(0.5)),
            ms(g.pct(0.99)),
            g.latencies.len()
        );
        if let Some(n) = &via_nginx {
            let n = paced(n, PACED_RATE, Duration::from_secs(4)).await;
            println!(
                "nginx    p50 {:.3} ms  p99 {:.3} ms  (reference)",
                ms(n.pct(0.5)),
                ms(n.pct(0.99))
            );
        }
        println!(
            "added    p50 {:.3} ms (goal <= 0.3)  p99 {:.3} ms (goal <= 2)",
            signed_ms(g.pct(0.5), d.pct(0.5)),
            signed_ms(g.pct(0.99), d.pct(0.99))
        );

        println!("\n== SSE time to first byte, one connection, 300 streams");
        let d = ttfb(&direct, 300).await;
        let g = ttfb(&via, 300).await;
        println!(
            "direct p50 {:.3} ms  gateway p50 {:.3} ms  added {:.3} ms (goal <= 1); p99 added {:.3} ms",
            ms(d.pct(0.5)),
            ms(g.pct(0.5)),
            signed_ms(g.pct(0.5), d.pct(0.5)),
            signed_ms(g.pct(0.99), d.pct(0.99))
        );

        println!("\n== 429 rotation, medians of {ROTATION_SAMPLES}");
        for (t, dir, accounts) in [
            (&via_tmpfs, tmpfs.path(), &tmpfs_accounts),
            (&via, disk.path(), &disk_accounts),
        ] {
            let (rot, plain, rt429) =
                rotation(&mock, dir, accounts, t, &direct_probe, &probe.email).await;
            println!(
                "{:<26} rotated {:.3} ms  plain {:.3} ms  upstream 429 round trip {:.3} ms  extra {:.3} ms (goal <= 1)",
                t.name,
                ms(rot),
                ms(plain),
                ms(rt429),
                ms(rot) - ms(plain) - ms(rt429)
            );
        }
        let fsync = {
            let store = PoolStore::open(
                StoreConfig::new(disk.path()).with_secret_store(SecretStoreMode::File),
            )
            .unwrap();
            let mut v: Vec<Duration> = (0..10)
                .map(|_| {
                    let t = Instant::now();
                    store
                        .mutate(|_| Ok::<_, rota_store::StoreError>(()))
                        .unwrap();
                    t.elapsed()
                })
                .collect();
            v.sort();
            v[5]
        };
        println!(
            "  (one locked store write on this disk takes {:.3} ms: the cooldown is written while the replay runs, and the answer waits for it)",
            ms(fsync)
        );

        println!(
            "\n== gateway RSS over {RSS_REQUESTS} requests incl. {RSS_ABORTED} client-aborted streams"
        );
        reset_cooldowns(disk.path());
        let rss_before = rss_kib(gw_pid, "VmRSS:");
        let plain = (RSS_REQUESTS - RSS_ABORTED) / 2;
        count_requests(&via, plain).await;
        let active = active_email(disk.path(), &disk_accounts);
        mock.script(
            &active,
            ScriptStep {
                times: u32::try_from(RSS_ABORTED).unwrap(),
                ..ScriptStep::once(Behavior::SlowStream { delay_ms: 20 })
            },
        )
        .unwrap();
        aborted_streams(&via, RSS_ABORTED).await;
        mock.clear_script(&active).unwrap();
        count_requests(&via, plain).await;
        // Let the aborted streams' tasks and connections wind down.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_after = rss_kib(gw_pid, "VmRSS:");
        let peak = rss_kib(gw_pid, "VmHWM:");
        println!(
            "after warm-up {:.1} MB, before {:.1} MB, after {:.1} MB (goal <= 60), growth {:+.1} MB (goal <= 5), peak {:.1} MB",
            rss_start as f64 / 1024.0,
            rss_before as f64 / 1024.0,
            rss_after as f64 / 1024.0,
            (rss_after as f64 - rss_before as f64) / 1024.0,
            peak as f64 / 1024.0
        );
    });
    println!("\nload average {} at the end", loadavg());
    drop(nginx);
    drop(gw_proc);
    mock_rt.block_on(mock.shutdown());
}
