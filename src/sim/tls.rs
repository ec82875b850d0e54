//! `--tls`: a self-signed certificate generated at start and written where a client can trust it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::config::SimConfig;

pub struct Tls {
    pub server_config: rustls::ServerConfig,
    pub cert_path: PathBuf,
}

pub fn self_signed(config: &SimConfig, addr: SocketAddr) -> anyhow::Result<Tls> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let ip = addr.ip().to_string();
    if !names.contains(&ip) && !addr.ip().is_unspecified() {
        names.push(ip);
    }
    let certified =
        rcgen::generate_simple_self_signed(names).context("while generating a certificate")?;
    let cert_path = config.tls_cert_path.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("switchboard-sim-{}.pem", addr.port()))
    });
    std::fs::write(&cert_path, certified.cert.pem())
        .with_context(|| format!("while writing the certificate to {}", cert_path.display()))?;
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("while choosing TLS versions")?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .context("while loading the generated certificate")?;
    Ok(Tls {
        server_config,
        cert_path,
    })
}
