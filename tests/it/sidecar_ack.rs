//! Acknowledged delivery through the sidecar (SPEC §6, §9): a DM is
//! acknowledged only once a tool result carried it to the host, so a DM that
//! reached the sidecar but not the agent survives the sidecar's death and comes
//! to its restarted self, once.

use crate::support::sidecar::*;
use crate::support::{eventually_async, home_in, sid, Daemon};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn a_dm_the_agent_never_saw_survives_the_sidecar() {
    let d = Daemon::start();
    let home = home_in(d.dir(), "agent");
    let agent_sid = sid();
    let to = format!("home:{home}#{agent_sid}");
    let mut sender = d.peer("/sender");

    let first = Sidecar::start(d.socket(), &home, &agent_sid).await;
    first.wait_connected().await;
    let seen = sender.send_dm(&to, json!("seen"));
    assert_eq!(
        first.expect_messages(1).await[0]["message_id"],
        seen["message_id"]
    );
    first.wait_logged("acknowledged 1 DMs").await;

    let unseen = sender.send_dm(&to, json!("unseen"));
    assert_eq!(unseen["delivered"], 1);
    eventually_async(
        "the DM to reach the sidecar's inbox",
        CALL_TIMEOUT,
        || async {
            first
                .inbox_resource()
                .await
                .iter()
                .any(|e| e["params"]["message_id"] == unseen["message_id"])
        },
    )
    .await;
    drop(first);

    let again = Sidecar::start(d.socket(), &home, &agent_sid).await;
    let got = again.expect_messages(1).await;
    assert_eq!(got[0]["message_id"], unseen["message_id"], "same id, once");
    assert_eq!(again.await_messages(0.3).await, Vec::<Value>::new());
}
