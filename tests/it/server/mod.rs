//! `expanse serve` over HTTP: the built binary on a free loopback port, spoken to with raw
//! HTTP/1.1 (malformed requests, operations) and through the real `realm-web` client (the Node
//! suite in `tests/realm-web`).

mod endpoints;
mod malformed;
mod operations;
mod realm_web;
mod scale;
mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const SECRET: &str = "server-tests-secret-0123456789abcdef";
pub const APP_ID: &str = "expanse-realm-web";

/// The app the server tests serve (shared with the Node suite).
pub fn app_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/realm-web/app")
}

/// A running `expanse serve`, stopped (SIGKILL) when dropped.
pub struct Server {
    child: Child,
    pub address: String,
    pub log: mpsc::Receiver<String>,
}

impl Server {
    /// Starts the server with extra arguments (`--mongodb` among them); MONGODB_URI is not
    /// passed on, so the arguments decide the store.
    pub fn start_on_mongodb(args: &[&str]) -> Server {
        Server::start(args, &[])
    }

    /// Starts the server on the embedded store with extra arguments and environment.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_app(&app_dir(), args, env)
    }

    /// Starts the server for the app in `app` on the embedded store.
    pub fn start_app(app: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_expanse"));
        command
            .arg("serve")
            .arg(app)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("MONGODB_URI")
            .env("EXPANSE_JWT_SECRET", SECRET)
            .env("EXPANSE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("expanse serve starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    let rest = line
                        .split("listening on http://")
                        .nth(1)
                        .or_else(|| line.split("listening on https://").nth(1));
                    if let Some(rest) = rest {
                        let address = rest.split_whitespace().next().unwrap().to_owned();
                        return Server {
                            child,
                            address,
                            log: rx,
                        };
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("expanse serve did not start: {seen:#?}")
                }
            }
        }
    }

    /// One request; the connection is closed afterwards.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.address
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        self.raw(&bytes)
    }

    /// Sends raw bytes and reads the response until the server closes the connection.
    pub fn raw(&self, bytes: &[u8]) -> Response {
        let mut stream = TcpStream::connect(&self.address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        // The server may answer (413) before reading everything: write on another thread while
        // this one reads, so the answer is read before the server closes; a failed write is fine.
        let mut writer = stream.try_clone().expect("clone the stream");
        let bytes = bytes.to_vec();
        let writing = std::thread::spawn(move || {
            let _ = writer.write_all(&bytes);
        });
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out);
        let _ = writing.join();
        Response::parse(&out)
    }

    /// Logs in anonymously: (access token, refresh token).
    pub fn anonymous(&self) -> (String, String) {
        let r = self.request(
            "POST",
            &format!("/api/client/v2.0/app/{APP_ID}/auth/providers/anon-user/login"),
            &[("Content-Type", "application/json")],
            br#"{"options": {"device": {"sdkVersion": "2.0.1"}}}"#,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let json = r.json();
        (
            json["access_token"].as_str().unwrap().to_owned(),
            json["refresh_token"].as_str().unwrap().to_owned(),
        )
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then the exit status and everything the server logged.
    pub fn terminate_keep_log(mut self) -> (Option<i32>, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let mut status = None;
        for _ in 0..100 {
            if let Ok(Some(s)) = self.child.try_wait() {
                status = s.code();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut log = String::new();
        while let Ok(line) = self.log.recv_timeout(Duration::from_millis(500)) {
            log.push_str(&line);
            log.push('\n');
        }
        (status, log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    fn parse(bytes: &[u8]) -> Response {
        let text = String::from_utf8_lossy(bytes);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Response {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// Asserts an App Services error envelope with this status and code.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{self:?}"
        );
        let json = self.json();
        assert_eq!(json["error_code"], code, "{self:?}");
        assert!(json["error"].is_string(), "{self:?}");
        assert!(json["link"].is_string(), "{self:?}");
    }
}
