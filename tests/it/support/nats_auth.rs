//! Authentication and TLS for the federation auth tests (docs/federation.md,
//! "Trust"), made afresh by each test: the blocks a [`NatsServer`] is
//! configured with ([`NatsServer::with_config`]: a token, nkey users, a TLS
//! certificate), and the files a daemon is given (`--nats-token-file`,
//! `--nats-nkey`, `--nats-ca`), written to a private directory.
//!
//! [`NatsServer`]: super::nats::NatsServer
//! [`NatsServer::with_config`]: super::nats::NatsServer::with_config

use super::nats::quoted;
use nkeys::KeyPair;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// A private directory for secret files (and a server's certificate);
/// removed on drop.
pub struct Secrets {
    dir: tempfile::TempDir,
}

impl Secrets {
    pub fn new() -> Secrets {
        let dir = tempfile::Builder::new()
            .prefix("nats-auth-")
            .tempdir()
            .expect("tempdir");
        Secrets { dir }
    }

    /// Writes `contents` to the file `name`, readable by its owner only (as
    /// users keep seeds and tokens), and gives its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::write(&path, contents).unwrap_or_else(|e| panic!("write {name}: {e}"));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod 600");
        path
    }

    /// [`Self::write`], as a daemon's flag value.
    pub fn arg(&self, name: &str, contents: &str) -> String {
        self.write(name, contents).to_string_lossy().into_owned()
    }
}

/// Server config: every client must give `token`.
pub fn token_auth(token: &str) -> String {
    format!("authorization {{ token: {} }}", quoted(token))
}

/// Server config: the users are those holding the seeds of `users`; the
/// server knows their public keys (`U…`) only.
pub fn nkey_auth(users: &[&KeyPair]) -> String {
    let users: Vec<String> = users
        .iter()
        .map(|u| format!("{{ nkey: {} }}", quoted(&u.public_key())))
        .collect();
    format!("authorization {{ users: [ {} ] }}", users.join(", "))
}

/// A seed file's contents, as `nk -gen user > file` writes it.
pub fn seed_file(user: &KeyPair) -> String {
    format!("{}\n", user.seed().expect("a seed"))
}

/// A certificate authority, and a server certificate it signed for
/// `127.0.0.1` and `localhost`, all PEM.
pub struct Pki {
    ca: String,
    cert: String,
    key: String,
}

impl Pki {
    pub fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa};
        use rcgen::{ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose};
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "blemees test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("CA key"))
            .expect("the CA certificate");
        let mut server = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("server params");
        server
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("server key");
        let cert = server.signed_by(&key, &ca).expect("the server certificate");
        Pki {
            ca: ca.pem(),
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// The CA's certificate, for `--nats-ca`.
    pub fn ca_pem(&self) -> &str {
        &self.ca
    }

    /// Server config: TLS with the certificate, which (and whose key) it
    /// writes to `secrets`. Clients must then speak TLS.
    pub fn server_tls(&self, secrets: &Secrets) -> String {
        let cert = secrets.write("server.pem", &self.cert);
        let key = secrets.write("server-key.pem", &self.key);
        format!(
            "tls {{ cert_file: {}, key_file: {} }}",
            quoted(&cert.to_string_lossy()),
            quoted(&key.to_string_lossy())
        )
    }
}
