//! A real SMTP server on loopback for the tests: aiosmtpd (PyPI, installed by
//! scripts/services.sh into .data/venv) writing every message into a maildir the test reads.

use std::path::PathBuf;
use std::time::Duration;
use tokio::process::{Child, Command};

pub struct SmtpSink {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn python() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".data/venv/bin/python")
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let dir =
            std::env::temp_dir().join(format!("castyou-mail-{}", uuid::Uuid::new_v4().simple()));
        let mut sink = SmtpSink {
            port: free_port(),
            dir,
            child: None,
        };
        sink.restart().await;
        sink
    }

    /// `smtp://127.0.0.1:<port>` (plain SMTP on loopback).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on its port, keeping what it received.
    pub async fn restart(&mut self) {
        self.stop().await;
        let child = Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&self.dir)
            .kill_on_drop(true)
            .spawn()
            .expect("starting aiosmtpd (scripts/services.sh installs it into .data/venv)");
        self.child = Some(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("aiosmtpd did not listen on {}", self.port);
    }

    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Every message received so far, raw.
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.dir.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                if let Ok(text) = std::fs::read_to_string(entry.path()) {
                    out.push(text);
                }
            }
        }
        out
    }

    /// Waits until at least `n` messages arrived to `to`; returns them.
    pub async fn wait_for(&self, to: &str, n: usize) -> Vec<String> {
        for _ in 0..200 {
            let mine = self.to(to);
            if mine.len() >= n {
                return mine;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{n} mail(s) to {to} did not arrive; got {:#?}", self.to(to));
    }

    /// Messages addressed to `to`.
    pub fn to(&self, to: &str) -> Vec<String> {
        self.messages()
            .into_iter()
            .filter(|m| m.lines().any(|l| l.starts_with("To:") && l.contains(to)))
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The token in a mail's link (`…?token=<43 characters>`), after undoing quoted-printable.
pub fn token_in(message: &str) -> String {
    let unfolded = message
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let start = unfolded.find("?token=").expect("a link with a token") + "?token=".len();
    unfolded[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}
