//! Federation's login to NATS (issue 12; docs/federation.md, "Trust"): for
//! each way a daemon authenticates (a token file, an nkey seed, a `.creds`
//! file under an operator) and for TLS with `--nats-ca`, a real nats-server
//! set up that way links the nodes that hold the right credentials, and they
//! exchange a DM; a node with wrong or no credentials is kept out: its link
//! does not come up (`peer.status` and `blemees-peerd status` say so), it
//! logs why, and it goes on serving its own sessions.

use crate::support::federation::*;
use crate::support::nats::NatsServer;
use crate::support::nats_auth::*;
use crate::support::*;
use nkeys::KeyPair;
use serde_json::json;
use std::time::Duration;

/// How long a node kept out is watched for its link coming up after all: a
/// refused login is retried at once, and then again within a few seconds.
const KEPT_OUT_FOR: Duration = Duration::from_secs(3);

/// Nodes alpha and beta, started with their flags (`--nats` and how to log
/// in): both links come up, and a DM from alpha reaches beta once, from
/// alpha.
fn assert_linked(alpha: &[&str], beta: &[&str]) {
    let (alpha, beta) = (
        start_node(&[], "alpha", alpha),
        start_node(&[], "beta", beta),
    );
    wait_link_up(&alpha);
    wait_link_up(&beta);
    let mut a = alpha.peer("~/a");
    let mut b = beta.peer("~/b");
    let sent = a.send_dm(&addr_on("beta", &b), json!("over NATS"));
    assert_eq!(sent["queued"], true, "{sent}");
    let id = sent["message_id"].as_str().expect("message_id");
    let got = receive_all(&mut b, &[id]);
    assert_eq!(ids(&got), [id]);
    assert_eq!(
        (&got[0]["from"], &got[0]["body"]),
        (&json!(addr_on("alpha", &a)), &json!("over NATS"))
    );
}

/// A node started with its flags (`--nats` and how to log in, or not), that
/// NATS keeps out (or, for TLS, that keeps NATS out).
struct Outsider {
    node: &'static str,
    daemon: Daemon,
    /// What its log says of why.
    logs: String,
}

fn outsider(node: &'static str, flags: &[&str], logs: &str) -> Outsider {
    Outsider {
        node,
        daemon: start_node(&[], node, flags),
        logs: logs.to_string(),
    }
}

/// Each of `nodes` logs why it is out; none's link comes up within
/// [`KEPT_OUT_FOR`] after that, as `peer.status` and `blemees-peerd status`
/// show; and each still delivers a DM between two of its own sessions.
fn assert_kept_out(nodes: &[Outsider]) {
    for o in nodes {
        let what = format!("{} to log {:?}", o.node, o.logs);
        eventually(&what, FED_TIMEOUT, || o.daemon.stderr().contains(&o.logs));
    }
    let up = poll_until(KEPT_OUT_FOR, || {
        nodes
            .iter()
            .find(|o| federation_status(&o.daemon)["link"] == "up")
            .map(|o| o.node)
    });
    assert_eq!(up, None, "a node's link came up");
    for o in nodes {
        let link = federation_status(&o.daemon)["link"].clone();
        assert_eq!(link, "connecting", "{}", o.node);
        let status = cli_ok(o.daemon.socket(), &["status"]);
        let line = format!("node {}, link connecting, backlog 0", o.node);
        assert!(status.contains(&line), "{status}");

        let mut a = o.daemon.peer("~/a");
        let mut b = o.daemon.peer("~/b");
        let sent = a.send_dm(&b.addr(), json!("still here"));
        assert_eq!(sent["delivered"], 1, "{sent}");
        let got = b.expect_message();
        assert_eq!(
            (&got["from"], &got["body"]),
            (&json!(a.addr()), &json!("still here"))
        );
    }
}

/// What a node logs when NATS refuses it its credentials.
fn refused(node: &str) -> String {
    format!("NATS refused node {node} its credentials")
}

/// What a node logs when it cannot connect to the server at `url`: the
/// client library's `error`, an I/O error.
fn unreachable(node: &str, url: &str, error: &str) -> String {
    format!("node {node} could not connect to NATS at {url}: IO error: {error}")
}

/// On the server at `url`, which lets in the holders of the secrets
/// `alpha` and `beta` (a file's contents, given with `flag`): nodes alpha
/// and beta link up and exchange a DM, and a node given `wrong`, and one
/// given nothing, are refused.
fn assert_logins(url: &str, flag: &str, alpha: &str, beta: &str, wrong: &str) {
    let secrets = Secrets::new();
    let [alpha, beta, wrong] = [("alpha", alpha), ("beta", beta), ("wrong", wrong)]
        .map(|(node, secret)| secrets.arg(node, secret));
    let out = [
        outsider("wrong", &["--nats", url, flag, &wrong], &refused("wrong")),
        outsider("none", &["--nats", url], &refused("none")),
    ];
    assert_linked(
        &["--nats", url, flag, &alpha],
        &["--nats", url, flag, &beta],
    );
    assert_kept_out(&out);
}

#[test]
fn a_token_file_logs_nodes_in_and_a_wrong_or_missing_token_does_not() {
    let server = NatsServer::with_config(&token_auth("s3cr3t-t0ken"));
    // As `echo s3cr3t-t0ken > file` writes it, and without the newline.
    let (echoed, bare) = ("s3cr3t-t0ken\n", "s3cr3t-t0ken");
    let wrong = "s3cr3t-t0ke\n";
    assert_logins(&server.url(), "--nats-token-file", echoed, bare, wrong);
}

#[test]
fn an_nkey_seed_logs_nodes_in_and_an_unknown_one_does_not() {
    let (alpha, beta) = (KeyPair::new_user(), KeyPair::new_user());
    let server = NatsServer::with_config(&nkey_auth(&[&alpha, &beta]));
    let stranger = seed_file(&KeyPair::new_user());
    // Beta's without the newline.
    let (alpha, beta) = (seed_file(&alpha), seed_file(&beta));
    assert_logins(
        &server.url(),
        "--nats-nkey",
        &alpha,
        beta.trim_end(),
        &stranger,
    );
}

#[test]
fn tls_with_the_nats_ca_links_nodes_and_a_server_it_does_not_sign_is_not_trusted() {
    let secrets = Secrets::new();
    let pki = Pki::new();
    let server = NatsServer::with_config(&pki.server_tls(&secrets));
    let ca = secrets.arg("ca.pem", pki.ca_pem());
    let other_ca = secrets.arg("other-ca.pem", Pki::new().ca_pem());
    let (tls, plain) = (server.tls_url(), server.url());
    // Without the CA, the system's roots do not know it; another CA (of the
    // same name) did not sign the certificate; a nats:// URL is upgraded to
    // TLS as the server requires, and the certificate checked the same.
    let out = [
        outsider(
            "no-ca",
            &["--nats", &tls],
            &unreachable("no-ca", &tls, "invalid peer certificate: UnknownIssuer"),
        ),
        outsider(
            "other-ca",
            &["--nats", &tls, "--nats-ca", &other_ca],
            &unreachable("other-ca", &tls, "invalid peer certificate: BadSignature"),
        ),
        outsider(
            "plain",
            &["--nats", &plain],
            &unreachable("plain", &plain, "invalid peer certificate: UnknownIssuer"),
        ),
    ];
    // The CA serves a nats:// URL too, upgraded to TLS as the server requires.
    assert_linked(
        &["--nats", &tls, "--nats-ca", &ca],
        &["--nats", &plain, "--nats-ca", &ca],
    );
    assert_kept_out(&out);
}

#[test]
fn a_creds_file_logs_nodes_in_under_an_operator_and_a_foreign_one_does_not() {
    let operator = Operator::new();
    let server = NatsServer::with_config(&operator.server_config());
    let (alpha, beta) = (operator.creds("alpha"), operator.creds("beta"));
    // A user of an account the operator did not sign.
    let foreign = foreign_creds("foreign");
    assert_logins(&server.url(), "--nats-creds", &alpha, &beta, &foreign);
}
