//! `fix --wait-healthy`: after the manifest is written, watch the API server go down (the
//! kubelet restarts it with the new flags) and come back on `/readyz`.
//!
//! The request is what the kubelet's HTTPS probe sends: a GET without credentials over TLS
//! that does not verify the serving certificate (the kubelet's prober skips verification:
//! kubernetes pkg/probe/http/request.go and pkg/kubelet/prober/prober.go), so it works before
//! any kubeconfig is at hand.

use crate::model::Model;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct as Dss, SignatureScheme};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// kube-apiserver's default `--secure-port`.
pub(crate) const DEFAULT_SECURE_PORT: u16 = 6443;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Endpoint {
    /// Where the API server of `model` serves: the address kubeadm's probes use
    /// (`--advertise-address`), else `--bind-address` unless it is a wildcard, else loopback;
    /// the port is `--secure-port`.
    pub(crate) fn of(model: &Model) -> Endpoint {
        let usable = |a: &str| {
            a.parse::<IpAddr>()
                .map(|ip| !ip.is_unspecified())
                .unwrap_or(!a.is_empty())
        };
        let host = model
            .value("advertise-address")
            .filter(|a| usable(a))
            .or_else(|| model.value("bind-address").filter(|a| usable(a)))
            .unwrap_or_else(|| "127.0.0.1".to_string());
        let port = model
            .value("secure-port")
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|p| *p != 0)
            .unwrap_or(DEFAULT_SECURE_PORT);
        Endpoint { host, port }
    }

    pub(crate) fn url(&self) -> String {
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => format!("https://[{}]:{}/readyz", self.host, self.port),
            _ => format!("https://{}:{}/readyz", self.host, self.port),
        }
    }
}

/// What one request saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Nothing listens: the connection was refused. This is what a restart looks like.
    Refused(String),
    /// No answer for another reason: reset, timed out, a broken handshake. A busy API server
    /// can cause one of these too.
    NoAnswer(String),
    /// An HTTP status.
    Status(u16),
}

impl Seen {
    /// 200: ready. 401 and 403: serving, with anonymous requests refused, so readiness itself
    /// cannot be seen without credentials.
    pub(crate) fn serving(&self) -> bool {
        matches!(self, Seen::Status(200 | 401 | 403))
    }
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

/// A handshake signature checked.
type Checked = Result<HandshakeSignatureValid, rustls::Error>;

impl AnyCertificate {
    fn algorithms(&self) -> &WebPkiSupportedAlgorithms {
        &self.0.signature_verification_algorithms
    }
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &Dss) -> Checked {
        rustls::crypto::verify_tls12_signature(m, c, d, self.algorithms())
    }

    fn verify_tls13_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &Dss) -> Checked {
        rustls::crypto::verify_tls13_signature(m, c, d, self.algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms().supported_schemes()
    }
}

fn client_config() -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// One GET of `/readyz`, each step bounded by `timeout`.
pub(crate) fn probe(ep: &Endpoint, timeout: Duration) -> Seen {
    match try_probe(ep, timeout) {
        Ok(status) => Seen::Status(status),
        Err(Failure::Refused(e)) => Seen::Refused(e),
        Err(Failure::Other(e)) => Seen::NoAnswer(e),
    }
}

enum Failure {
    Refused(String),
    Other(String),
}

impl From<String> for Failure {
    fn from(s: String) -> Failure {
        Failure::Other(s)
    }
}

fn try_probe(ep: &Endpoint, timeout: Duration) -> Result<u16, Failure> {
    let config = client_config()?;
    let addr: SocketAddr = (ep.host.as_str(), ep.port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| format!("{} resolves to no address", ep.host))?;
    let mut tcp = TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
        if e.kind() == std::io::ErrorKind::ConnectionRefused {
            Failure::Refused(e.to_string())
        } else {
            Failure::Other(e.to_string())
        }
    })?;
    tcp.set_read_timeout(Some(timeout))
        .and_then(|()| tcp.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(ep.host.clone()).map_err(|e| e.to_string())?;
    let mut conn = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
    let host = match ep.host.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => format!("[{}]:{}", ep.host, ep.port),
        _ => format!("{}:{}", ep.host, ep.port),
    };
    let request = format!(
        "GET /readyz HTTP/1.1\r\nHost: {host}\r\nUser-Agent: kubeharden/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    tls.write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
        let n = tls.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| line.starts_with("HTTP/"))
        .ok_or_else(|| "no HTTP answer".to_string())?;
    Ok(status)
}

/// How the wait ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Went down, came back, and kept serving through the stable window (the last status).
    Back(u16),
    /// Never seen down in the restart window: the restart was not observed.
    NoRestart,
    /// Went down and did not serve through a stable window before the timeout: the last thing
    /// seen, and how often it served and then stopped again.
    NotBack { last: Seen, flaps: u32 },
    /// The restarted API server's container restarted again: it crashes (what was seen).
    Restarted(String),
    /// A signal ended the wait (its name).
    Interrupted(&'static str),
}

/// How long and how often to ask.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pace {
    /// The whole wait.
    pub(crate) total: Duration,
    /// How soon the API server must be seen going down.
    pub(crate) restart_window: Duration,
    /// How long it must then serve, every answer serving, before it counts as back.
    pub(crate) stable: Duration,
    pub(crate) every: Duration,
    pub(crate) request_timeout: Duration,
}

/// Answers in a row, besides the stable window, that a restarted API server must give before
/// it counts as back: a crash-looping one answers once or twice between restarts.
pub(crate) const STABLE_ANSWERS: u32 = 5;

/// The restart as the answers show it.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    pub(crate) went_down: bool,
    failures: u32,
    /// Serving answers in a row since it came back, and when the first of them came.
    serving: u32,
    since: Option<Instant>,
    /// How often it served after the restart and then stopped again.
    pub(crate) flaps: u32,
}

impl Watch {
    /// Takes one answer, seen at `now`; returns the status once the API server went down and
    /// has served since for `stable` (and [`STABLE_ANSWERS`] answers, unless `stable` is zero).
    pub(crate) fn see(&mut self, s: &Seen, now: Instant, stable: Duration) -> Option<u16> {
        self.failures = match s {
            Seen::NoAnswer(_) => self.failures + 1,
            _ => 0,
        };
        if matches!(s, Seen::Refused(_)) || self.failures >= FAILURES_FOR_DOWN {
            self.went_down = true;
        }
        if !self.went_down {
            return None;
        }
        let (true, Seen::Status(code)) = (s.serving(), s) else {
            if self.since.take().is_some() {
                self.flaps += 1;
            }
            self.serving = 0;
            return None;
        };
        let since = *self.since.get_or_insert(now);
        self.serving += 1;
        let enough = stable.is_zero()
            || (self.serving >= STABLE_ANSWERS && now.duration_since(since) >= stable);
        enough.then_some(*code)
    }
}

/// Failed requests in a row, other than refused connections, that count as the API server
/// being down: one slow answer from a busy server is not a restart.
pub(crate) const FAILURES_FOR_DOWN: u32 = 3;

/// Waits for the API server at `ep` to go down within the restart window (a refused
/// connection, or [`FAILURES_FOR_DOWN`] failed requests in a row), then to serve again,
/// without a break for the stable window, before the whole wait has passed. `seen` hears each
/// change of state; `stop`, asked before every request, ends the wait early with its outcome
/// (a signal, a container that restarted).
pub(crate) fn wait(
    ep: &Endpoint,
    pace: &Pace,
    seen: &mut dyn FnMut(&Seen),
    stop: &mut dyn FnMut() -> Option<Outcome>,
) -> Outcome {
    let start = Instant::now();
    let mut last: Option<Seen> = None;
    let mut watch = Watch::default();
    loop {
        if let Some(o) = stop() {
            return o;
        }
        let s = probe(ep, pace.request_timeout);
        if last.as_ref() != Some(&s) {
            seen(&s);
        }
        if let Some(code) = watch.see(&s, Instant::now(), pace.stable) {
            return Outcome::Back(code);
        }
        let elapsed = start.elapsed();
        if !watch.went_down && elapsed >= pace.restart_window {
            return Outcome::NoRestart;
        }
        if elapsed >= pace.total {
            return Outcome::NotBack {
                last: s,
                flaps: watch.flaps,
            };
        }
        last = Some(s);
        std::thread::sleep(pace.every);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Flag;

    fn model(flags: &[(&str, &str)]) -> Model {
        Model {
            component: "kube-apiserver".into(),
            flags: flags
                .iter()
                .map(|(n, v)| Flag {
                    name: n.to_string(),
                    value: Some(v.to_string()),
                })
                .collect(),
            ..Model::default()
        }
    }

    #[test]
    fn endpoint_from_the_flags() {
        let e = Endpoint::of(&model(&[
            ("advertise-address", "192.168.0.10"),
            ("secure-port", "6444"),
        ]));
        assert_eq!(e.url(), "https://192.168.0.10:6444/readyz");
        let e = Endpoint::of(&model(&[("bind-address", "0.0.0.0")]));
        assert_eq!(e.url(), "https://127.0.0.1:6443/readyz");
        let e = Endpoint::of(&model(&[("bind-address", "fd00::1")]));
        assert_eq!(e.url(), "https://[fd00::1]:6443/readyz");
    }

    #[test]
    fn one_slow_answer_is_not_a_restart() {
        let ok = Seen::Status(200);
        let slow = Seen::NoAnswer("timed out".into());
        let refused = Seen::Refused("refused".into());
        let t = Instant::now();
        let at_once = Duration::ZERO;
        let mut w = Watch::default();
        assert_eq!(w.see(&ok, t, at_once), None, "serving before the restart");
        assert_eq!(w.see(&slow, t, at_once), None);
        assert_eq!(w.see(&slow, t, at_once), None);
        assert_eq!(
            w.see(&ok, t, at_once),
            None,
            "two slow answers are not a restart"
        );
        assert!(!w.went_down);
        assert_eq!(w.see(&refused, t, at_once), None);
        assert_eq!(
            w.see(&Seen::Status(500), t, at_once),
            None,
            "up but not ready"
        );
        assert_eq!(w.see(&ok, t, at_once), Some(200));
        let mut w = Watch::default();
        for _ in 0..FAILURES_FOR_DOWN {
            assert_eq!(w.see(&slow, t, at_once), None);
        }
        assert_eq!(w.see(&Seen::Status(401), t, at_once), Some(401));
    }

    #[test]
    fn back_means_serving_through_the_stable_window() {
        let ok = Seen::Status(200);
        let refused = Seen::Refused("refused".into());
        let stable = Duration::from_secs(10);
        let t = Instant::now();
        let at = |s: u64| t + Duration::from_secs(s);
        let mut w = Watch::default();
        assert_eq!(w.see(&refused, at(0), stable), None);
        // One answer between two restarts is not back.
        assert_eq!(w.see(&ok, at(1), stable), None);
        assert_eq!(w.see(&refused, at(2), stable), None);
        assert_eq!(w.flaps, 1);
        // Answers over less than the window are not back either, however many.
        for s in 3..13 {
            assert_eq!(w.see(&ok, at(s), stable), None, "{s}");
        }
        assert_eq!(w.see(&ok, at(13), stable), Some(200));
        // A long window with too few answers is not enough.
        let mut w = Watch::default();
        assert_eq!(w.see(&refused, at(0), stable), None);
        assert_eq!(w.see(&ok, at(1), stable), None);
        assert_eq!(w.see(&ok, at(20), stable), None);
        assert_eq!(w.see(&ok, at(21), stable), None);
        assert_eq!(w.see(&ok, at(22), stable), None);
        assert_eq!(w.see(&ok, at(23), stable), Some(200));
    }

    #[test]
    fn nothing_listening_is_down() {
        // Bind and drop to find a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let ep = Endpoint {
            host: "127.0.0.1".into(),
            port,
        };
        assert!(matches!(
            probe(&ep, Duration::from_millis(500)),
            Seen::Refused(_)
        ));
    }
}
