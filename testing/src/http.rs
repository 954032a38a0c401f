//! HTTP/1.1 on loopback for the tests and benches of `trueup serve`: one GET per connection,
//! by hand, so that nothing between the client and the server hides what the server sent.

use std::io::{Read, Write};
use std::net::TcpStream;

/// One HTTP/1.1 GET with these header lines (each ended by CRLF): (status, head, body).
pub fn exchange(address: &str, path: &str, headers: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(address).expect("connect");
    // One write of the whole request: written piece by piece, a request the server refuses
    // early (a bad request line or header) could be answered and closed before the client
    // has finished, and the client's next piece would fail with a broken pipe.
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {address}\r\n{headers}Connection: close\r\n\r\n");
    let sent = stream.write_all(request.as_bytes());
    let mut response = String::new();
    let read = stream.read_to_string(&mut response);
    // a server that answers before reading everything may close first: what it sent counts
    assert!(
        response.len() >= 12,
        "GET {path}: no response (write: {sent:?}, read: {read:?})"
    );
    let status = response[9..12].parse().expect("status code");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    // chunked bodies: keep the chunk contents
    let body = if response
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n]);
            rest = &tail[n + 2..];
        }
        out
    } else {
        body.to_string()
    };
    (status, head.to_string(), body)
}

/// A running `trueup serve`, killed when dropped: a test that fails while it runs leaves no
/// server behind (one would hold the test's output open). Used as the [`Child`] it wraps.
///
/// [`Child`]: std::process::Child
pub struct Server(std::process::Child);

impl std::ops::Deref for Server {
    type Target = std::process::Child;

    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts `binary serve --store url` (after the shell commands `before`, e.g. a `ulimit`, and
/// with `args` added) on a free loopback port with `token`, and waits until it listens: the
/// server and its address.
pub fn serve(before: &str, binary: &str, url: &str, token: &str, args: &str) -> (Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let script = format!("{before}exec {binary} serve --store {url} --listen {address} {args}");
    let server = Server(
        std::process::Command::new("bash")
            .args(["-c", &script])
            .env("TRUEUP_TOKEN", token)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("serve"),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while TcpStream::connect(&address).is_err() {
        assert!(std::time::Instant::now() < deadline, "serve did not listen");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (server, address)
}
