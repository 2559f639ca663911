//! Refusals counted per source address in a fixed window: past a limit, the address is turned
//! away for the rest of its window without looking at what it sends. Used for wrong unseal
//! shares and for failed authentication. Pure: the caller passes the time and holds the lock.

use std::{
    collections::HashMap,
    net::IpAddr,
    time::{Duration, Instant},
};

/// Addresses tracked before the expired ones are dropped (a flood of addresses cannot grow the
/// map without bound: past this, windows that ended are forgotten first).
const TRACKED: usize = 4096;

/// The counts of one kind of refusal.
#[derive(Debug)]
pub struct Refusals {
    limit: u32,
    window: Duration,
    seen: HashMap<IpAddr, (Instant, u32)>,
}

impl Refusals {
    /// `limit` refusals per `window` per address; a limit of 0 never turns anyone away.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            seen: HashMap::new(),
        }
    }

    /// The window's length (for retry hints).
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Whether `addr` reached the limit in its current window at `now`.
    pub fn blocked(&self, addr: IpAddr, now: Instant) -> bool {
        self.limit > 0
            && self.seen.get(&addr).is_some_and(|(since, n)| {
                now.saturating_duration_since(*since) < self.window && *n >= self.limit
            })
    }

    /// Counts one refusal of `addr` at `now`.
    pub fn count(&mut self, addr: IpAddr, now: Instant) {
        if self.limit == 0 {
            return;
        }
        if self.seen.len() >= TRACKED {
            let window = self.window;
            self.seen
                .retain(|_, (since, _)| now.saturating_duration_since(*since) < window);
        }
        if self.seen.len() >= TRACKED && !self.seen.contains_key(&addr) {
            // Every tracked window is still running: the oldest gives way.
            if let Some(oldest) = self
                .seen
                .iter()
                .min_by_key(|(_, (s, _))| *s)
                .map(|(a, _)| *a)
            {
                self.seen.remove(&oldest);
            }
        }
        let entry = self.seen.entry(addr).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn an_address_is_blocked_at_the_limit_until_its_window_ends() {
        let t0 = Instant::now();
        let mut r = Refusals::new(3, Duration::from_secs(60));
        for _ in 0..2 {
            r.count(ip(1), t0);
        }
        assert!(!r.blocked(ip(1), t0));
        r.count(ip(1), t0);
        assert!(r.blocked(ip(1), t0 + Duration::from_secs(59)));
        assert!(!r.blocked(ip(2), t0), "other addresses are not affected");
        assert!(!r.blocked(ip(1), t0 + Duration::from_secs(60)));
        r.count(ip(1), t0 + Duration::from_secs(61));
        assert!(
            !r.blocked(ip(1), t0 + Duration::from_secs(61)),
            "a new window starts at zero"
        );
    }

    #[test]
    fn a_limit_of_zero_turns_nobody_away() {
        let t0 = Instant::now();
        let mut r = Refusals::new(0, Duration::from_secs(60));
        for _ in 0..100 {
            r.count(ip(1), t0);
        }
        assert!(!r.blocked(ip(1), t0));
    }

    #[test]
    fn a_flood_of_addresses_does_not_grow_the_map_without_bound() {
        let t0 = Instant::now();
        let mut r = Refusals::new(1, Duration::from_secs(60));
        for i in 0..(TRACKED as u32 + 500) {
            r.count(IpAddr::from(i.to_be_bytes()), t0);
        }
        assert!(r.seen.len() <= TRACKED);
    }
}
