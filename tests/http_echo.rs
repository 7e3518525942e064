//! The http_echo example: a real HTTP client (curl) and our own client get POST bodies
//! echoed, over kept-alive connections; a malformed request gets 400 and a close.

mod common;

use std::process::Command;

use common::*;
use synctcp::framing::Delimited;

fn server() -> (Running, u16) {
    let mut command = Command::new(example("http_echo"));
    command.arg("0");
    start_example(command)
}

fn curl(args: &[&str]) -> std::process::Output {
    Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl must be installed (.ci/run installs it)")
}

#[test]
fn curl_gets_its_post_body_back() {
    let (_server, port) = server();
    let url = format!("http://127.0.0.1:{port}/echo");
    let out = curl(&["--data-binary", "Hello Ballerina", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"Hello Ballerina");

    // Two requests on one connection: curl reuses it (keep-alive).
    let out = curl(&[
        "--verbose",
        "--data",
        "one",
        &url,
        "--next",
        "--data",
        "two",
        &url,
    ]);
    assert!(out.status.success());
    assert_eq!(out.stdout, b"onetwo");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("Re-using existing connection") || log.contains("Reusing existing"),
        "{log}"
    );
}

#[test]
fn pipelined_requests_split_anywhere_get_responses_in_order() {
    let (_server, port) = server();
    let client = connect_port(port);
    let requests = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirstPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nsecond";
    // Split in awkward places: inside the blank line, inside a body.
    for piece in [&requests[..40], &requests[40..70], &requests[70..]] {
        client.write_bytes(piece).unwrap();
    }
    let heads = Delimited::new("\r\n\r\n");
    for body in [&b"first"[..], b"second"] {
        let head = String::from_utf8(client.read_frame(&heads).unwrap()).unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
        assert_eq!(client.read_bytes_exact(body.len()).unwrap(), body);
    }
}

#[test]
fn a_malformed_request_gets_400_and_the_connection_closes() {
    let (_server, port) = server();
    for bad in [
        &b"NONSENSE\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nContent-Length: lots\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        let client = connect_port(port);
        client.write_bytes(bad).unwrap();
        let all = read_to_end(&client).unwrap();
        let text = String::from_utf8_lossy(&all);
        assert!(text.starts_with("HTTP/1.1 400 Bad Request"), "{text}");
        assert!(text.contains("Connection: close"), "{text}");
    }
}

#[test]
fn get_stats_shows_the_listeners_counters() {
    let (_server, port) = server();
    let url = format!("http://127.0.0.1:{port}/");
    for _ in 0..3 {
        let out = curl(&["--data-binary", "12345", &url]);
        assert_eq!(out.stdout, b"12345");
    }
    let out = curl(&[&format!("http://127.0.0.1:{port}/stats")]);
    let page = String::from_utf8_lossy(&out.stdout).into_owned();
    let value = |name: &str| -> u64 {
        page.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {page}"))
    };
    // Four connections so far (three POSTs, this GET), the GET's still open.
    assert_eq!(value("accepted"), 4, "{page}");
    assert_eq!(value("active"), 1, "{page}");
    assert!(value("bytes_in") > 3 * 5, "{page}");
    assert!(value("bytes_out") > 3 * 5, "{page}");
}
