//! `Settings`: what each accepted connection takes from its listener's configuration.

use std::time::Duration;

/// Per-connection settings, copied from the `ListenerConfig` when the listener starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) write_timeout: Option<Duration>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) drain_timeout: Duration,
    pub(crate) write_queue_bytes: usize,
    pub(crate) read_buffer_size: usize,
    pub(crate) stack_size: usize,
    /// With the PROXY protocol on: how long the balancer may take to send its header.
    pub(crate) proxy_header_timeout: Option<Duration>,
}
