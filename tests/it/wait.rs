//! `fix --wait-healthy` against a stand-in API server: TLS on loopback answering /readyz, which
//! the test stops when the manifest changes (the kubelet's restart) and starts again, or not.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const MANIFEST: &str = "etc/kubernetes/manifests/kube-apiserver.yaml";

fn tls_config() -> Arc<rustls::ServerConfig> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(dir.join("cert.pem"))
        .expect("cert")
        .map(|c| c.expect("cert"))
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("key.pem")).expect("key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("config"),
    )
}

/// A stand-in kube-apiserver answering every request with `status`.
struct Server {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Server {
    fn start(port: u16, status: u16) -> Server {
        Server::answering(port, status, usize::MAX)
    }

    /// Answers `limit` requests, then stops listening: a crash-looping API server that
    /// answers between restarts.
    fn answering(port: u16, status: u16, limit: usize) -> Server {
        // Another test's client may hold the port for a moment as its own source port.
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => break l,
                Err(e) if tries < 200 => {
                    tries += 1;
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(e) => panic!("bind 127.0.0.1:{port}: {e}"),
            }
        };
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let config = tls_config();
        let handle = std::thread::spawn(move || {
            let mut answered = 0;
            while !flag.load(Ordering::SeqCst) && answered < limit {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let _ = tcp.set_nonblocking(false);
                        let _ = tcp.set_read_timeout(Some(Duration::from_secs(2)));
                        let conn = rustls::ServerConnection::new(config.clone()).expect("conn");
                        let mut tls = rustls::StreamOwned::new(conn, tcp);
                        let mut req = Vec::new();
                        let mut buf = [0u8; 1024];
                        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                            match tls.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => req.extend_from_slice(&buf[..n]),
                            }
                        }
                        let _ = write!(
                            tls,
                            "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                        );
                        let _ = tls.flush();
                        tls.conn.send_close_notify();
                        let _ = tls.flush();
                        answered += 1;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Server {
            stop,
            handle: Some(handle),
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            h.join().expect("server thread");
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// A node whose API server advertises 127.0.0.1:`port`.
fn node(port: u16) -> (tempfile::TempDir, PathBuf, String) {
    let root = tempfile::tempdir().expect("tempdir");
    let m = root.path().join(MANIFEST);
    fs::create_dir_all(m.parent().expect("dir")).expect("mkdir");
    let text = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kube-apiserver.yaml"),
    )
    .expect("example")
    .replace("192.168.0.10", "127.0.0.1")
    .replace("6443", &port.to_string());
    fs::write(&m, &text).expect("write");
    (root, m, text)
}

fn wait_for_change(path: &Path, original: &str) {
    let start = Instant::now();
    while fs::read_to_string(path).expect("read") == original {
        assert!(start.elapsed() < Duration::from_secs(20), "never written");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn_fix(root: &Path, timeout: &str, stable: &str) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin!("kubeharden"))
        .arg("fix")
        .arg("--root")
        .arg(root)
        .args(["--yes", "--wait-healthy", "--wait-timeout", timeout])
        .args(["--wait-stable", stable])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn")
}

fn finish(child: std::process::Child) -> (i32, String) {
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// A `fix --wait-healthy` under way on a node whose API server answered before the change and
/// stopped when the manifest changed (the kubelet's restart). `prepare` runs first, on the root.
struct Restart {
    root: tempfile::TempDir,
    manifest: PathBuf,
    original: String,
    port: u16,
    child: std::process::Child,
}

fn restart(timeout: &str, stable: &str, prepare: impl FnOnce(&Path)) -> Restart {
    let port = free_port();
    let (root, manifest, original) = node(port);
    prepare(root.path());
    let old = Server::start(port, 200);
    let child = spawn_fix(root.path(), timeout, stable);
    wait_for_change(&manifest, &original);
    old.stop();
    Restart {
        root,
        manifest,
        original,
        port,
        child,
    }
}

impl Restart {
    /// The fix ended with exit 2 having said `says`, and the manifest is as it was.
    fn rolled_back(self, says: &str) -> String {
        let (code, err) = finish(self.child);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(says), "{err}");
        assert!(err.contains("rolled back"), "{err}");
        assert_eq!(
            fs::read_to_string(&self.manifest).expect("read"),
            self.original
        );
        err
    }
}

#[test]
fn the_api_server_restarts_and_answers() {
    let r = restart("20", "2", |_| {});
    std::thread::sleep(Duration::from_millis(700));
    let new = Server::start(r.port, 200);
    let (code, err) = finish(r.child);
    new.stop();
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("not answering"), "{err}");
    assert!(err.contains("kube-apiserver is back and ready"), "{err}");
    assert_ne!(fs::read_to_string(&r.manifest).expect("read"), r.original);
}

#[test]
fn an_api_server_that_does_not_come_back_is_rolled_back() {
    restart("3", "2", |_| {})
        .rolled_back("did not come back to serve for 2 s without a break within 3 s");
}

#[test]
fn an_api_server_answering_500_after_the_restart_is_rolled_back() {
    let r = restart("3", "2", |_| {});
    std::thread::sleep(Duration::from_millis(700));
    let sick = Server::start(r.port, 500);
    r.rolled_back("/readyz answered 500");
    sick.stop();
}

#[test]
fn no_restart_seen_is_an_error_without_rollback() {
    let port = free_port();
    let (root, manifest, original) = node(port);
    let old = Server::start(port, 200);
    let child = spawn_fix(root.path(), "2", "2");
    let (code, err) = finish(child);
    old.stop();
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("did not see it restart"), "{err}");
    assert_ne!(fs::read_to_string(&manifest).expect("read"), original);
}

#[test]
fn an_api_server_down_before_the_change_means_nothing_is_written() {
    let port = free_port();
    let (root, manifest, original) = node(port);
    let child = spawn_fix(root.path(), "3", "2");
    let (code, err) = finish(child);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("does not serve before the change"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(fs::read_to_string(&manifest).expect("read"), original);
    assert!(!root.path().join("var/lib/kubeharden/backups").exists());
}

#[test]
fn an_api_server_that_answers_once_and_stops_is_rolled_back() {
    let r = restart("3", "2", |_| {});
    std::thread::sleep(Duration::from_millis(700));
    // One answer, then nothing listens: a crash loop seen between two restarts.
    let once = Server::answering(r.port, 200, 1);
    r.rolled_back("answered and stopped again");
    once.stop();
}

#[test]
fn an_interrupt_while_waiting_rolls_back() {
    let r = restart("30", "2", |_| {});
    // The kubelet has not started the new API server yet when the operator presses Ctrl-C.
    std::thread::sleep(Duration::from_millis(1200));
    let pid = rustix::process::Pid::from_child(&r.child);
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT");
    r.rolled_back("interrupted (SIGINT)");
}

#[test]
fn a_new_container_that_restarts_is_rolled_back() {
    // The kubelet's pod logs: the running API server's pod, before the change.
    let pod = |root: &Path, uid: &str| {
        let dir = root.join(format!(
            "var/log/pods/kube-system_kube-apiserver-node1_{uid}/kube-apiserver"
        ));
        fs::create_dir_all(&dir).expect("mkdir");
        dir
    };
    let r = restart("20", "10", |root| {
        fs::write(pod(root, "0a1b").join("3.log"), "").expect("log");
    });
    std::thread::sleep(Duration::from_millis(700));
    let new = Server::start(r.port, 200);
    // The new pod's container answers, but the kubelet has restarted it once already.
    let new_pod = pod(r.root.path(), "9f8e");
    fs::write(new_pod.join("0.log"), "").expect("log");
    fs::write(new_pod.join("1.log"), "").expect("log");
    r.rolled_back("its new container restarted 1 time(s)");
    new.stop();
}
