//! synctcp against bare `std::net` and tokio, in one run.
//!
//! ```sh
//! cargo bench --bench echo            # the full run, a few minutes
//! SYNCTCP_BENCH_QUICK=1 cargo bench --bench echo   # a short smoke run
//! ```
//!
//! Three echo servers run as child processes of this binary (`--serve KIND`). The same
//! client code drives each, interleaved (std, synctcp, tokio, std, synctcp, tokio, …) so that
//! drift hits all alike; each figure is the median of the rounds. The table (Markdown) and
//! a chart of round trips/s by connection count (SVG) are written to `target/bench-echo/`.

mod load;
mod report;
mod servers;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use report::{Figure, Report};

/// A server child process.
struct Server {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(name: &'static str) -> Server {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--serve", name])
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
        servers::serve(&args[i + 1]);
        return;
    }
    let quick = std::env::var_os("SYNCTCP_BENCH_QUICK").is_some();
    let rounds = if quick { 1 } else { 3 };
    let run = Duration::from_millis(if quick { 300 } else { 2000 });
    let bulk_bytes = if quick { 32 << 20 } else { 512 << 20 };
    let idle_conns = if quick { 1_000 } else { 10_000 };

    let servers = [
        Server::start("std"),
        Server::start("synctcp"),
        Server::start("tokio"),
    ];
    let mut report = Report::new(servers.iter().map(|s| s.name).collect());
    println!("rounds {rounds}, {run:?} per measurement; servers: std, synctcp, tokio");

    for conns in [1, 10, 100, 1000] {
        let mut rate = vec![Vec::new(); 3];
        let mut p50 = vec![Vec::new(); 3];
        let mut p99 = vec![Vec::new(); 3];
        for _ in 0..rounds {
            for (i, server) in servers.iter().enumerate() {
                let r = load::ping_pong(server.addr, conns, run);
                rate[i].push(r.per_second);
                p50[i].push(r.p50);
                p99[i].push(r.p99);
                settle();
            }
        }
        let rates: Vec<f64> = rate.into_iter().map(median).collect();
        println!("ping-pong {conns:>4} conns: {rates:.0?} round trips/s");
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
        report.chart_point(conns, rates);
    }

    let mut bulk = vec![Vec::new(); 3];
    for _ in 0..rounds {
        for (i, server) in servers.iter().enumerate() {
            bulk[i].push(load::bulk(server.addr, bulk_bytes));
            settle();
        }
    }
    let bulk: Vec<f64> = bulk.into_iter().map(median).collect();
    println!("bulk: {bulk:.0?} MiB/s");
    report.add(Figure::rate(
        format!("bulk {} MiB, MiB/s", bulk_bytes >> 20),
        bulk,
    ));

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

    let mut memory = Vec::new();
    let mut threads = Vec::new();
    for server in &servers {
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

    report.write(quick);
}
