//! The integration tests, as one binary: every module drives the real
//! `blemees-peerd` and `blemees-peer-mcp` from outside, through [`support`].
//! One binary links the harness once and lets libtest schedule all of them
//! together (see `autotests = false` in Cargo.toml).

mod support;

mod ack;
mod activation;
mod aliases;
mod backup;
mod budgets;
mod cli;
mod compat_py01;
mod concurrency;
mod dm;
mod errors;
mod federation;
mod federation_auth;
mod federation_failure;
mod federation_presence;
mod federation_topology;
mod federation_trust;
mod guard;
mod hello;
mod history;
mod hooks;
mod import;
mod leases;
mod limits;
mod listing;
mod nats_support;
mod peercred;
mod persistence;
mod real_hosts;
mod search;
mod sidecar_ack;
mod sidecar_channel;
mod sidecar_identity;
mod sidecar_py01;
mod sidecar_reconnect;
mod sidecar_tools;
mod slow_reader;
mod startup;
mod status;
mod storage_failure;
mod thread;
mod topics;
mod trust;
mod watch;
