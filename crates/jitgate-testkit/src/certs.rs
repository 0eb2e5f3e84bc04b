//! Certificates for tests of TLS towards jitgate's fronts.

use std::path::Path;

/// A CA and a server certificate for `localhost` and 127.0.0.1, written as PEM files into
/// `dir`: the paths of (ca, cert, key).
pub fn write_certificates(dir: &Path) -> [String; 3] {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "jitgate test CA");
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let key = rcgen::KeyPair::generate().expect("key");
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("params");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("certificate");
    let paths = ["ca.pem", "server.pem", "server.key"].map(|f| dir.join(f));
    std::fs::write(&paths[0], ca.pem()).expect("write");
    std::fs::write(&paths[1], cert.pem()).expect("write");
    std::fs::write(&paths[2], key.serialize_pem()).expect("write");
    paths.map(|p| p.display().to_string())
}
