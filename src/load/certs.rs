//! Certificates read on a node, for the preconditions of risky changes: whether a certificate
//! chains to a CA (webpki, the verifier rustls uses), and the organizations of its subject,
//! which the API server takes as the user's groups (k8s.io/apiserver
//! pkg/authentication/request/x509/x509.go, `CommonNameUserConversion`).

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};

/// What a certificate is checked for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Usage {
    /// A TLS server's (a kubelet's serving certificate).
    Server,
    /// A TLS client's (a kubeconfig's client certificate).
    Client,
}

/// The certificates of a PEM text.
pub(crate) fn pem_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    let certs = certs.map_err(|e| format!("not PEM certificates ({e})"))?;
    if certs.is_empty() {
        return Err("no certificate in it".into());
    }
    Ok(certs)
}

/// Whether the first of `chain` (the rest are intermediates) is valid now for `usage` and
/// signed, through them, by one of the CA certificates `cas`; the error says why not.
pub(crate) fn verify(
    chain: &[CertificateDer<'_>],
    cas: &[CertificateDer<'_>],
    usage: Usage,
) -> Result<(), String> {
    let (leaf, intermediates) = chain.split_first().ok_or("no certificate")?;
    let anchors: Vec<_> = cas
        .iter()
        .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
        .collect();
    if anchors.is_empty() {
        return Err("the CA file holds no CA certificate".into());
    }
    let cert = webpki::EndEntityCert::try_from(leaf).map_err(|e| format!("{e}"))?;
    let usage = match usage {
        Usage::Server => webpki::KeyUsage::server_auth(),
        Usage::Client => webpki::KeyUsage::client_auth(),
    };
    cert.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        intermediates,
        UnixTime::now(),
        usage,
        None,
        None,
    )
    .map(|_| ())
    .map_err(|e| match e {
        webpki::Error::UnknownIssuer => "not signed by that CA".to_string(),
        webpki::Error::CertExpired { .. } => "expired".to_string(),
        webpki::Error::CertNotValidYet { .. } => "not valid yet".to_string(),
        webpki::Error::CaUsedAsEndEntity => {
            "a CA certificate (a self-signed one, as the kubelet makes for itself)".to_string()
        }
        other => format!("{other:?}"),
    })
}

/// The organizations (O) of a certificate's subject: the user's groups for the API server.
pub(crate) fn subject_organizations(cert: &CertificateDer<'_>) -> Vec<String> {
    subject(cert).map(organizations).unwrap_or_default()
}

/// One DER element: its tag, its content, and what follows it.
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, &b| (a << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The subject Name of a certificate: the sixth field of tbsCertificate (RFC 5280 section
/// 4.1), after the optional `[0]` version.
fn subject<'a>(cert: &'a CertificateDer<'_>) -> Option<&'a [u8]> {
    let (_, certificate, _) = element(cert.as_ref())?;
    let (_, tbs, _) = element(certificate)?;
    let mut rest = tbs;
    let (tag, _, after) = element(rest)?;
    if tag == 0xa0 {
        rest = after;
    }
    // serialNumber, signature, issuer, validity, then subject.
    for _ in 0..4 {
        rest = element(rest)?.2;
    }
    let (tag, subject, _) = element(rest)?;
    (tag == 0x30).then_some(subject)
}

/// The organizationName (2.5.4.10) values of a Name.
fn organizations(mut name: &[u8]) -> Vec<String> {
    const ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0a];
    let mut out = Vec::new();
    while let Some((_, set, rest)) = element(name) {
        let mut attrs = set;
        while let Some((_, attr, more)) = element(attrs) {
            if let Some((0x06, oid, value)) = element(attr) {
                if oid == ORGANIZATION {
                    if let Some((_, v, _)) = element(value) {
                        out.push(String::from_utf8_lossy(v).into_owned());
                    }
                }
            }
            attrs = more;
        }
        name = rest;
    }
    out
}
