//! `blemees-peer-mcp`: see the `peer-mcp` crate.

fn main() -> std::process::ExitCode {
    peer_mcp::main()
}
