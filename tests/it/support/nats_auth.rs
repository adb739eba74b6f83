//! Authentication and TLS for the federation auth tests (docs/federation.md,
//! "Trust"), made afresh by each test: the blocks a [`NatsServer`] is
//! configured with ([`NatsServer::with_config`]: a token, nkey users, a TLS
//! certificate, an operator with its accounts), and the files a daemon is
//! given (`--nats-token-file`, `--nats-nkey`, `--nats-ca`, `--nats-creds`),
//! written to a private directory.
//!
//! [`NatsServer`]: super::nats::NatsServer
//! [`NatsServer::with_config`]: super::nats::NatsServer::with_config

use super::nats::quoted;
use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
use nkeys::KeyPair;
use serde_json::{json, Value};
use sha2::{Digest, Sha512_256};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

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

/// Decentralised authentication ("operator mode"): an operator that signed a
/// system account and the account `FED` (with JetStream, no limits), both
/// preloaded in the server's in-memory resolver. Users of `FED` log in with
/// a `.creds` file: their JWT, signed by the account, and their seed.
pub struct Operator {
    operator: KeyPair,
    system: KeyPair,
    account: KeyPair,
}

impl Operator {
    pub fn new() -> Operator {
        Operator {
            operator: KeyPair::new_operator(),
            system: KeyPair::new_account(),
            account: KeyPair::new_account(),
        }
    }

    /// Server config: trust the operator, whose accounts are preloaded.
    pub fn server_config(&self) -> String {
        let operator = jwt(
            &self.operator,
            &self.operator.public_key(),
            "blemees-test",
            json!({"type": "operator", "version": 2,
                   "system_account": self.system.public_key()}),
        );
        let system = account_jwt(&self.operator, &self.system, "SYS", json!({}));
        // -1: no limit; JetStream is enabled for an account by its storage
        // limits.
        let jetstream = json!({
            "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1,
        });
        let fed = account_jwt(&self.operator, &self.account, "FED", jetstream);
        format!(
            "operator: {operator}\n\
             system_account: {sys}\n\
             resolver: MEMORY\n\
             resolver_preload: {{\n  {sys}: {system}\n  {acc}: {fed}\n}}\n",
            operator = quoted(&operator),
            sys = quoted(&self.system.public_key()),
            acc = quoted(&self.account.public_key()),
            system = quoted(&system),
            fed = quoted(&fed),
        )
    }

    /// A `.creds` file for a new user `name` of the account `FED`.
    pub fn creds(&self, name: &str) -> String {
        creds(&self.account, name)
    }
}

/// A `.creds` file for a new user `name` of an account no server knows: its
/// JWT is well formed and signed, by a key the server does not trust.
pub fn foreign_creds(name: &str) -> String {
    creds(&KeyPair::new_account(), name)
}

/// A `.creds` file, as `nsc generate creds` writes it, for a new user `name`
/// of `account`: the user JWT the account signed, and the user's seed.
fn creds(account: &KeyPair, name: &str) -> String {
    let user = KeyPair::new_user();
    let claims = json!({"type": "user", "version": 2, "pub": {}, "sub": {},
                        "subs": -1, "data": -1, "payload": -1});
    let jwt = jwt(account, &user.public_key(), name, claims);
    let seed = user.seed().expect("a seed");
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    )
}

/// The JWT of `account`, named `name`, signed by `operator`: no limits on
/// connections and subscriptions, and `limits` besides.
fn account_jwt(operator: &KeyPair, account: &KeyPair, name: &str, limits: Value) -> String {
    let mut all = json!({"subs": -1, "data": -1, "payload": -1, "imports": -1,
                         "exports": -1, "wildcards": true, "conn": -1, "leaf": -1});
    all.as_object_mut()
        .unwrap()
        .extend(limits.as_object().unwrap().clone());
    let claims = json!({"type": "account", "version": 2, "limits": all,
                        "default_permissions": {"pub": {}, "sub": {}}});
    jwt(operator, &account.public_key(), name, claims)
}

/// A NATS JWT (nats-io/jwt v2): `nats` claims about `subject`, issued and
/// signed (ed25519) by `issuer`. Its id (`jti`) is a hash of the other
/// claims, as nats-io/jwt makes it.
fn jwt(issuer: &KeyPair, subject: &str, name: &str, nats: Value) -> String {
    let b64 = |bytes: &[u8]| BASE64URL_NOPAD.encode(bytes);
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let mut claims = json!({"iat": iat, "iss": issuer.public_key(), "name": name,
                            "sub": subject});
    let jti = BASE32_NOPAD.encode(&Sha512_256::digest(claims.to_string().as_bytes()));
    claims["jti"] = jti.into();
    claims["nats"] = nats;
    let header = json!({"typ": "JWT", "alg": "ed25519-nkey"});
    let signed = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = issuer.sign(signed.as_bytes()).expect("sign");
    format!("{signed}.{}", b64(&signature))
}
