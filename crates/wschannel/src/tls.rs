//! TLS for `wss://`, with rustls and the *ring* provider chosen explicitly.
//!
//! The process-wide default provider is never used, so connecting cannot panic because another
//! crate installed (or failed to install) one.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::error::Error;

pub use rustls;
pub use rustls_pki_types;
pub use tokio_rustls;
pub use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The crypto provider every config in this crate is built with.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server TLS config from a PEM certificate chain (leaf first) and a PEM private key
/// (PKCS#8, PKCS#1 or SEC1), for a `wss://` server: wrap accepted TCP streams with
/// [`TlsAcceptor::from`] and pass the TLS stream to [`accept`](crate::accept).
///
/// # Errors
/// [`Error::TlsConfig`] when the PEM holds no certificate or no key, or rustls refuses them.
pub fn server_config(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Arc<ServerConfig>, Error> {
    let certs = parse_certificates(cert_chain_pem)?;
    if certs.is_empty() {
        return Err(Error::TlsConfig("no certificate found in the PEM certificate chain".into()));
    }
    let key = parse_private_key(key_pem)?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::TlsConfig(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::TlsConfig(format!("certificate and key do not fit: {e}")))?;
    Ok(Arc::new(config))
}

/// Parses every certificate in a PEM file.
///
/// # Errors
/// [`Error::TlsConfig`] when the PEM is malformed.
pub fn parse_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::TlsConfig(format!("malformed PEM certificate: {e}")))
}

fn parse_private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        pem::Error::NoItemsFound => Error::TlsConfig("no private key found in the PEM".into()),
        e => Error::TlsConfig(format!("malformed PEM private key: {e}")),
    })
}

/// Builds the client config for the builder's options: webpki roots plus `extra_roots`, or
/// no verification at all when `insecure`.
pub(crate) fn client_config(
    extra_roots: &[CertificateDer<'static>],
    insecure: bool,
) -> Result<Arc<ClientConfig>, Error> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::TlsConfig(e.to_string()))?;
    let config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for cert in extra_roots {
            roots
                .add(cert.clone())
                .map_err(|e| Error::TlsConfig(format!("unusable root certificate: {e}")))?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// The server name to verify for a URL host: a DNS name or an IP address.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned())
        .map_err(|e| Error::TlsConfig(format!("{host:?} is not a valid TLS server name: {e}")))
}

/// Accepts any server certificate; signatures are still checked with the provider's
/// algorithms so the handshake itself is sound. For `danger_insecure_skip_verify` only.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_configs_build_without_a_process_provider() {
        assert!(client_config(&[], false).is_ok());
        assert!(client_config(&[], true).is_ok());
    }

    #[test]
    fn server_config_rejects_empty_pem() {
        assert!(matches!(server_config(b"", b""), Err(Error::TlsConfig(_))));
    }

    /// The PEM reader (rustls-pki-types' `PemObject`): certificates and PKCS#8 keys among other
    /// sections, and an error that says what was missing or malformed.
    #[test]
    fn server_config_reads_pem_and_says_what_is_wrong() {
        let rcgen::CertifiedKey { cert, key_pair } =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let (cert_pem, key_pem) = (cert.pem(), key_pair.serialize_pem());
        // Both in one file, as some deployments keep them: each reader takes its own kind.
        let both = format!("{key_pem}{cert_pem}");
        assert!(server_config(both.as_bytes(), both.as_bytes()).is_ok());
        assert_eq!(parse_certificates(both.as_bytes()).unwrap().len(), 1);

        let msg = |r: Result<Arc<ServerConfig>, Error>| match r {
            Err(Error::TlsConfig(m)) => m,
            other => panic!("{other:?}"),
        };
        let no_key = msg(server_config(cert_pem.as_bytes(), cert_pem.as_bytes()));
        assert_eq!(no_key, "no private key found in the PEM");
        let no_cert = msg(server_config(key_pem.as_bytes(), key_pem.as_bytes()));
        assert_eq!(no_cert, "no certificate found in the PEM certificate chain");
        let broken = cert_pem.replace("\n-----END", "!!\n-----END");
        let bad_cert = msg(server_config(broken.as_bytes(), key_pem.as_bytes()));
        assert!(bad_cert.starts_with("malformed PEM certificate: "), "{bad_cert}");
    }

    #[test]
    fn ip_hosts_are_server_names() {
        assert!(matches!(server_name("[::1]"), Ok(ServerName::IpAddress(_))));
        assert!(matches!(server_name("example.com"), Ok(ServerName::DnsName(_))));
    }
}
