//! Trusting an extra CA for one tenant (a proxy, a private link, the simulator's `--tls`), on top of the
//! public roots, for both its REST calls and its sockets.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The HTTP client and socket TLS settings for a tenant with `ca_file`.
pub fn with_ca(
    ca_file: &Path,
    timeout: std::time::Duration,
    egress: &crate::egress::Egress,
) -> Result<(reqwest::Client, Arc<rustls::ClientConfig>), String> {
    let pem = crate::files::read_regular(ca_file, crate::files::MAX_CA_FILE_BYTES)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{} is not PEM: {e}", ca_file.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let mut http = reqwest::Client::builder()
        .dns_resolver(Arc::new(egress.clone()))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .pool_max_idle_per_host(4);
    for cert in &certs {
        roots
            .add(cert.clone())
            .map_err(|e| format!("{}: {e}", ca_file.display()))?;
        let c = reqwest::Certificate::from_der(cert)
            .map_err(|e| format!("{}: {e}", ca_file.display()))?;
        http = http.add_root_certificate(c);
    }
    let tls = crate::tls::trusting(roots)?;
    let http = http
        .build()
        .map_err(|e| format!("while building the HTTP client: {e}"))?;
    Ok((http, Arc::new(tls)))
}
