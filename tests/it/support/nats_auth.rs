//! Authentication for the federation auth tests (docs/federation.md,
//! "Trust"), made afresh by each test: the blocks a [`NatsServer`] is
//! configured with ([`NatsServer::with_config`]: a token, nkey users), and
//! the files a daemon is given (`--nats-token-file`, `--nats-nkey`), written
//! to a private directory.
//!
//! [`NatsServer`]: super::nats::NatsServer
//! [`NatsServer::with_config`]: super::nats::NatsServer::with_config

use super::nats::quoted;
use nkeys::KeyPair;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// A private directory for secret files; removed on drop.
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
