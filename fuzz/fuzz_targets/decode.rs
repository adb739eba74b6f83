//! Any line: `decode` never panics and classifies it as SPEC §2 says; accepted
//! requests then go through peerd's parameter validation.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/peer-proto/tests/oracle/mod.rs"]
mod oracle;

fuzz_target!(|line: &[u8]| {
    oracle::check_decode(line);
    if let Ok(env) = peer_proto::rpc::decode(line) {
        peerd::fuzzing::check_parse(&env.method, &env.params);
    }
});
