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
    /// Went down and came back serving (the status it answered).
    Back(u16),
    /// Never seen down in the restart window: the restart was not observed.
    NoRestart,
    /// Went down and did not come back serving in time (the last thing seen).
    NotBack(Seen),
}

/// The restart as the answers show it.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    pub(crate) went_down: bool,
    failures: u32,
}

impl Watch {
    /// Takes one answer; returns the status once the API server went down and serves again.
    pub(crate) fn see(&mut self, s: &Seen) -> Option<u16> {
        self.failures = match s {
            Seen::NoAnswer(_) => self.failures + 1,
            _ => 0,
        };
        if matches!(s, Seen::Refused(_)) || self.failures >= FAILURES_FOR_DOWN {
            self.went_down = true;
        }
        match s {
            Seen::Status(code) if self.went_down && s.serving() => Some(*code),
            _ => None,
        }
    }
}

/// Failed requests in a row, other than refused connections, that count as the API server
/// being down: one slow answer from a busy server is not a restart.
pub(crate) const FAILURES_FOR_DOWN: u32 = 3;

/// Waits for the API server at `ep` to go down within `restart_window` (a refused connection,
/// or [`FAILURES_FOR_DOWN`] failed requests in a row), then to serve again before `total` has
/// passed, asking every `every`, each request bounded by `request_timeout`. `seen` hears each
/// change of state.
pub(crate) fn wait(
    ep: &Endpoint,
    total: Duration,
    restart_window: Duration,
    every: Duration,
    request_timeout: Duration,
    seen: &mut dyn FnMut(&Seen),
) -> Outcome {
    let start = Instant::now();
    let mut last: Option<Seen> = None;
    let mut watch = Watch::default();
    loop {
        let s = probe(ep, request_timeout);
        if last.as_ref() != Some(&s) {
            seen(&s);
        }
        if let Some(code) = watch.see(&s) {
            return Outcome::Back(code);
        }
        let elapsed = start.elapsed();
        if !watch.went_down && elapsed >= restart_window {
            return Outcome::NoRestart;
        }
        if elapsed >= total {
            return Outcome::NotBack(s);
        }
        last = Some(s);
        std::thread::sleep(every);
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
        let mut w = Watch::default();
        assert_eq!(w.see(&ok), None, "serving before the restart");
        assert_eq!(w.see(&slow), None);
        assert_eq!(w.see(&slow), None);
        assert_eq!(w.see(&ok), None, "two slow answers are not a restart");
        assert!(!w.went_down);
        assert_eq!(w.see(&refused), None);
        assert_eq!(w.see(&Seen::Status(500)), None, "up but not ready");
        assert_eq!(w.see(&ok), Some(200));
        let mut w = Watch::default();
        for _ in 0..FAILURES_FOR_DOWN {
            assert_eq!(w.see(&slow), None);
        }
        assert_eq!(w.see(&Seen::Status(401)), Some(401));
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
