//! A known method (chosen by the first byte) with any params text: peerd's
//! validation never panics, answers only -32602, and whatever it accepts obeys
//! the grammar.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peer_proto::{identity, rpc, Address};
use peerd::call::{self, Call, HISTORY_MAX_LIMIT};

const METHODS: [&str; 15] = [
    "peer.hello",
    "peer.set_alias",
    "peer.set_dm_filter",
    "peer.send",
    "peer.publish",
    "peer.subscribe",
    "peer.unsubscribe",
    "peer.list_peers",
    "peer.list_topics",
    "peer.history",
    "peer.watch",
    "peer.unwatch",
    "peer.status",
    "peer.ack",
    "peer.no_such_method",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, params)) = data.split_first() else {
        return;
    };
    let method = METHODS[usize::from(pick) % METHODS.len()];
    let mut line =
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":"#).into_bytes();
    line.extend_from_slice(params);
    line.push(b'}');
    let Ok(env) = rpc::decode(&line) else { return };
    let parsed = call::parse(env.method, &env.params);
    assert_eq!(parsed.is_hello, method == "peer.hello");
    let call = match parsed.call {
        Ok(call) => call,
        Err(e) if method == "peer.no_such_method" => return assert_eq!(e.code, -32601),
        Err(e) => return assert_eq!(e.code, -32602, "{e:?}"),
    };
    match call {
        Call::Hello(h) => {
            assert!(identity::is_valid_sid(&h.sid) && identity::is_valid_home(&h.home))
        }
        Call::SetAlias { alias } => assert!(alias.is_none_or(|a| identity::is_valid_alias(&a))),
        Call::Send { to, .. } => assert!(matches!(Address::parse(&to), Ok(Address::Home(_)))),
        Call::Publish { topic, .. }
        | Call::Subscribe { topic, .. }
        | Call::Unsubscribe { topic } => assert!(identity::is_valid_topic(&topic)),
        Call::History { address, limit, .. } => {
            assert!(Address::parse(&address).is_ok());
            assert!((1..=HISTORY_MAX_LIMIT).contains(&limit));
        }
        _ => {}
    }
});
