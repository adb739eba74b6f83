//! `blemees-peerd`: see the `peerd` crate.

fn main() -> std::process::ExitCode {
    peerd::main()
}
