//! The bench's output: a Markdown table with each figure and its ratio to bare std (and to
//! tokio where the target says so), the machine it ran on, and an SVG chart of round trips/s
//! by connection count. The TLS scenario has a small table of its own: synctcp-tls against
//! tokio-tls.

use std::fmt::Write as _;
use std::time::Duration;

/// How a figure is shown and which way is better.
#[derive(Clone, Copy)]
enum Unit {
    Rate,
    Latency,
    Memory,
    MemoryMib,
    Count,
}

pub(crate) struct Figure {
    name: String,
    unit: Unit,
    /// One value per server of its table: std, synctcp, tokio; or synctcp-tls, tokio-tls.
    values: Vec<f64>,
}

impl Figure {
    pub(crate) fn rate(name: String, values: Vec<f64>) -> Figure {
        Figure {
            name,
            unit: Unit::Rate,
            values,
        }
    }
    pub(crate) fn latency(name: String, values: Vec<Duration>) -> Figure {
        let values = values.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        Figure {
            name,
            unit: Unit::Latency,
            values,
        }
    }
    pub(crate) fn memory(name: String, values: Vec<f64>) -> Figure {
        Figure {
            name,
            unit: Unit::Memory,
            values,
        }
    }
    pub(crate) fn memory_mib(name: String, values: Vec<f64>) -> Figure {
        Figure {
            name,
            unit: Unit::MemoryMib,
            values,
        }
    }
    pub(crate) fn count(name: String, values: Vec<f64>) -> Figure {
        Figure {
            name,
            unit: Unit::Count,
            values,
        }
    }

    fn show(&self, v: f64) -> String {
        match self.unit {
            Unit::Rate => format!("{v:.0}"),
            Unit::Latency => format!("{v:.0} µs"),
            Unit::Memory => format!("{v:.1} KiB"),
            Unit::MemoryMib => format!("{v:.0} MiB"),
            Unit::Count => format!("{v:.2}"),
        }
    }

    /// The values, as table cells.
    fn cells(&self) -> String {
        let cells: Vec<String> = self.values.iter().map(|&v| self.show(v)).collect();
        cells.join(" | ")
    }

    /// Server `of`'s value over server `to`'s.
    fn ratio(&self, of: usize, to: usize) -> String {
        let base = self.values[to];
        if base == 0.0 {
            "–".to_string()
        } else {
            format!("{:.2}×", self.values[of] / base)
        }
    }
}

pub(crate) struct Report {
    servers: Vec<&'static str>,
    /// CPU hogs running beside the bench.
    hogs: usize,
    figures: Vec<Figure>,
    /// The TLS table's: synctcp-tls, tokio-tls.
    tls_figures: Vec<Figure>,
    chart: Vec<(usize, Vec<f64>)>,
}

impl Report {
    pub(crate) fn new(servers: Vec<&'static str>, hogs: usize) -> Report {
        Report {
            servers,
            hogs,
            figures: Vec::new(),
            tls_figures: Vec::new(),
            chart: Vec::new(),
        }
    }

    pub(crate) fn add(&mut self, figure: Figure) {
        self.figures.push(figure);
    }

    /// A row of the TLS table: values for synctcp-tls and tokio-tls.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn add_tls(&mut self, figure: Figure) {
        self.tls_figures.push(figure);
    }

    pub(crate) fn chart_point(&mut self, conns: usize, rates: Vec<f64>) {
        self.chart.push((conns, rates));
    }

    fn machine() -> String {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines()
                    .find(|l| l.starts_with("model name"))
                    .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|k| k.trim().to_string())
            .unwrap_or_default();
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        format!("{cores} cores ({cpu}), Linux {kernel}")
    }

    fn table(&self) -> String {
        let mut out = String::new();
        let load = match self.hogs {
            0 => "quiet".to_string(),
            n => format!("busy: {n} CPU hogs running"),
        };
        let _ = writeln!(out, "Machine: {}; {load}\n", Report::machine());
        if !self.figures.is_empty() || self.tls_figures.is_empty() {
            let _ = writeln!(
                out,
                "| figure | {} | synctcp / std | synctcp / tokio |",
                self.servers.join(" | ")
            );
            let _ = writeln!(out, "|---|---|---|---|---|---|");
            for f in &self.figures {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    f.name,
                    f.cells(),
                    f.ratio(1, 0),
                    f.ratio(1, 2)
                );
            }
        }
        if !self.tls_figures.is_empty() {
            if !self.figures.is_empty() {
                out.push('\n');
            }
            let _ = writeln!(
                out,
                "| TLS figure | synctcp-tls | tokio-tls | synctcp-tls / tokio-tls |"
            );
            let _ = writeln!(out, "|---|---|---|---|");
            for f in &self.tls_figures {
                let _ = writeln!(out, "| {} | {} | {} |", f.name, f.cells(), f.ratio(0, 1));
            }
        }
        out
    }

    fn svg(&self) -> String {
        let (w, h, left, bottom, top, right) = (640.0, 400.0, 80.0, 50.0, 40.0, 120.0);
        let max = self
            .chart
            .iter()
            .flat_map(|(_, r)| r.iter().copied())
            .fold(1.0, f64::max)
            * 1.1;
        let x =
            |i: usize| left + (w - left - right) * i as f64 / (self.chart.len().max(2) - 1) as f64;
        let y = |v: f64| top + (h - top - bottom) * (1.0 - v / max);
        let colors = ["#555555", "#d9480f", "#1971c2"];
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="22" font-size="14" text-anchor="middle">Echo round trips/s by connection count (64-byte ping-pong, loopback)</text>"#,
            w / 2.0
        );
        for k in 0..=4 {
            let v = max * f64::from(k) / 4.0;
            let (x2, yv, tx, ty, label) = (w - right, y(v), left - 6.0, y(v) + 4.0, v / 1000.0);
            let _ = writeln!(
                svg,
                r##"<line x1="{left}" x2="{x2}" y1="{yv:.1}" y2="{yv:.1}" stroke="#e0e0e0"/><text x="{tx}" y="{ty:.1}" text-anchor="end">{label:.0}k</text>"##
            );
        }
        for (i, (conns, _)) in self.chart.iter().enumerate() {
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{conns}</text>"#,
                x(i),
                h - bottom + 18.0
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">connections</text>"#,
            left + (w - left - right) / 2.0,
            h - 10.0
        );
        for (s, name) in self.servers.iter().enumerate() {
            let points: Vec<String> = self
                .chart
                .iter()
                .enumerate()
                .map(|(i, (_, rates))| format!("{:.1},{:.1}", x(i), y(rates[s])))
                .collect();
            let _ = writeln!(
                svg,
                r#"<polyline fill="none" stroke="{}" stroke-width="2.5" points="{}"/>"#,
                colors[s],
                points.join(" ")
            );
            for p in &points {
                let (px, py) = p.split_once(',').unwrap();
                let _ = writeln!(
                    svg,
                    r#"<circle cx="{px}" cy="{py}" r="3.5" fill="{}"/>"#,
                    colors[s]
                );
            }
            let _ = writeln!(
                svg,
                r#"<rect x="{}" y="{}" width="14" height="4" fill="{}"/><text x="{}" y="{}">{name}</text>"#,
                w - right + 14.0,
                top + 20.0 * s as f64 + 6.0,
                colors[s],
                w - right + 34.0,
                top + 20.0 * s as f64 + 12.0
            );
        }
        svg.push_str("</svg>\n");
        svg
    }

    /// Prints the table and writes it and the chart under `target/bench-echo/`.
    /// `partial`: only some scenarios ran (the table is still written, under its own name).
    pub(crate) fn write(&self, quick: bool, partial: bool) {
        let table = self.table();
        println!("\n{table}");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-echo");
        std::fs::create_dir_all(&dir).unwrap();
        let mut suffix = String::new();
        if quick {
            suffix.push_str("-quick");
        }
        if self.hogs > 0 {
            suffix.push_str("-busy");
        }
        if partial {
            suffix.push_str("-partial");
        }
        std::fs::write(dir.join(format!("table{suffix}.md")), &table).unwrap();
        std::fs::write(dir.join(format!("roundtrips{suffix}.svg")), self.svg()).unwrap();
        println!(
            "wrote {}/table{suffix}.md and roundtrips{suffix}.svg",
            dir.display()
        );
    }
}
