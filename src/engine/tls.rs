//! TLS: the client configuration for https targets (rustls, no OpenSSL).
//!
//! Trust comes from the platform's roots plus an optional private CA file; `insecure` skips
//! verification altogether (every output says so). ALPN offers h2 and/or http/1.1 as the plan's
//! HTTP version asks. This module builds configurations; opening connections is the pool's job.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::plan::{HttpVersion, Transport};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// client_config builds the TLS configuration for a transport.
pub fn client_config(t: &Transport) -> Result<Arc<ClientConfig>, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    let mut config = if t.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider())))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
        if let Some(path) = &t.ca_file {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?
                .collect::<Result<_, _>>()
                .map_err(|e| {
                    format!(
                        "ca_file {} is not a PEM certificate file: {e}",
                        path.display()
                    )
                })?;
            if certs.is_empty() {
                return Err(format!("ca_file {} holds no certificate", path.display()));
            }
            for c in certs {
                roots.add(c).map_err(|e| {
                    format!(
                        "ca_file {}: a certificate is not usable: {e}",
                        path.display()
                    )
                })?;
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = match t.http {
        HttpVersion::Http1 => vec![b"http/1.1".to_vec()],
        HttpVersion::Http2 => vec![b"h2".to_vec()],
        HttpVersion::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    };
    Ok(Arc::new(config))
}

/// server_name is the name the certificate must match (SNI), from the URL's host.
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_string())
        .map_err(|e| format!("`{host}` cannot be a TLS server name: {e}"))
}

/// Refusal is why this client refused a server's certificate, when it is one a person can act
/// on; the error kind stays `tls_error` whatever the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Expired,
    NotValidYet,
    /// Not issued for the host of the URL.
    WrongHost,
    /// Signed by no CA this client trusts (self-signed, or a private CA not given).
    Untrusted,
}

impl Refusal {
    /// of reads the reason from a failed handshake's error, when rustls gave one.
    pub fn of(e: &std::io::Error) -> Option<Refusal> {
        use rustls::CertificateError as C;
        let rustls::Error::InvalidCertificate(c) = e.get_ref()?.downcast_ref::<rustls::Error>()?
        else {
            return None;
        };
        match c {
            C::Expired | C::ExpiredContext { .. } => Some(Refusal::Expired),
            C::NotValidYet | C::NotValidYetContext { .. } => Some(Refusal::NotValidYet),
            C::NotValidForName | C::NotValidForNameContext { .. } => Some(Refusal::WrongHost),
            C::UnknownIssuer => Some(Refusal::Untrusted),
            _ => None,
        }
    }

    /// explain says what was wrong with the certificate of `host`, and what to do about it.
    pub fn explain(self, host: &str) -> String {
        let skip = "or --insecure to skip verification";
        match self {
            Refusal::Expired => format!("its certificate has expired: renew it, {skip}"),
            Refusal::NotValidYet => {
                format!("its certificate is not valid yet: check this machine's clock, {skip}")
            }
            Refusal::WrongHost => format!(
                "its certificate is not valid for `{host}`: use a host name it was issued for, {skip}"
            ),
            Refusal::Untrusted => format!(
                "its certificate is not trusted (self-signed, or signed by a CA not trusted here): give the CA with ca_file (plan) / --ca-file, {skip}"
            ),
        }
    }
}

/// NoVerification accepts any certificate: for `insecure = true` only.
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
        verify_tls12_signature(
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
        verify_tls13_signature(
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
    use rustls::CertificateError;

    #[test]
    fn a_refused_certificate_says_why_when_it_can() {
        let refused = |c| {
            Refusal::of(&std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(c),
            ))
        };
        assert_eq!(refused(CertificateError::Expired), Some(Refusal::Expired));
        assert_eq!(
            refused(CertificateError::NotValidYet),
            Some(Refusal::NotValidYet)
        );
        assert_eq!(
            refused(CertificateError::NotValidForName),
            Some(Refusal::WrongHost)
        );
        assert_eq!(
            refused(CertificateError::UnknownIssuer),
            Some(Refusal::Untrusted)
        );
        assert_eq!(refused(CertificateError::BadEncoding), None);
        assert_eq!(Refusal::of(&std::io::Error::other("reset")), None);
        let why = Refusal::WrongHost.explain("api.example");
        assert!(why.contains("not valid for `api.example`"), "{why}");
    }
}
