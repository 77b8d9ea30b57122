//! WhatsApp's sending limits as the mock plays them, when a test turns them on: throughput
//! per phone number (130429 past N accepted sends in any second) and the pair rate between a
//! number and one contact (131056 once a burst allowance is spent, refilled at one message
//! every few seconds). Both answer 429, as Meta does, without a `Retry-After`.

use super::{graph_error, lock, State};
use actix_web::HttpResponse;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// The pair rate: `burst` messages at once, then one every `every`.
#[derive(Clone, Copy, Debug)]
pub struct PairRate {
    pub burst: u32,
    pub every: Duration,
}

/// Meta's pair rate: bursts of about 45, then about one message every 6 seconds.
pub const META_PAIR_RATE: PairRate = PairRate {
    burst: 45,
    every: Duration::from_secs(6),
};

#[derive(Default)]
pub(super) struct Limits {
    throughput: Option<u32>,
    pair_rate: Option<PairRate>,
    /// Number → when its accepted sends of the last second were accepted.
    recent: HashMap<String, VecDeque<Instant>>,
    /// (number, contact) → (allowance left, when it was last counted).
    pairs: HashMap<(String, String), (f64, Instant)>,
    /// How many sends each limit refused.
    refused_throughput: usize,
    refused_pair_rate: usize,
}

/// Counts an otherwise acceptable send against the limits, or answers Meta's refusal.
pub(super) fn check(state: &State, phone_number_id: &str, to: &str) -> Option<HttpResponse> {
    let mut limits = lock(&state.limits);
    let now = Instant::now();
    if let Some(per_second) = limits.throughput {
        let recent = limits.recent.entry(phone_number_id.to_owned()).or_default();
        while recent
            .front()
            .is_some_and(|at| now.duration_since(*at) >= Duration::from_secs(1))
        {
            recent.pop_front();
        }
        if recent.len() >= per_second as usize {
            limits.refused_throughput += 1;
            return Some(graph_error(
                429,
                130429,
                Some(2494055),
                "(#130429) Rate limit hit",
                Some("Cloud API message throughput has been reached."),
            ));
        }
    }
    if let Some(rate) = limits.pair_rate {
        let key = (phone_number_id.to_owned(), to.to_owned());
        let burst = f64::from(rate.burst);
        let (allowance, counted) = limits.pairs.get(&key).copied().unwrap_or((burst, now));
        let refilled = now.duration_since(counted).as_secs_f64() / rate.every.as_secs_f64();
        let allowance = (allowance + refilled).min(burst);
        if allowance < 1.0 {
            limits.pairs.insert(key, (allowance, now));
            limits.refused_pair_rate += 1;
            return Some(graph_error(
                429,
                131056,
                None,
                "(#131056) (Business Account, Consumer Account) pair rate limit hit",
                Some("Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time."),
            ));
        }
        limits.pairs.insert(key, (allowance - 1.0, now));
    }
    if limits.throughput.is_some() {
        limits
            .recent
            .entry(phone_number_id.to_owned())
            .or_default()
            .push_back(now);
    }
    None
}

impl super::MockGraph {
    /// Refuses sends past `per_second` accepted in any second, per phone number (130429).
    pub fn limit_throughput(&self, per_second: u32) {
        lock(&self.state.limits).throughput = Some(per_second);
    }

    /// Refuses sends to one contact once the pair allowance is spent (131056).
    pub fn limit_pair_rate(&self, rate: PairRate) {
        lock(&self.state.limits).pair_rate = Some(rate);
    }

    /// How many sends the throughput and pair-rate limits refused.
    pub fn limit_refusals(&self) -> (usize, usize) {
        let limits = lock(&self.state.limits);
        (limits.refused_throughput, limits.refused_pair_rate)
    }
}
