//! What the test modules share: the daemon harness, the sidecar harness and
//! the Python 0.1 reference.

pub mod daemon;
pub mod py01;
pub mod sidecar;

pub use daemon::*;
