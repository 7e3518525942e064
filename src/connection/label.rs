//! `Label`: how errors and logs name the peer of an accepted connection.

use std::fmt;
use std::net::SocketAddr;

use crate::addr::Addr;

/// A TCP peer is named by its address, kept as one, so that naming it costs no heap
/// block per connection; other peers by a text made once.
pub(crate) enum Label {
    Tcp(SocketAddr),
    Text(Box<str>),
}

impl Label {
    /// The peer's address; for an unnamed Unix client, the listener's path and the
    /// client's process, when known.
    pub(crate) fn new(local: &Addr, peer: &Addr, client_pid: Option<u32>) -> Label {
        match (peer, client_pid) {
            (Addr::Tcp(addr), _) => Label::Tcp(*addr),
            (Addr::Unix(None), Some(pid)) => {
                Label::Text(format!("{local} (client pid {pid})").into())
            }
            (Addr::Unix(None), _) => Label::Text(format!("{local} (client)").into()),
            (peer, _) => Label::Text(peer.to_string().into()),
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Tcp(addr) => addr.fmt(f),
            Label::Text(text) => f.write_str(text),
        }
    }
}

/// As it is shown: `127.0.0.1:4000`, not `Tcp(127.0.0.1:4000)`.
impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_tcp_peer_by_its_address() {
        let peer: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let label = Label::new(&Addr::Tcp(peer), &Addr::Tcp(peer), None);
        assert_eq!(label.to_string(), "127.0.0.1:4000");
        assert_eq!(format!("{label:?}"), "127.0.0.1:4000");
    }
}
