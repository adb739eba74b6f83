//! A known method (chosen by the first byte) with any params text: peerd's
//! validation never panics, answers only -32602, and whatever it accepts obeys
//! the grammar (the rules are in `peerd::fuzzing::check_parse`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use peer_proto::{method, rpc};

/// Outside [`method::ALL`]: must be answered -32601.
const UNKNOWN: &str = "peer.no_such_method";

fuzz_target!(|data: &[u8]| {
    let Some((&pick, params)) = data.split_first() else {
        return;
    };
    let method = method::ALL
        .get(usize::from(pick) % (method::ALL.len() + 1))
        .copied()
        .unwrap_or(UNKNOWN);
    let mut line =
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":"#).into_bytes();
    line.extend_from_slice(params);
    line.push(b'}');
    let Ok(env) = rpc::decode(&line) else { return };
    peerd::fuzzing::check_parse(&env.method, &env.params);
});
