//! The standalone binary: prints its URL first, serves, logs, stops on SIGTERM/SIGINT with exit
//! 0; a bad config is one stderr line naming the key, exit 2. Every wait has a deadline and the
//! child is killed if a test fails half-way.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use fake_saas::admin_api::Counters;
use fake_saas::SeededSession;

const BIN: &str = env!("CARGO_BIN_EXE_fake-saas");

/// A running `fake-saas` that is killed if the test ends without stopping it.
struct Running {
    child: Option<Child>,
    url: String,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Running {
    fn spawn(args: &[&str]) -> Running {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fake-saas");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {} // keep draining
        });
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut running = Running {
            child: Some(child),
            url: String::new(),
            stderr: Some(stderr),
        };
        let first = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the URL within 20 s")
            .expect("a first stdout line")
            .expect("readable stdout");
        running.url = first;
        running
    }

    fn signal(&self, name: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Wait for exit (deadline 10 s, then SIGKILL); returns the status and everything written
    /// to stderr. Waits on the exit itself, on another thread, not by polling.
    fn wait(mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        let pid = child.id().to_string();
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let status = child.wait();
            let _ = tx.send(());
            status
        });
        if rx.recv_timeout(Duration::from_secs(10)).is_err() {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            let _ = waiter.join();
            panic!("fake-saas did not exit within 10 s");
        }
        let status = waiter.join().unwrap().expect("wait for fake-saas");
        let stderr = self.stderr.take().unwrap().join().unwrap();
        (status, stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn starts_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("saas.toml");
    std::fs::write(
        &config,
        "reuse = \"replay_409\"\n[[fault]]\nname = \"me-once\"\nendpoint = \"/api/v1/me\"\nstatus = 503\nfirst_n = 1\n",
    )
    .unwrap();
    let running = Running::spawn(&["--config", config.to_str().unwrap()]);
    let url = running.url.clone();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let c = client();
    let seeded: SeededSession = admin_post(&c, &url, "/seed").expect("seeded");
    let rt = seeded.refresh_token.as_str();
    let form = refresh_form(rt);
    assert_eq!(post_form(&c, &format!("{url}/oauth/token"), &form).0, 200);
    assert_eq!(post_form(&c, &format!("{url}/oauth/token"), &form).0, 409);
    let at = seeded.access_token.as_str();
    assert_eq!(get_bearer(&c, &format!("{url}/api/v1/me"), at).0, 503);
    let counters: Counters = admin_get(&c, &url, "/counters");
    assert_eq!(counters["/oauth/token"], 2);

    running.signal("TERM");
    let (status, stderr) = running.wait();
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    assert!(stderr.contains("POST /oauth/token"), "{stderr}");
    assert!(stderr.contains("replay_409"), "{stderr}");
    assert!(stderr.contains("fault=me-once"), "{stderr}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");
    // Tokens are logged without their random part.
    assert!(!stderr.contains(rt), "{stderr}");
}

#[test]
fn stops_on_sigint_and_honours_port() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let running = Running::spawn(&["--port", &port.to_string(), "--quiet"]);
    assert_eq!(running.url, format!("http://127.0.0.1:{port}"));
    assert_eq!(get(&client(), &format!("{}/api/v1/me", running.url)).0, 401);
    running.signal("INT");
    let (status, stderr) = running.wait();
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    assert!(
        !stderr.contains("GET /api/v1/me"),
        "--quiet logs no requests: {stderr}"
    );
}

#[test]
fn bad_config_is_one_line_naming_the_key_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("saas.toml");
    std::fs::write(&config, "rotation = true\n\n[device]\nintervall_s = 0\n").unwrap();
    let output = run_with_config(&config);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("intervall_s"), "{stderr}");
    assert!(stderr.contains("line 4"), "{stderr}");

    std::fs::write(
        &config,
        "[[fault]]\nendpoint = \"/oauth/token\"\nprobability = 7\n",
    )
    .unwrap();
    let output = run_with_config(&config);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("fault[0].probability"), "{stderr}");

    assert_cmd::Command::new(BIN)
        .args([
            "--config",
            dir.path().join("missing.toml").to_str().unwrap(),
        ])
        .timeout(Duration::from_secs(20))
        .assert()
        .code(2);
}

#[test]
fn help_explains() {
    let output = assert_cmd::Command::new(BIN)
        .arg("--help")
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for needle in ["--config", "--port", "SIGTERM", "/__admin/"] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
}

/// Runs the binary on `config` (bounded: a config error must exit, not serve).
fn run_with_config(config: &std::path::Path) -> std::process::Output {
    assert_cmd::Command::new(BIN)
        .args(["--config", config.to_str().unwrap()])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap()
}
