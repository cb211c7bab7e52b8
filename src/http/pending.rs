//! WebSockets not acknowledged yet, counted per client address. Until its `connection_init`
//! carries a valid key, a socket costs the server memory and a task while proving nothing, so
//! one address may hold only a few such sockets at once (the rest are refused before the
//! upgrade), and each gets `--ws-init-timeout-secs` to be acknowledged.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct PendingSockets {
    per_address: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One socket's place among its address's pending sockets, given back when dropped (the
/// socket was acknowledged, or closed).
pub struct Pending {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    address: IpAddr,
}

impl PendingSockets {
    pub fn new(per_address: usize) -> Self {
        Self {
            per_address: per_address.max(1),
            open: Arc::default(),
        }
    }

    /// A place for a new socket from `address`; `None` when the address holds its share.
    pub fn admit(&self, address: IpAddr) -> Option<Pending> {
        let mut open = self.open.lock().expect("pending sockets lock");
        let count = open.entry(address).or_default();
        if *count >= self.per_address {
            return None;
        }
        *count += 1;
        Some(Pending {
            open: self.open.clone(),
            address,
        })
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("pending sockets lock");
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_its_share_and_gets_places_back() {
        let pending = PendingSockets::new(2);
        let a: IpAddr = "203.0.113.1".parse().unwrap();
        let b: IpAddr = "203.0.113.2".parse().unwrap();
        let first = pending.admit(a).unwrap();
        let _second = pending.admit(a).unwrap();
        assert!(pending.admit(a).is_none());
        assert!(pending.admit(b).is_some());
        drop(first);
        assert!(pending.admit(a).is_some());
    }
}
