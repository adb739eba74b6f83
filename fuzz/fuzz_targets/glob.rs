//! Pattern and text (split at the first NUL byte): `Glob` matches exactly as
//! Python's `fnmatch.fnmatchcase` does.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/peer-proto/tests/oracle/mod.rs"]
mod oracle;

fuzz_target!(|input: &str| {
    let (pattern, text) = input.split_once('\0').unwrap_or((input, ""));
    oracle::check_glob(pattern, text);
});
