//! A fresh secret key for an encryption configuration, from the operating system's random
//! source (getrandom(2)).

/// 32 random bytes, base64-encoded: the key length secretbox takes (k8s.io/apiserver
/// pkg/server/options/encryptionconfig/config.go, `secretboxTransformerPrefix`: a 32-byte key).
pub(crate) fn fresh_key() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    let mut filled = 0;
    while filled < bytes.len() {
        match rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(format!("no random bytes for a key: {e}")),
        }
    }
    Ok(base64(&bytes))
}

/// Standard base64 with padding (RFC 4648 section 4), as Kubernetes reads keys.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_as_rfc_4648_gives_it() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), enc);
        }
    }

    #[test]
    fn keys_are_fresh_and_32_bytes() {
        let (a, b) = (fresh_key().expect("key"), fresh_key().expect("key"));
        assert_eq!(a.len(), 44);
        assert!(a.ends_with('=') && !a.ends_with("=="));
        assert_ne!(a, b);
    }
}
