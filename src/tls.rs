//! Client TLS settings (ring, the safe default versions): the public roots alone, made once, or roots a caller
//! adds to. A leaf: the platform's sockets ([`crate::channel`], [`crate::upstream`]) and the webhook sinks use
//! it alike.

use std::sync::Arc;

/// The TLS settings of a tenant's sockets without `ca_file`, and of webhook sinks: the public roots alone, made
/// once.
pub fn public_roots() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: std::sync::OnceLock<Result<Arc<rustls::ClientConfig>, String>> =
        std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            trusting(roots).map(Arc::new)
        })
        .clone()
}

/// Client TLS settings (ring, the safe default versions) that trust `roots`.
pub fn trusting(roots: rustls::RootCertStore) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_roots_settings_are_made_once_and_shared() {
        let first = public_roots().expect("the public roots make valid settings");
        let second = public_roots().expect("the public roots make valid settings");
        assert!(Arc::ptr_eq(&first, &second));
    }
}
