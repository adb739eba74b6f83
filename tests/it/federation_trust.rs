//! Federation's trust (issue 12; docs/federation.md, "Trust"): nats-server runs
//! with the least-privilege account the docs give, in which each node's user
//! may publish only DMs from itself and its own topic and presence subjects,
//! read only its own DMs, the topics and its own replies, and may not create
//! the stream (an admin user does, beforehand). Nodes work under it; what a
//! node's user may not do is refused by NATS, and the daemon logs what was
//! refused; and an envelope whose origin differs from its subject's, which
//! NATS cannot see, is refused by the receiving daemon.

use crate::support::bare_nats::Bare;
use crate::support::nats::NatsServer;
use crate::support::nats_nodes::*;
use crate::support::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The home every test session works in, on every node.
const HOME: &str = "~/project";

/// nats-server with the least-privilege [`accounts`], the stream made by the
/// admin, and a daemon per node logged in as its node's user.
struct Federation {
    server: NatsServer,
    nodes: BTreeMap<&'static str, Daemon>,
}

impl Federation {
    fn start(nodes: &[&'static str]) -> Federation {
        let users: Vec<NodeUser> = nodes.iter().map(|&n| NodeUser::client(n)).collect();
        let server = NatsServer::with_config(&accounts(&users));
        create_stream(&server);
        let nodes = nodes
            .iter()
            .map(|&node| {
                let url = url_as(&server, node);
                (node, Daemon::start_with(&["--nats", &url, "--node", node]))
            })
            .collect::<BTreeMap<_, _>>();
        nodes.values().for_each(wait_federation_up);
        Federation { server, nodes }
    }

    fn node(&self, name: &str) -> &Daemon {
        &self.nodes[name]
    }

    /// A raw NATS connection as `node`'s user, answered on its replies.
    fn bare_as(&self, node: &str) -> Bare {
        Bare::login(&self.server.url(), node, &password(node))
            .answers_on(&format!("{PREFIX}.inbox.{node}.bare"))
    }
}

/// A session in [`HOME`] on `daemon` with alias `alias`.
fn session(daemon: &Daemon, alias: &str) -> Client {
    let mut c = daemon.peer(HOME);
    c.set_alias(alias);
    c
}

/// `home:…` as it is addressed from other nodes, via node `node`.
fn on(node: &str, address: &str) -> String {
    let rest = address.strip_prefix("home:").expect("a home: address");
    format!("home@{node}:{rest}")
}

/// An envelope as a daemon seals it (`wire::seal`), claiming to come from
/// node `origin`, holding a DM with `body` for the architect on its node.
fn envelope(origin: &str, body: &str) -> String {
    let message = json!({
        // A fresh id, of the form daemons mint: `msg_` and 16 characters.
        "message_id": format!("msg_{}", &sid()["sess_".len()..]),
        "from": format!("home:~/elsewhere#{}", sid()),
        "from_alias": null,
        "to": format!("home:{HOME}#architect"),
        "body": body,
        "reply_to": null,
        "ts": now(),
    });
    json!({"v": 1, "origin": origin, "messages": [message]}).to_string()
}

/// NATS's answer to a publish on `subject` it refuses the user.
fn publish_refused(subject: &str) -> Vec<String> {
    vec![format!(
        "-ERR 'Permissions Violation for Publish to \"{subject}\"'"
    )]
}

fn subscribe_refused(subject: &str) -> Vec<String> {
    vec![format!(
        "-ERR 'Permissions Violation for Subscription to \"{subject}\"'"
    )]
}

#[test]
fn nodes_with_least_privilege_list_each_other_and_exchange_dms_and_topics() {
    let fed = Federation::start(&["alpha", "beta", "gamma"]);
    let mut architect = session(fed.node("gamma"), "architect");
    architect.subscribe("news");
    let mut reader = fed.node("alpha").peer(HOME);
    reader.subscribe("news");
    let mut tester = session(fed.node("beta"), "tester");
    wait_listed(&mut tester, "gamma", architect.sid());
    wait_listed(&mut architect, "beta", tester.sid());

    tester.send_dm(
        &on("gamma", &format!("home:{HOME}#architect")),
        json!("plan?"),
    );
    let asked = architect.expect_message();
    assert_eq!(asked["body"], "plan?");
    assert_eq!(asked["from"], on("beta", &tester.addr()));
    let from = asked["from"].as_str().unwrap().to_string();
    architect.send_dm(&from, json!("the plan"));
    let answer = tester.expect_message();
    assert_eq!(answer["body"], "the plan");
    assert_eq!(answer["from"], on("gamma", &architect.addr()));

    tester.publish("news", json!("released"));
    for subscriber in [&mut architect, &mut reader] {
        let news = subscriber.expect_message();
        assert_eq!(
            (&news["to"], &news["body"]),
            (&json!("topic:news"), &json!("released"))
        );
        assert_eq!(news["from"], on("beta", &tester.addr()));
    }

    // Nothing the daemons did needed more than their users may.
    assert!(
        !fed.server.log().contains("Violation"),
        "{}",
        fed.server.log()
    );
    for (node, daemon) in &fed.nodes {
        assert!(
            !daemon.stderr().contains("NATS refused"),
            "{node}: {}",
            daemon.stderr()
        );
    }
}

#[test]
fn a_forged_origin_is_refused_by_nats_and_by_the_receiver() {
    let fed = Federation::start(&["beta", "gamma"]);
    let mut architect = session(fed.node("gamma"), "architect");
    let mut beta = fed.bare_as("beta");

    // Beta's user claiming to be alpha on the subject: NATS refuses.
    let forged = envelope("alpha", "forged on the subject");
    let subject = format!("{PREFIX}.dm.gamma.alpha");
    let publish = format!("PUB {subject} {}\r\n{forged}\r\n", forged.len());
    assert_eq!(beta.refusals(&publish), publish_refused(&subject));

    // On its own subject, in the envelope: NATS stores it, gamma refuses it.
    // The same envelope claiming beta, and then a DM from beta's daemon, are
    // delivered: the origin alone was wrong.
    let own = format!("{PREFIX}.dm.gamma.beta");
    let forged = envelope("alpha", "forged in the envelope");
    let honest = envelope("beta", "honest envelope");
    for envelope in [&forged, &honest] {
        let ack = beta.request(&own, envelope);
        assert_eq!(ack["stream"], STREAM, "{ack}");
    }
    let mut tester = fed.node("beta").peer(HOME);
    tester.send_dm(
        &on("gamma", &format!("home:{HOME}#architect")),
        json!("genuine"),
    );

    let got: Vec<Value> = (0..2)
        .map(|_| architect.expect_message()["body"].clone())
        .collect();
    assert_eq!(got, [json!("honest envelope"), json!("genuine")]);
    let history = architect.history(json!({"address": format!("home:{HOME}#architect")}));
    assert_eq!(bodies(&history), got, "the forged one is not stored either");
    let refusal =
        r#"refused a message from NATS: origin "alpha" is not the node "beta" of its subject"#;
    eventually("gamma to log the refusal", TIMEOUT, || {
        fed.node("gamma").stderr().contains(refusal)
    });
}

#[test]
fn a_node_may_not_read_or_make_what_is_not_its_own() {
    let fed = Federation::start(&["beta"]);
    let mut beta = fed.bare_as("beta");
    let (p, s) = (PREFIX, STREAM);

    // Others' topics and presence; the stream; its messages read directly;
    // the names of others' consumers.
    for subject in [
        format!("{p}.topic.alpha"),
        format!("{p}.presence.alpha"),
        format!("$JS.API.STREAM.CREATE.{s}"),
        format!("$JS.API.STREAM.DELETE.{s}"),
        format!("$JS.API.STREAM.PURGE.{s}"),
        format!("$JS.API.STREAM.MSG.GET.{s}"),
        format!("$JS.API.DIRECT.GET.{s}"),
        format!("$JS.API.CONSUMER.NAMES.{s}"),
        format!("$JS.API.CONSUMER.LIST.{s}"),
        // A consumer of another node's DMs, or of any filter.
        format!("$JS.API.CONSUMER.CREATE.{s}.x.{p}.dm.gamma.*"),
        format!("$JS.API.CONSUMER.CREATE.{s}.x.{p}.>"),
        format!("$JS.API.CONSUMER.CREATE.{s}"),
    ] {
        let publish = format!("PUB {subject} 2\r\n{{}}\r\n");
        assert_eq!(beta.refusals(&publish), publish_refused(&subject));
    }
    // Others' replies, where JetStream delivers what they pull.
    for subject in [
        format!("{p}.inbox.gamma.>"),
        "_INBOX.>".into(),
        format!("{p}.dm.>"),
    ] {
        let sub = format!("SUB {subject} 9\r\n");
        assert_eq!(beta.refusals(&sub), subscribe_refused(&subject));
    }
    // A consumer under the subject beta may use, filtering what it may not
    // read: JetStream checks the one against the other.
    let create = json!({"stream_name": s, "action": "create", "config": {
        "name": "x", "filter_subject": format!("{p}.dm.gamma.*"), "ack_policy": "none",
    }});
    let refused = beta.request(
        &format!("$JS.API.CONSUMER.CREATE.{s}.x.{p}.dm.beta.*"),
        &create.to_string(),
    );
    assert_eq!(refused["error"]["err_code"], 10131, "{refused}");
}

#[test]
fn a_node_logs_what_nats_refuses_it() {
    let server = NatsServer::with_config(&accounts(&[NodeUser::client("beta")]));
    // No stream yet, and beta's user may not make it.
    let beta = Daemon::start_with(&["--nats", &url_as(&server, "beta"), "--node", "beta"]);
    let wrong = format!("nats://beta:wrong@127.0.0.1:{}", server.port());
    let impostor = Daemon::start_with(&["--nats", &wrong, "--node", "beta"]);

    let permission = format!(
        "NATS refused node beta a permission its NATS user lacks: server error: nats: \
         Permissions Violation for Publish to \"$JS.API.STREAM.CREATE.{STREAM}\""
    );
    eventually("beta to log the refused permission", TIMEOUT, || {
        beta.stderr().contains(&permission)
    });
    eventually("the impostor to log its refused login", TIMEOUT, || {
        impostor
            .stderr()
            .contains("NATS refused node beta its credentials")
    });
}
