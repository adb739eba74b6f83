//! A NATS client spoken by hand: the text protocol over std's TCP. The harness
//! is checked with it without the client library the daemon uses, and the
//! trust tests act with it as a NATS user would who is not a well-behaved
//! daemon (publishing what it may not, forging an envelope).

use super::TIMEOUT;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// Where [`Bare::request`] takes its answer unless [`Bare::answers_on`] says.
const INBOX: &str = "_INBOX.bare";

/// A NATS protocol connection: what the server sends as it arrives, one line
/// at a time.
pub struct Bare {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    inbox: String,
}

impl Bare {
    /// Connects to `url` (`nats://host:port`) and reads the server's first
    /// line, which must be `INFO {…}`; returns that JSON too.
    pub fn connect(url: &str) -> (Bare, Value) {
        let addr = url.strip_prefix("nats://").expect("a nats:// URL");
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {url}: {e}"));
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let writer = stream.try_clone().unwrap();
        let mut bare = Bare {
            reader: BufReader::new(stream),
            writer,
            inbox: INBOX.to_string(),
        };
        let first = bare.line();
        let info = first
            .strip_prefix("INFO {")
            .map(|rest| format!("{{{rest}"))
            .unwrap_or_else(|| panic!("first line from {url}: {first}"));
        let info = serde_json::from_str(&info).unwrap_or_else(|e| panic!("{e}: {first}"));
        (bare, info)
    }

    /// A connection to `url` as `user` with `password`, which the server must
    /// accept.
    pub fn login(url: &str, user: &str, password: &str) -> Bare {
        let (mut bare, _) = Bare::connect(url);
        // Not pedantic, which the protocol is unless told: a pedantic
        // connection may not publish to a subject holding a wildcard, as
        // JetStream's API subjects do that name a consumer's filter.
        let options = json!({"verbose": false, "pedantic": false, "user": user, "pass": password});
        assert_eq!(bare.handshake(options), "PONG", "login as {user}");
        bare
    }

    /// Takes the answers to [`Self::request`] on `inbox` (a subject the user
    /// may subscribe to).
    pub fn answers_on(mut self, inbox: &str) -> Bare {
        self.inbox = inbox.to_string();
        self
    }

    pub fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).expect("write");
    }

    /// The next line from the server, without its CRLF.
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("read a line");
        line.trim_end().to_string()
    }

    /// Sends `CONNECT options` and a `PING`; the server's answer: `PONG` once
    /// it has accepted the connection, else an `-ERR` line.
    pub fn handshake(&mut self, options: Value) -> String {
        self.send(&format!("CONNECT {options}\r\nPING\r\n"));
        self.line()
    }

    /// Publishes `payload` on `subject` with a reply subject and returns the
    /// one answer, as JSON (JetStream's API and acknowledgements answer so).
    pub fn request(&mut self, subject: &str, payload: &str) -> Value {
        let inbox = self.inbox.clone();
        self.send(&format!(
            "SUB {inbox} 1\r\nUNSUB 1 1\r\nPUB {subject} {inbox} {}\r\n{payload}\r\n",
            payload.len()
        ));
        loop {
            let line = self.line();
            if line == "PING" {
                self.send("PONG\r\n");
                continue;
            }
            let len = line
                .strip_prefix(&format!("MSG {inbox} 1 "))
                .and_then(|len| len.parse::<usize>().ok())
                .unwrap_or_else(|| panic!("answer to {subject}: {line}"));
            let mut body = vec![0; len + 2];
            self.reader.read_exact(&mut body).expect("read a message");
            return serde_json::from_slice(&body[..len]).expect("a JSON answer");
        }
    }

    /// Sends `ops` (protocol lines, such as a `PUB` or a `SUB`) and a `PING`;
    /// the `-ERR` lines the server answers them with before its `PONG`.
    pub fn refusals(&mut self, ops: &str) -> Vec<String> {
        self.send(&format!("{ops}PING\r\n"));
        let mut refusals = Vec::new();
        loop {
            match self.line() {
                line if line == "PONG" => return refusals,
                line if line == "PING" => self.send("PONG\r\n"),
                line if line.starts_with("-ERR ") => refusals.push(line),
                line => panic!("answer to {ops:?}: {line}"),
            }
        }
    }
}
