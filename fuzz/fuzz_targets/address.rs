//! Any string: `Address::parse` and the identity validators agree with the
//! regex grammar of SPEC §1.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peer_proto::{identity, Address};

#[path = "../../crates/peer-proto/tests/oracle/mod.rs"]
mod oracle;

fuzz_target!(|s: &str| {
    assert_eq!(Address::parse(s), oracle::address(s), "{s:?}");
    assert_eq!(identity::is_valid_sid(s), oracle::sid(s), "sid {s:?}");
    assert_eq!(identity::is_valid_alias(s), oracle::alias(s), "alias {s:?}");
    assert_eq!(identity::is_valid_topic(s), oracle::topic(s), "topic {s:?}");
    assert_eq!(identity::is_valid_home(s), oracle::home(s), "home {s:?}");
});
