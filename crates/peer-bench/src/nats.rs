//! 10. Bare NATS round trips (`--only nats-rtt`, run only when named): the
//!     yardstick federation is held to (issue 12: a cross-node DM round trip
//!     within the local one plus twice a bare NATS request/reply). A real
//!     `nats-server` with JetStream ([`NatsServer`]), two `async-nats`
//!     connections to it (as two nodes would have), timed like the DM round
//!     trip: a core NATS request answered by a responder task, and a JetStream
//!     publish until its acknowledgement (the message stored in a file-backed
//!     stream, as federation's forwarded DMs are).

use crate::nats_server::NatsServer;
use crate::workloads::{timed, Latency};
use anyhow::Context;
use async_nats::jetstream;
use futures::StreamExt;
use std::path::Path;

/// The subject the responder answers on.
const REQUESTS: &str = "bench.rtt";
/// The stream the JetStream publishes are stored in.
const STREAM: &str = "BENCH";
/// The one subject of [`STREAM`].
const STREAM_SUBJECT: &str = "bench.stored";
/// Every request and publish carries this, like the DM round trip's `ping`.
const BODY: &str = "ping";

/// Bare NATS round trips.
pub(crate) struct NatsLatency {
    /// Core NATS request until its reply.
    pub(crate) request: Latency,
    /// JetStream publish until its acknowledgement.
    pub(crate) publish: Latency,
}

/// `iterations` request/reply round trips, then `iterations` acknowledged
/// JetStream publishes, on a fresh server.
pub(crate) async fn round_trips(program: &Path, iterations: usize) -> anyhow::Result<NatsLatency> {
    let server = NatsServer::start(program).await?;
    let request = request_reply(&server, iterations).await?;
    let publish = stored_publishes(&server, iterations).await?;
    Ok(NatsLatency { request, publish })
}

/// `iterations` core NATS requests on `server`, each until a responder on
/// another connection has answered it.
pub(crate) async fn request_reply(
    server: &NatsServer,
    iterations: usize,
) -> anyhow::Result<Latency> {
    let requester = async_nats::connect(&server.url).await?;
    let responder = async_nats::connect(&server.url).await?;
    let mut requests = responder.subscribe(REQUESTS).await?;
    let echo = tokio::spawn({
        let responder = responder.clone();
        async move {
            while let Some(request) = requests.next().await {
                if let Some(reply) = request.reply {
                    responder.publish(reply, request.payload).await?;
                }
            }
            anyhow::Ok(())
        }
    });
    // Subscribing only writes the subscription out; the server reads each
    // connection in order, so once the responder's own request is answered
    // the subscription is in place for the requester's.
    responder
        .request(REQUESTS, BODY.into())
        .await
        .context("the responder's own request")?;
    let request = timed(
        iterations,
        || server.cpu(),
        async || {
            requester
                .request(REQUESTS, BODY.into())
                .await
                .context("NATS request")?;
            Ok(())
        },
    )
    .await;
    echo.abort();
    request
}

/// `iterations` JetStream publishes on `server`, each until it is stored and
/// acknowledged.
async fn stored_publishes(server: &NatsServer, iterations: usize) -> anyhow::Result<Latency> {
    let js = jetstream::new(async_nats::connect(&server.url).await?);
    js.create_stream(jetstream::stream::Config {
        name: STREAM.to_string(),
        subjects: vec![STREAM_SUBJECT.to_string()],
        ..Default::default()
    })
    .await
    .context("creating the JetStream stream")?;
    timed(
        iterations,
        || server.cpu(),
        async || {
            js.publish(STREAM_SUBJECT, BODY.into())
                .await?
                .await
                .context("JetStream publish")?;
            Ok(())
        },
    )
    .await
}
