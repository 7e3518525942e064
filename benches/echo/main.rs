//! synctcp against bare `std::net` and tokio, in one run.
//!
//! ```sh
//! cargo bench --bench echo            # the full run, a few minutes
//! SYNCTCP_BENCH_QUICK=1 cargo bench --bench echo   # a short smoke run
//! SYNCTCP_BENCH_HOGS=2 cargo bench --bench echo    # the same with two CPU hogs running
//! SYNCTCP_BENCH_ONLY=churn,bulk cargo bench --bench echo   # some scenarios only
//! ```
//!
//! Scenarios: `pingpong` (1–1,000 connections), `many` (10,000 connections), `bulk`,
//! `churn`, `burst`, `idle`, and with `--features tls`, `tls`: full and resumed handshakes/s,
//! ping-pong latency and bulk MiB/s of synctcp's TLS listener against tokio + tokio-rustls
//! (`SYNCTCP_BENCH_ONLY=tls cargo bench --bench echo --features tls`).
//!
//! Three echo servers run as child processes of this binary (`--serve KIND`). The same
//! client code drives each, interleaved (std, synctcp, tokio, std, synctcp, tokio, …) so that
//! drift hits all alike; each figure is the median of the rounds (3, and 15 for bulk, whose
//! rounds spread most). Bulk figures come with the server's CPU time per MiB echoed, which
//! varies less than MiB/s does. The table (Markdown) and a chart of round trips/s by
//! connection count (SVG) are written to `target/bench-echo/`.

mod load;
mod report;
mod servers;
#[cfg(feature = "tls")]
mod tls;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use report::{Figure, Report};

/// A server child process.
struct Server {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(name: &'static str) -> Server {
        Server::start_with(name, &[])
    }

    /// The server `name`, with more arguments after its name (the TLS servers' certificate
    /// directory).
    fn start_with(name: &'static str, more: &[&OsStr]) -> Server {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--serve", name])
            .args(more)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line.trim().parse().unwrap();
        Server {
            name,
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    fn status(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with(field)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// Resident memory in KiB.
    fn rss_kib(&self) -> u64 {
        self.status("VmRSS:")
    }

    fn threads(&self) -> u64 {
        self.status("Threads:")
    }

    /// CPU time (user and system, all threads) so far, to 10 ms.
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // After the command name in parentheses: state is field 3, utime 14, stime 15.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // USER_HZ, 100 on Linux.
        Duration::from_millis(ticks * 10)
    }
}

/// A process that keeps one core busy, at the same priority as everything else: the
/// "busy machine" of `SYNCTCP_BENCH_HOGS`.
struct Hog(Child);

impl Hog {
    fn start() -> Hog {
        Hog(Command::new(std::env::current_exe().unwrap())
            .arg("--hog")
            .spawn()
            .unwrap())
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn hog() {
    let mut x = 0u64;
    loop {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

/// Raises the soft descriptor limit to the hard one (the servers inherit it): 10,000
/// connections need 10,000 descriptors in this process (the client) and 10,000 in the
/// server under test, plus some headroom for each.
#[cfg(unix)]
fn raise_descriptor_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    let _ = setrlimit(Resource::Nofile, limit);
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

#[cfg(not(unix))]
fn raise_descriptor_limit() -> u64 {
    u64::MAX
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

fn median_duration(values: Vec<Duration>) -> Duration {
    Duration::from_secs_f64(median(values.iter().map(|d| d.as_secs_f64()).collect()))
}

/// Lets the servers finish closing the previous run's connections.
fn settle() {
    std::thread::sleep(Duration::from_millis(300));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        #[cfg(feature = "tls")]
        if let Some(dir) = args.get(i + 2) {
            if tls::serve(&args[i + 1], std::path::Path::new(dir)) {
                return;
            }
        }
        servers::serve(&args[i + 1]);
        return;
    }
    if args.iter().any(|a| a == "--hog") {
        hog();
    }
    let quick = std::env::var_os("SYNCTCP_BENCH_QUICK").is_some();
    let hogs: usize = std::env::var("SYNCTCP_BENCH_HOGS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let only = std::env::var("SYNCTCP_BENCH_ONLY").ok();
    let runs = |scenario: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|s| s == scenario))
    };
    let descriptors = raise_descriptor_limit();
    let many_conns = if quick { 2_000 } else { 10_000 };
    let rounds = if quick { 1 } else { 3 };
    let bulk_rounds = if quick { 1 } else { BULK_ROUNDS };
    let run = Duration::from_millis(if quick { 300 } else { 2000 });
    let bulk_bytes = if quick { 32 << 20 } else { 512 << 20 };
    let idle_conns = if quick { 1_000 } else { 10_000 };

    let servers = [
        Server::start("std"),
        Server::start("synctcp"),
        Server::start("tokio"),
    ];
    let mut report = Report::new(servers.iter().map(|s| s.name).collect(), hogs);
    let _hogs: Vec<Hog> = (0..hogs).map(|_| Hog::start()).collect();
    println!(
        "rounds {rounds} ({bulk_rounds} for bulk), {run:?} per measurement; servers: std, synctcp, tokio; {hogs} CPU hogs; descriptor limit {descriptors}"
    );

    // First, while every server is fresh: memory that earlier scenarios left in a
    // server's allocator or stack cache would make the idle figure look smaller.
    if runs("idle") {
        idle(&servers, &mut report, idle_conns);
    }

    let conn_counts: &[usize] = if runs("pingpong") {
        &[1, 10, 100, 1000]
    } else {
        &[]
    };
    for &conns in conn_counts {
        let (rates, p50, p99, answered_p99) = measure_ping_pong(&servers, conns, run, rounds);
        println!("ping-pong {conns:>4} conns: {rates:.0?} round trips/s");
        report.add(Figure::rate(
            format!("ping-pong {conns} conn, round trips/s"),
            rates.clone(),
        ));
        report.add(Figure::latency(format!("ping-pong {conns} conn, p50"), p50));
        report.add(Figure::latency(format!("ping-pong {conns} conn, p99"), p99));
        if let Some(answered_p99) = answered_p99 {
            report.add(answered_figure(conns, answered_p99));
        }
        report.chart_point(conns, rates);
    }

    if runs("many") {
        many(&servers, &mut report, many_conns, run, rounds, descriptors);
    }

    if runs("bulk") {
        bulk(&servers, &mut report, bulk_bytes, bulk_rounds);
    }
    if runs("churn") {
        churn(&servers, &mut report, run, rounds);
    }
    if runs("burst") {
        burst(&servers, &mut report, rounds);
    }
    if runs("tls") {
        #[cfg(feature = "tls")]
        tls(&mut report, run, rounds, bulk_bytes, bulk_rounds);
        #[cfg(not(feature = "tls"))]
        println!("tls: skipped (it needs `--features tls`)");
    }
    report.write(quick, only.is_some());
}

/// Round trips/s, p50, p99 and (from the tokio-task client) the p99 to the server's answer
/// over `conns` connections, each a median of `rounds`.
fn measure_ping_pong(
    servers: &[Server],
    conns: usize,
    run: Duration,
    rounds: usize,
) -> (
    Vec<f64>,
    Vec<Duration>,
    Vec<Duration>,
    Option<Vec<Duration>>,
) {
    let mut rate = vec![Vec::new(); 3];
    let mut p50 = vec![Vec::new(); 3];
    let mut p99 = vec![Vec::new(); 3];
    let mut answered_p99 = vec![Vec::new(); 3];
    for _ in 0..rounds {
        for (i, server) in servers.iter().enumerate() {
            let r = load::ping_pong(server.addr, conns, run);
            rate[i].push(r.per_second);
            p50[i].push(r.p50);
            p99[i].push(r.p99);
            answered_p99[i].extend(r.answered_p99);
            settle();
        }
    }
    let answered_p99 = (answered_p99[0].len() == rounds)
        .then(|| answered_p99.into_iter().map(median_duration).collect());
    (
        rate.into_iter().map(median).collect(),
        p50.into_iter().map(median_duration).collect(),
        p99.into_iter().map(median_duration).collect(),
        answered_p99,
    )
}

/// The p99 from a client's write to the server's answer: the round trip's p99 without the
/// time the reply waited for the client (see `load::PingPong::answered_p99`).
fn answered_figure(conns: usize, p99: Vec<Duration>) -> Figure {
    Figure::latency(
        format!("ping-pong {conns} conn, p99 to the server's answer"),
        p99,
    )
}

/// 10,000 connections doing ping-pong at once (a tokio client), with each server's
/// memory and threads while they are open.
fn many(
    servers: &[Server],
    report: &mut Report,
    conns: usize,
    run: Duration,
    rounds: usize,
    descriptors: u64,
) {
    if descriptors < conns as u64 + 1000 {
        panic!(
            "the many-connection scenario needs a descriptor limit of at least {} (it is {descriptors}): raise `ulimit -Hn`",
            conns + 1000
        );
    }
    let mut rate = vec![Vec::new(); 3];
    let mut p50 = vec![Vec::new(); 3];
    let mut p99 = vec![Vec::new(); 3];
    let mut answered_p99 = vec![Vec::new(); 3];
    let mut rss = vec![0.0; 3];
    let mut threads = vec![0.0; 3];
    for _ in 0..rounds {
        for (i, server) in servers.iter().enumerate() {
            eprintln!("  {conns} connections to {}", server.name);
            let r = load::ping_pong_tasks_observed(server.addr, conns, run, || {
                (server.rss_kib() as f64 / 1024.0, server.threads() as f64)
            });
            rate[i].push(r.0.per_second);
            p50[i].push(r.0.p50);
            p99[i].push(r.0.p99);
            answered_p99[i].extend(r.0.answered_p99);
            rss[i] = f64::max(rss[i], r.1 .0);
            threads[i] = f64::max(threads[i], r.1 .1);
            settle_until_idle(server);
        }
    }
    let rates: Vec<f64> = rate.into_iter().map(median).collect();
    println!("ping-pong {conns} conns: {rates:.0?} round trips/s; server RSS {rss:.0?} MiB, threads {threads:.0?}");
    report.add(Figure::rate(
        format!("ping-pong {conns} conn, round trips/s"),
        rates.clone(),
    ));
    report.add(Figure::latency(
        format!("ping-pong {conns} conn, p50"),
        p50.into_iter().map(median_duration).collect(),
    ));
    report.add(Figure::latency(
        format!("ping-pong {conns} conn, p99"),
        p99.into_iter().map(median_duration).collect(),
    ));
    report.add(answered_figure(
        conns,
        answered_p99.into_iter().map(median_duration).collect(),
    ));
    report.add(Figure::memory_mib(
        format!("ping-pong {conns} conn, server RSS"),
        rss,
    ));
    report.add(Figure::count(
        format!("ping-pong {conns} conn, server threads"),
        threads,
    ));
    report.chart_point(conns, rates);
}

/// Waits (up to 30 s) until the server has let go of a scenario's connections.
fn settle_until_idle(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let base = if server.name == "tokio" { 0 } else { 1 };
    while Instant::now() < deadline && server.threads() > base + 8 {
        std::thread::sleep(Duration::from_millis(50));
    }
    settle();
}

/// Rounds of each bulk figure. A round takes a second or two, and rounds of the same code
/// spread by ±25% (the client's threads and the server's share two cores): the median of
/// three landed either side of 1.0 from run to run.
const BULK_ROUNDS: usize = 15;

fn bulk(servers: &[Server], report: &mut Report, bulk_bytes: usize, rounds: usize) {
    let (bulk, cpu) = bulk_medians(servers, rounds, bulk_bytes, |server| {
        load::bulk(server.addr, bulk_bytes)
    });
    println!("bulk: {bulk:.0?} MiB/s");
    report.add(Figure::rate(
        format!("bulk {} MiB duplex, MiB/s", bulk_bytes >> 20),
        bulk,
    ));
    report.add(Figure::latency(
        "bulk duplex, server CPU per MiB echoed".into(),
        cpu,
    ));

    let lockstep = medians(servers, rounds, |_, server| {
        load::bulk_lockstep(server.addr, bulk_bytes / 2)
    });
    println!("bulk lockstep: {lockstep:.0?} MiB/s");
    report.add(Figure::rate(
        format!("bulk {} MiB in 256 KiB turns, MiB/s", bulk_bytes >> 21),
        lockstep,
    ));
}

fn churn(servers: &[Server], report: &mut Report, run: Duration, rounds: usize) {
    let mut churn = vec![Vec::new(); 3];
    for _ in 0..rounds {
        for (i, server) in servers.iter().enumerate() {
            churn[i].push(load::churn(server.addr, 4, run));
            settle();
        }
    }
    let churn: Vec<f64> = churn.into_iter().map(median).collect();
    println!("churn: {churn:.0?} connections/s");
    report.add(Figure::rate(
        "churn (4 threads), connections/s".into(),
        churn,
    ));
}

fn burst(servers: &[Server], report: &mut Report, rounds: usize) {
    let mut failures = vec![0usize; 3];
    let mut burst_p50 = vec![Vec::new(); 3];
    let mut burst_max = vec![Vec::new(); 3];
    for _ in 0..rounds {
        for (i, server) in servers.iter().enumerate() {
            let b = load::burst(server.addr, 2_000);
            failures[i] += b.failures;
            burst_p50[i].push(b.p50);
            burst_max[i].push(b.max);
            settle();
        }
    }
    println!("burst failures: {failures:?}");
    report.add(Figure::count(
        "burst 2,000 connects, failures".into(),
        failures.iter().map(|&f| f as f64).collect(),
    ));
    report.add(Figure::latency(
        "burst 2,000 connects, p50 to first echo".into(),
        burst_p50.into_iter().map(median_duration).collect(),
    ));
    report.add(Figure::latency(
        "burst 2,000 connects, max to first echo".into(),
        burst_max.into_iter().map(median_duration).collect(),
    ));
}

fn idle(servers: &[Server], report: &mut Report, idle_conns: usize) {
    let mut memory = Vec::new();
    let mut threads = Vec::new();
    for server in servers {
        settle();
        let (rss, thr) = (server.rss_kib(), server.threads());
        let held = load::open_idle(server.addr, idle_conns);
        settle();
        let per_conn_kib = (server.rss_kib().saturating_sub(rss)) as f64 / idle_conns as f64;
        let per_conn_threads = (server.threads().saturating_sub(thr)) as f64 / idle_conns as f64;
        println!(
            "{}: {per_conn_kib:.1} KiB and {per_conn_threads:.2} threads per idle connection",
            server.name
        );
        memory.push(per_conn_kib);
        threads.push(per_conn_threads);
        drop(held);
    }
    report.add(Figure::memory(
        format!("idle {idle_conns} conns, KiB per conn"),
        memory,
    ));
    report.add(Figure::count(
        format!("idle {idle_conns} conns, threads per conn"),
        threads,
    ));
}

/// Medians over `rounds` of `measure` on each server, interleaved; each round's value goes
/// to stderr, to show the spread.
fn medians(
    servers: &[Server],
    rounds: usize,
    mut measure: impl FnMut(usize, &Server) -> f64,
) -> Vec<f64> {
    let mut values = vec![Vec::new(); servers.len()];
    for _ in 0..rounds {
        for (i, server) in servers.iter().enumerate() {
            let value = measure(i, server);
            eprintln!("  {}: {value:.6}", server.name);
            values[i].push(value);
            settle();
        }
    }
    values.into_iter().map(median).collect()
}

/// Medians over `rounds` of `transfer`, which echoes `bytes` through a server and returns
/// MiB/s, with the medians of the server's CPU time per MiB echoed (to 10 ms over the whole
/// transfer).
fn bulk_medians(
    servers: &[Server],
    rounds: usize,
    bytes: usize,
    transfer: impl Fn(&Server) -> f64,
) -> (Vec<f64>, Vec<Duration>) {
    let mut cpu = vec![Vec::new(); servers.len()];
    let rates = medians(servers, rounds, |i, server| {
        let before = server.cpu_time();
        let rate = transfer(server);
        cpu[i].push((server.cpu_time() - before) / (bytes >> 20) as u32);
        rate
    });
    (rates, cpu.into_iter().map(median_duration).collect())
}

/// synctcp's TLS listener against tokio + tokio-rustls, both with a certificate made now:
/// handshakes/s from 4 threads (full: the client keeps no sessions; resumed: one session
/// store per server, shared by the threads) and the server's CPU time per connection,
/// ping-pong latency on one connection, and bulk.
#[cfg(feature = "tls")]
fn tls(report: &mut Report, run: Duration, rounds: usize, bulk_bytes: usize, bulk_rounds: usize) {
    let cert = tls::Certificate::new();
    let dir = cert.dir.as_os_str();
    let servers = [
        Server::start_with("synctcp-tls", &[dir]),
        Server::start_with("tokio-tls", &[dir]),
    ];
    let fresh = tls::client_config(&cert.dir, false);
    let resuming: Vec<_> = servers
        .iter()
        .map(|_| tls::client_config(&cert.dir, true))
        .collect();

    let mut cpu = vec![Vec::new(); servers.len()];
    let full = medians(&servers, rounds, |i, server| {
        let h = tls::handshakes(server.addr, &fresh, 4, run, || server.cpu_time());
        assert!(h.resumed == 0.0, "{}: a session resumed", server.name);
        cpu[i].push(h.server_cpu);
        h.per_second
    });
    println!("tls full handshakes: {full:.0?} per second");
    report.add_tls(Figure::rate(
        "full handshakes (4 threads), per second".into(),
        full,
    ));
    report.add_tls(Figure::latency(
        "full handshake, server CPU per connection".into(),
        cpu.into_iter().map(median_duration).collect(),
    ));

    let mut cpu = vec![Vec::new(); servers.len()];
    let resumed = medians(&servers, rounds, |i, server| {
        let h = tls::handshakes(server.addr, &resuming[i], 4, run, || server.cpu_time());
        assert!(
            h.resumed > 0.9,
            "{}: only {:.0}% of the sessions resumed",
            server.name,
            h.resumed * 100.0
        );
        cpu[i].push(h.server_cpu);
        h.per_second
    });
    println!("tls resumed handshakes: {resumed:.0?} per second");
    report.add_tls(Figure::rate(
        "resumed handshakes (4 threads), per second".into(),
        resumed,
    ));
    report.add_tls(Figure::latency(
        "resumed handshake, server CPU per connection".into(),
        cpu.into_iter().map(median_duration).collect(),
    ));

    let mut p99 = vec![Vec::new(); servers.len()];
    let p50 = medians(&servers, rounds, |i, server| {
        let r = tls::ping_pong(server.addr, &fresh, run);
        p99[i].push(r.p99);
        r.p50.as_secs_f64()
    });
    let p50: Vec<Duration> = p50.into_iter().map(Duration::from_secs_f64).collect();
    println!("tls ping-pong 1 conn: p50 {p50:?}");
    report.add_tls(Figure::latency("ping-pong 1 conn, p50".into(), p50));
    report.add_tls(Figure::latency(
        "ping-pong 1 conn, p99".into(),
        p99.into_iter().map(median_duration).collect(),
    ));

    let (bulk, cpu) = bulk_medians(&servers, bulk_rounds, bulk_bytes, |server| {
        tls::bulk(server.addr, &fresh, bulk_bytes)
    });
    println!("tls bulk: {bulk:.0?} MiB/s");
    report.add_tls(Figure::rate(
        format!("bulk {} MiB duplex, MiB/s", bulk_bytes >> 20),
        bulk,
    ));
    report.add_tls(Figure::latency(
        "bulk duplex, server CPU per MiB echoed".into(),
        cpu,
    ));
}
