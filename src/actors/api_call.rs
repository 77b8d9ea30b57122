//! The journey API step's HTTP client. Journey authors type the URL, so every call is treated
//! as hostile to the network it runs in (SSRF): private, loopback, link-local and reserved
//! addresses are refused unless an allow rule lets them through.
//!
//! The check runs on the addresses actually connected to. Host names are resolved by
//! [`GuardedResolver`] inside reqwest, which drops blocked addresses from the very answer the
//! connection uses, so a DNS rebinding between check and connect cannot slip past. IP literals
//! never reach a resolver, so they are checked before sending and on every redirect. Proxies are
//! disabled: with one, the resolver would only ever see the proxy's name.

use crate::journey::model::HttpMethod;
use crate::journey::{ApiRequest, ApiResponse};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::redirect;
use serde_json::Value;
use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::{Host, Url};

/// Largest response body read; a larger one fails the call.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Redirects followed before the call fails.
const MAX_REDIRECTS: usize = 5;
const USER_AGENT: &str = "Parley";

/// Makes the HTTP calls of journey API steps under an [`EgressPolicy`].
#[derive(Clone, Debug)]
pub(crate) struct ApiCaller {
    client: reqwest::Client,
    policy: Arc<EgressPolicy>,
}

impl ApiCaller {
    pub(crate) fn new(policy: EgressPolicy) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(policy);
        let redirect_policy = Arc::clone(&policy);
        let client = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: Arc::clone(&policy),
            }))
            .redirect(redirect::Policy::custom(move |attempt| {
                check_redirect(attempt, &redirect_policy)
            }))
            .user_agent(USER_AGENT)
            .build()?;
        Ok(Self { client, policy })
    }

    /// Sends `request` and reads its response. Any HTTP status is `Ok`: the journey decides
    /// what a 4xx or 5xx means. `Err` says why no response came, without header values.
    pub(crate) async fn call(&self, request: &ApiRequest) -> Result<ApiResponse, String> {
        let started = Instant::now();
        let result = self.perform(request).await;
        let host = Url::parse(&request.url)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_default();
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &result {
            Ok(response) => tracing::debug!(
                method = request.method.as_str(),
                %host,
                status = response.status,
                elapsed_ms,
                "api call answered"
            ),
            Err(error) => tracing::debug!(
                method = request.method.as_str(),
                %host,
                %error,
                elapsed_ms,
                "api call failed"
            ),
        }
        result.map_err(|error| error.to_string())
    }

    async fn perform(&self, request: &ApiRequest) -> Result<ApiResponse, CallError> {
        let url =
            Url::parse(&request.url).map_err(|error| CallError::InvalidUrl(error.to_string()))?;
        check_target(&url, &self.policy)?;
        let headers = header_map(&request.headers)?;
        let method = match request.method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
            HttpMethod::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self.client.request(method, url).headers(headers);
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let timeout = Duration::from_millis(request.timeout_ms);
        let exchange = async {
            let response = builder.send().await.map_err(describe)?;
            let status = response.status().as_u16();
            let body = read_body(response).await?;
            Ok(ApiResponse {
                status,
                body: parse_body(&body),
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(CallError::TimedOut(timeout)))
    }
}

/// Which internal targets API steps may reach anyway. The default allows none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct EgressPolicy {
    pub(crate) allow: Vec<AllowRule>,
}

impl EgressPolicy {
    /// Parses a comma-separated list of allow rules (`127.0.0.0/8, ::1/128, pms.internal`);
    /// empty entries are skipped, so an empty list is the default policy.
    pub(crate) fn parse(list: &str) -> Result<Self, AllowRuleError> {
        let allow = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(AllowRule::from_str)
            .collect::<Result<_, _>>()?;
        Ok(Self { allow })
    }

    fn allows_ip(&self, ip: IpAddr) -> bool {
        self.allow.iter().any(|rule| match rule {
            AllowRule::Network(network) => network.contains(ip),
            AllowRule::Host(_) => false,
        })
    }

    fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.allow.iter().any(|rule| match rule {
            AllowRule::Host(allowed) => allowed.trim_end_matches('.').eq_ignore_ascii_case(host),
            AllowRule::Network(_) => false,
        })
    }
}

/// One exception to the egress block list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AllowRule {
    /// Addresses in this network may be connected to, whatever name led to them.
    Network(IpNetwork),
    /// This host name (lowercase, no trailing dot) may resolve to any address.
    Host(String),
}

impl FromStr for AllowRule {
    type Err = AllowRuleError;

    /// Accepts a CIDR (`10.0.0.0/8`), a bare address (a /32 or /128) or a host name.
    fn from_str(entry: &str) -> Result<Self, Self::Err> {
        let entry = entry.trim();
        let invalid = |reason: &'static str| AllowRuleError {
            entry: entry.to_owned(),
            reason,
        };
        if let Some((address, prefix)) = entry.split_once('/') {
            let address: IpAddr = address
                .parse()
                .map_err(|_| invalid("the part before `/` is not an IP address"))?;
            let prefix: u8 = prefix
                .parse()
                .map_err(|_| invalid("the prefix length is not a number"))?;
            return IpNetwork::new(address, prefix)
                .map(AllowRule::Network)
                .ok_or_else(|| invalid("the prefix length is longer than the address"));
        }
        if let Ok(address) = entry.parse::<IpAddr>() {
            let prefix = if address.is_ipv4() { 32 } else { 128 };
            return Ok(AllowRule::Network(IpNetwork { address, prefix }));
        }
        let host = entry.trim_end_matches('.').to_ascii_lowercase();
        if is_host_name(&host) {
            Ok(AllowRule::Host(host))
        } else {
            Err(invalid(
                "expected a CIDR network, an IP address or a host name",
            ))
        }
    }
}

impl fmt::Display for AllowRule {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowRule::Network(network) => network.fmt(formatter),
            AllowRule::Host(host) => formatter.write_str(host),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid egress allow rule `{entry}`: {reason}")]
pub(crate) struct AllowRuleError {
    entry: String,
    reason: &'static str,
}

/// An IPv4 or IPv6 network in CIDR form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IpNetwork {
    address: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// `None` when `prefix` is longer than the address. Host bits are ignored when matching.
    pub(crate) fn new(address: IpAddr, prefix: u8) -> Option<Self> {
        let bits = if address.is_ipv4() { 32 } else { 128 };
        (prefix <= bits).then_some(Self { address, prefix })
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => v4_in(ip, network, self.prefix),
            (IpAddr::V6(network), IpAddr::V6(ip)) => v6_in(ip, network, self.prefix),
            _ => false,
        }
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}/{}", self.address, self.prefix)
    }
}

/// Whether `ip` is an internal or reserved address that `policy` does not allow. IPv6 forms
/// that embed an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by that address.
pub(crate) fn is_blocked(ip: IpAddr, policy: &EgressPolicy) -> bool {
    if policy.allows_ip(ip) {
        return false;
    }
    match ip {
        IpAddr::V4(v4) => BLOCKED_V4
            .iter()
            .any(|&(network, prefix)| v4_in(v4, network, prefix)),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_blocked(IpAddr::V4(v4), policy),
            None => BLOCKED_V6
                .iter()
                .any(|&(network, prefix)| v6_in(v6, network, prefix)),
        },
    }
}

/// Loopback, private, link-local (cloud metadata), unspecified, CGNAT, IETF protocol,
/// documentation, benchmark, multicast, reserved and broadcast networks.
const BLOCKED_V4: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 0, 0, 0), 24),
    (Ipv4Addr::new(192, 0, 2, 0), 24),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    (Ipv4Addr::new(198, 18, 0, 0), 15),
    (Ipv4Addr::new(198, 51, 100, 0), 24),
    (Ipv4Addr::new(203, 0, 113, 0), 24),
    (Ipv4Addr::new(224, 0, 0, 0), 4),
    (Ipv4Addr::new(240, 0, 0, 0), 4),
];

/// Unspecified, loopback, discard, local-use NAT64, documentation, unique local, link-local,
/// site-local and multicast networks. Forms embedding IPv4 are handled by [`embedded_v4`].
const BLOCKED_V6: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::UNSPECIFIED, 128),
    (Ipv6Addr::LOCALHOST, 128),
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64),
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),
];

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`),
/// IPv4-translated (`::ffff:0:a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:AABB:CCDD::`)
/// address. `::` and `::1` are left to the IPv6 table.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let segments = ip.segments();
    let octets = ip.octets();
    let high_zero = |count: usize| segments[..count].iter().all(|&segment| segment == 0);
    if ip == Ipv6Addr::UNSPECIFIED || ip == Ipv6Addr::LOCALHOST {
        None
    } else if high_zero(6)
        || (high_zero(5) && segments[5] == 0xffff)
        || (high_zero(4) && segments[4] == 0xffff && segments[5] == 0)
        || segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
    {
        Some(Ipv4Addr::new(
            octets[12], octets[13], octets[14], octets[15],
        ))
    } else if segments[0] == 0x2002 {
        Some(Ipv4Addr::new(octets[2], octets[3], octets[4], octets[5]))
    } else {
        None
    }
}

fn v4_in(ip: Ipv4Addr, network: Ipv4Addr, prefix: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(network) & mask
}

fn v6_in(ip: Ipv6Addr, network: Ipv6Addr, prefix: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    u128::from(ip) & mask == u128::from(network) & mask
}

fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        })
}

/// Why a call got no response. Never holds header values, bodies or query strings.
#[derive(Clone, Debug, thiserror::Error)]
enum CallError {
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    #[error("unsupported URL scheme `{0}`: only http and https are allowed")]
    UnsupportedScheme(String),
    #[error(
        "target {0} is blocked: it is a private, loopback, link-local or reserved address \
         (allow it in the egress allow-list for self-hosted services)"
    )]
    Blocked(String),
    #[error("invalid header name `{0}`")]
    InvalidHeaderName(String),
    #[error("invalid value for header `{0}`")]
    InvalidHeaderValue(String),
    #[error("redirect refused: {0}")]
    Redirect(Box<CallError>),
    #[error("{0} is another origin than the one the request was made to")]
    OtherOrigin(String),
    #[error("too many redirects (more than {MAX_REDIRECTS})")]
    TooManyRedirects,
    #[error("timed out after {} s", .0.as_secs_f64())]
    TimedOut(Duration),
    #[error("response larger than 1 MiB")]
    TooLarge,
    #[error("could not connect to {host}: {cause}")]
    Connect { host: String, cause: String },
    #[error("request failed: {0}")]
    Transport(String),
}

/// Refuses schemes other than http(s) and blocked IP literals. Host names are left to the
/// resolver, which sees the addresses actually connected to.
fn check_target(url: &Url, policy: &EgressPolicy) -> Result<(), CallError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(CallError::UnsupportedScheme(url.scheme().to_owned()));
    }
    let ip = match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(Host::Domain(_)) => return Ok(()),
        None => return Err(CallError::InvalidUrl("the URL has no host".into())),
    };
    if is_blocked(ip, policy) {
        return Err(CallError::Blocked(ip.to_string()));
    }
    Ok(())
}

fn check_redirect(attempt: redirect::Attempt<'_>, policy: &EgressPolicy) -> redirect::Action {
    if attempt.previous().len() > MAX_REDIRECTS {
        return attempt.error(CallError::TooManyRedirects);
    }
    if let Err(error) = check_target(attempt.url(), policy) {
        return attempt.error(CallError::Redirect(Box::new(error)));
    }
    // Headers the journey set (an `X-Api-Key`, say) would travel with the redirect: only
    // follow it within the origin the author addressed.
    let origin = |url: &Url| {
        (
            url.scheme().to_owned(),
            url.host_str().map(str::to_owned),
            url.port_or_known_default(),
        )
    };
    let first = attempt.previous().first().map(origin);
    if first.is_some_and(|first| first != origin(attempt.url())) {
        let host = attempt.url().host_str().unwrap_or_default().to_owned();
        return attempt.error(CallError::Redirect(Box::new(CallError::OtherOrigin(host))));
    }
    attempt.follow()
}

/// Resolves host names with the system resolver and drops blocked addresses, unless the
/// host name itself is allowed.
#[derive(Debug)]
struct GuardedResolver {
    policy: Arc<EgressPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses = resolve_allowed(&host, &policy).await?;
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

async fn resolve_allowed(
    host: &str,
    policy: &EgressPolicy,
) -> Result<Vec<SocketAddr>, Box<dyn StdError + Send + Sync>> {
    // Port 0 is replaced by the URL's port (or the scheme's default) by reqwest.
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
    Ok(keep_allowed(host, resolved, policy)?)
}

/// The resolved addresses a connection may use: all of them for an allowed host name, else
/// the unblocked ones. Refuses the host when every address it resolved to is blocked.
fn keep_allowed(
    host: &str,
    resolved: Vec<SocketAddr>,
    policy: &EgressPolicy,
) -> Result<Vec<SocketAddr>, CallError> {
    if resolved.is_empty() || policy.allows_host(host) {
        return Ok(resolved);
    }
    let allowed: Vec<SocketAddr> = resolved
        .into_iter()
        .filter(|address| !is_blocked(address.ip(), policy))
        .collect();
    if allowed.is_empty() {
        return Err(CallError::Blocked(host.to_owned()));
    }
    Ok(allowed)
}

fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, CallError> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| CallError::InvalidHeaderName(name.clone()))?;
        let header_value = HeaderValue::from_str(value)
            .map_err(|_| CallError::InvalidHeaderValue(name.clone()))?;
        map.append(header_name, header_value);
    }
    Ok(map)
}

/// Turns a reqwest error into a reason without the URL (its query may hold secrets): our own
/// refusal if one is in the chain (a blocked resolution, a refused redirect), else the causes.
fn describe(error: reqwest::Error) -> CallError {
    let mut causes = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(refusal) = cause.downcast_ref::<CallError>() {
            return refusal.clone();
        }
        let text = cause.to_string();
        // hyper's wrapper ("client error (Connect)") says nothing the variant does not.
        if !text.starts_with("client error (") {
            causes.push(text);
        }
        source = cause.source();
    }
    let host = error.url().and_then(Url::host_str).map(str::to_owned);
    let is_connect = error.is_connect();
    let cause = if causes.is_empty() {
        error.without_url().to_string()
    } else {
        causes.join(": ")
    };
    match host {
        Some(host) if is_connect => CallError::Connect { host, cause },
        _ => CallError::Transport(cause),
    }
}

async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, CallError> {
    let too_large =
        |length: u64| usize::try_from(length).map_or(true, |length| length > MAX_BODY_BYTES);
    if response.content_length().is_some_and(too_large) {
        return Err(CallError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(describe)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(CallError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// JSON when the body parses as JSON, else the text as a JSON string; empty is `null`.
fn parse_body(body: &[u8]) -> Value {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    #[track_caller]
    fn check(ip: &str, policy: &EgressPolicy, expected_blocked: bool) {
        let address: IpAddr = ip.parse().unwrap();
        assert_eq!(
            is_blocked(address, policy),
            expected_blocked,
            "is_blocked({ip}) with allow list {:?}",
            policy.allow
        );
    }

    fn loopback_allowed() -> EgressPolicy {
        EgressPolicy::parse("127.0.0.0/8").unwrap()
    }

    #[test]
    fn internal_and_reserved_addresses_are_blocked_by_default() {
        let policy = EgressPolicy::default();
        for ip in [
            "127.0.0.1",
            "127.255.255.254",
            "::1",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "fc00::1",
            "fd12:3456::1",
            "169.254.169.254",
            "169.254.0.1",
            "fe80::1",
            "0.0.0.0",
            "0.1.2.3",
            "::",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "ff02::1",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "240.0.0.1",
            "2001:db8::1",
            "fec0::1",
        ] {
            check(ip, &policy, true);
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        let policy = EgressPolicy::default();
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "198.20.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            check(ip, &policy, false);
        }
    }

    #[test]
    fn ipv6_forms_embedding_ipv4_are_judged_by_that_address() {
        let policy = EgressPolicy::default();
        for ip in [
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::ffff:0:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::10.0.0.1",
            "2002:7f00:1::1",
        ] {
            check(ip, &policy, true);
        }
    }

    #[test]
    fn an_allowed_network_unblocks_only_its_addresses() {
        let policy = loopback_allowed();
        check("127.0.0.1", &policy, false);
        check("::ffff:127.0.0.1", &policy, false);
        check("10.0.0.1", &policy, true);
        check("169.254.169.254", &policy, true);
        check("::1", &policy, true);

        let policy = EgressPolicy::parse("10.1.2.3/32, ::1/128").unwrap();
        check("10.1.2.3", &policy, false);
        check("10.1.2.4", &policy, true);
        check("::1", &policy, false);
    }

    #[test]
    fn allow_lists_parse_networks_addresses_and_host_names() {
        let policy = EgressPolicy::parse(
            " 127.0.0.0/8, 10.1.2.3/32,::1/128 , PMS.internal., 192.168.0.7,, ",
        )
        .unwrap();
        let rules: Vec<String> = policy.allow.iter().map(ToString::to_string).collect();
        assert_eq!(
            rules,
            [
                "127.0.0.0/8",
                "10.1.2.3/32",
                "::1/128",
                "pms.internal",
                "192.168.0.7/32"
            ]
        );
        assert_eq!(EgressPolicy::parse("").unwrap(), EgressPolicy::default());
        assert!(policy.allows_host("pms.internal"));
        assert!(policy.allows_host("PMS.Internal."));
        assert!(!policy.allows_host("other.internal"));
    }

    #[test]
    fn bad_allow_entries_are_rejected_with_their_name() {
        for (list, bad_entry) in [
            ("127.0.0.0/33", "127.0.0.0/33"),
            ("::1/129", "::1/129"),
            ("10.0.0.0/x", "10.0.0.0/x"),
            ("10.0.0/8", "10.0.0/8"),
            ("127.0.0.0/8, http://pms.internal", "http://pms.internal"),
            ("pms..internal", "pms..internal"),
            ("-pms.internal", "-pms.internal"),
            ("pms internal", "pms internal"),
        ] {
            let error = EgressPolicy::parse(list).unwrap_err();
            assert!(
                error.to_string().contains(&format!("`{bad_entry}`")),
                "{list:?} gave {error}"
            );
        }
    }

    #[test]
    fn resolved_addresses_keep_only_the_unblocked_ones() {
        let addresses = |list: &[&str]| -> Vec<SocketAddr> {
            list.iter()
                .map(|ip| SocketAddr::new(ip.parse().unwrap(), 0))
                .collect()
        };
        let mixed = addresses(&["10.0.0.1", "93.184.215.14", "::1", "2606:4700::1"]);
        let internal = addresses(&["127.0.0.1", "::1"]);
        let policy = EgressPolicy::default();

        let kept = keep_allowed("rebind.example", mixed, &policy).unwrap();
        let refused = keep_allowed("rebind.example", internal.clone(), &policy).unwrap_err();
        let allowed_name = EgressPolicy::parse("pms.internal").unwrap();
        let bypassed = keep_allowed("pms.internal", internal.clone(), &allowed_name).unwrap();

        assert_eq!(kept, addresses(&["93.184.215.14", "2606:4700::1"]));
        assert!(matches!(refused, CallError::Blocked(host) if host == "rebind.example"));
        assert_eq!(bypassed, internal);
    }

    /// What the test server received.
    struct Received {
        method: String,
        path: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    /// A raw HTTP/1.1 response, or `None` to keep the connection open without answering.
    type Reply = fn(&Received) -> Option<Vec<u8>>;

    struct TestServer {
        port: u16,
        connections: Arc<AtomicUsize>,
    }

    impl TestServer {
        async fn spawn(reply: Reply) -> TestServer {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let connections = Arc::new(AtomicUsize::new(0));
            let counter = Arc::clone(&connections);
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(serve(stream, reply));
                }
            });
            TestServer { port, connections }
        }

        fn url(&self, host: &str, path: &str) -> String {
            format!("http://{host}:{}{path}", self.port)
        }

        fn connections(&self) -> usize {
            self.connections.load(Ordering::SeqCst)
        }
    }

    async fn serve(mut stream: TcpStream, reply: Reply) {
        let received = read_request(&mut stream).await;
        match reply(&received) {
            Some(response) => {
                // The client may hang up early (a refused body); that is its right.
                let _ = stream.write_all(&response).await;
                let _ = stream.shutdown().await;
            }
            None => std::future::pending::<()>().await,
        }
    }

    async fn read_request(stream: &mut TcpStream) -> Received {
        let mut buffer = Vec::new();
        let head_end = loop {
            if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
                break end;
            }
            let mut chunk = [0; 4096];
            let read = stream.read(&mut chunk).await.unwrap();
            assert!(read > 0, "the client closed the connection mid-request");
            buffer.extend_from_slice(&chunk[..read]);
        };
        let head = String::from_utf8(buffer[..head_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap().split(' ');
        let method = request_line.next().unwrap().to_owned();
        let path = request_line.next().unwrap().to_owned();
        let headers: Vec<(String, String)> = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.to_ascii_lowercase(), value.trim().to_owned())
            })
            .collect();
        let length: usize = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .map_or(0, |(_, value)| value.parse().unwrap());
        let mut body = buffer[head_end + 4..].to_vec();
        while body.len() < length {
            let mut chunk = [0; 4096];
            let read = stream.read(&mut chunk).await.unwrap();
            body.extend_from_slice(&chunk[..read]);
        }
        Received {
            method,
            path,
            headers,
            body,
        }
    }

    fn response(status: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
        let mut response = format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{extra_headers}\r\n",
            body.len()
        )
        .into_bytes();
        response.extend_from_slice(body);
        response
    }

    fn echo(received: &Received) -> Option<Vec<u8>> {
        let headers: serde_json::Map<String, Value> = received
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), Value::String(value.clone())))
            .collect();
        let body = json!({
            "method": received.method,
            "path": received.path,
            "headers": headers,
            "body": String::from_utf8_lossy(&received.body),
        });
        Some(response(
            "200 OK",
            "content-type: application/json\r\n",
            body.to_string().as_bytes(),
        ))
    }

    fn get(url: String) -> ApiRequest {
        ApiRequest {
            method: HttpMethod::Get,
            url,
            headers: Vec::new(),
            body: None,
            timeout_ms: 5_000,
        }
    }

    async fn call(policy: EgressPolicy, request: &ApiRequest) -> Result<ApiResponse, String> {
        ApiCaller::new(policy).unwrap().call(request).await
    }

    #[tokio::test]
    async fn an_ip_literal_target_is_refused_without_connecting() {
        let server = TestServer::spawn(echo).await;

        let result = call(EgressPolicy::default(), &get(server.url("127.0.0.1", "/x"))).await;

        let error = result.unwrap_err();
        assert!(error.contains("target 127.0.0.1 is blocked"), "{error}");
        assert_eq!(server.connections(), 0);
    }

    #[tokio::test]
    async fn a_host_name_resolving_to_loopback_is_refused_by_the_resolver() {
        let server = TestServer::spawn(echo).await;

        let result = call(EgressPolicy::default(), &get(server.url("localhost", "/x"))).await;

        let error = result.unwrap_err();
        assert!(error.contains("target localhost is blocked"), "{error}");
        assert_eq!(server.connections(), 0);
    }

    #[tokio::test]
    async fn an_allowed_host_name_may_resolve_to_loopback() {
        let server = TestServer::spawn(echo).await;
        let policy = EgressPolicy::parse("localhost").unwrap();

        let result = call(policy, &get(server.url("localhost", "/x"))).await;

        assert_eq!(result.unwrap().status, 200);
    }

    #[tokio::test]
    async fn a_get_returns_the_status_and_json_body() {
        let server = TestServer::spawn(echo).await;

        let result = call(loopback_allowed(), &get(server.url("127.0.0.1", "/x?a=1"))).await;

        let response = result.unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body["method"], "GET");
        assert_eq!(response.body["path"], "/x?a=1");
        assert_eq!(response.body["headers"]["user-agent"], "Parley");
    }

    #[tokio::test]
    async fn a_post_sends_the_body_and_headers() {
        let server = TestServer::spawn(echo).await;
        let request = ApiRequest {
            method: HttpMethod::Post,
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("X-Token".into(), "secret".into()),
                ("User-Agent".into(), "Journey/1".into()),
            ],
            body: Some(r#"{"name":"Ada"}"#.into()),
            ..get(server.url("127.0.0.1", "/orders"))
        };

        let response = call(loopback_allowed(), &request).await.unwrap();

        assert_eq!(response.body["method"], "POST");
        assert_eq!(response.body["body"], r#"{"name":"Ada"}"#);
        assert_eq!(response.body["headers"]["content-type"], "application/json");
        assert_eq!(response.body["headers"]["x-token"], "secret");
        assert_eq!(response.body["headers"]["user-agent"], "Journey/1");
    }

    #[tokio::test]
    async fn bodies_that_are_not_json_come_back_as_strings_and_empty_ones_as_null() {
        fn text(received: &Received) -> Option<Vec<u8>> {
            let body: &[u8] = if received.path == "/empty" {
                b""
            } else {
                b"plain <b>text</b>"
            };
            Some(response("200 OK", "content-type: text/html\r\n", body))
        }
        let server = TestServer::spawn(text).await;

        for (path, expected) in [
            ("/text", json!("plain <b>text</b>")),
            ("/empty", Value::Null),
        ] {
            let request = get(server.url("127.0.0.1", path));
            let response = call(loopback_allowed(), &request).await.unwrap();
            assert_eq!(response.body, expected, "{path}");
        }
    }

    #[tokio::test]
    async fn a_server_error_status_is_a_response_not_an_error() {
        fn unavailable(_: &Received) -> Option<Vec<u8>> {
            Some(response(
                "503 Service Unavailable",
                "",
                br#"{"error":"down"}"#,
            ))
        }
        let server = TestServer::spawn(unavailable).await;

        let result = call(loopback_allowed(), &get(server.url("127.0.0.1", "/x"))).await;

        let response = result.unwrap();
        assert_eq!(response.status, 503);
        assert_eq!(response.body, json!({"error": "down"}));
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let server = TestServer::spawn(|_| None).await;
        let request = ApiRequest {
            timeout_ms: 300,
            ..get(server.url("127.0.0.1", "/slow"))
        };

        let started = Instant::now();
        let result = call(loopback_allowed(), &request).await;

        assert_eq!(result.unwrap_err(), "timed out after 0.3 s");
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(server.connections(), 1);
    }

    #[tokio::test]
    async fn a_redirect_to_the_metadata_address_is_refused() {
        fn to_metadata(_: &Received) -> Option<Vec<u8>> {
            let location = "location: http://169.254.169.254/latest/meta-data/\r\n";
            Some(response("302 Found", location, b""))
        }
        let server = TestServer::spawn(to_metadata).await;

        let result = call(loopback_allowed(), &get(server.url("127.0.0.1", "/x"))).await;

        let error = result.unwrap_err();
        assert!(
            error.starts_with("redirect refused: target 169.254.169.254 is blocked"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_redirect_to_another_origin_is_refused() {
        fn elsewhere(_: &Received) -> Option<Vec<u8>> {
            Some(response(
                "302 Found",
                "location: http://127.0.0.2:9/x\r\n",
                b"",
            ))
        }
        let server = TestServer::spawn(elsewhere).await;

        let result = call(loopback_allowed(), &get(server.url("127.0.0.1", "/x"))).await;

        assert_eq!(
            result.unwrap_err(),
            "redirect refused: 127.0.0.2 is another origin than the one the request was made to"
        );
    }

    #[tokio::test]
    async fn redirects_to_allowed_targets_are_followed_up_to_five_times() {
        fn hops(received: &Received) -> Option<Vec<u8>> {
            let hop: u32 = received.path.trim_start_matches('/').parse().unwrap_or(0);
            if hop == 0 {
                return echo(received);
            }
            let location = format!("location: /{}\r\n", hop - 1);
            Some(response("302 Found", &location, b""))
        }
        let server = TestServer::spawn(hops).await;

        let followed = call(loopback_allowed(), &get(server.url("127.0.0.1", "/5"))).await;
        let too_many = call(loopback_allowed(), &get(server.url("127.0.0.1", "/6"))).await;

        assert_eq!(followed.unwrap().body["path"], "/0");
        assert_eq!(too_many.unwrap_err(), "too many redirects (more than 5)");
    }

    #[tokio::test]
    async fn a_body_over_one_mebibyte_is_refused() {
        fn declared(_: &Received) -> Option<Vec<u8>> {
            Some(response("200 OK", "", &vec![b'a'; MAX_BODY_BYTES + 1]))
        }
        fn undeclared(_: &Received) -> Option<Vec<u8>> {
            // No content-length: the body runs until the server closes the connection.
            let mut raw = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_vec();
            raw.resize(raw.len() + MAX_BODY_BYTES + 1, b'a');
            Some(raw)
        }
        for reply in [declared as Reply, undeclared] {
            let server = TestServer::spawn(reply).await;

            let result = call(loopback_allowed(), &get(server.url("127.0.0.1", "/big"))).await;

            assert_eq!(result.unwrap_err(), "response larger than 1 MiB");
        }
    }

    #[tokio::test]
    async fn a_body_of_exactly_one_mebibyte_is_read() {
        fn full(_: &Received) -> Option<Vec<u8>> {
            Some(response("200 OK", "", &vec![b'a'; MAX_BODY_BYTES]))
        }
        let server = TestServer::spawn(full).await;

        let result = call(loopback_allowed(), &get(server.url("127.0.0.1", "/big"))).await;

        assert_eq!(
            result.unwrap().body.as_str().map(str::len),
            Some(MAX_BODY_BYTES)
        );
    }

    #[tokio::test]
    async fn invalid_headers_are_refused_without_showing_their_value() {
        let server = TestServer::spawn(echo).await;
        for (header, expected) in [
            (("X Token", "a"), "invalid header name `X Token`"),
            (
                ("X-Token", "secret\r\nInjected: 1"),
                "invalid value for header `X-Token`",
            ),
        ] {
            let request = ApiRequest {
                headers: vec![(header.0.into(), header.1.into())],
                ..get(server.url("127.0.0.1", "/x"))
            };

            let result = call(loopback_allowed(), &request).await;

            assert_eq!(result.unwrap_err(), expected);
        }
        assert_eq!(server.connections(), 0);
    }

    #[tokio::test]
    async fn only_http_and_https_urls_are_called() {
        for (url, expected) in [
            (
                "file:///etc/passwd",
                "unsupported URL scheme `file`: only http and https are allowed",
            ),
            (
                "ftp://example.com/x",
                "unsupported URL scheme `ftp`: only http and https are allowed",
            ),
            ("not a url", "invalid URL: relative URL without a base"),
        ] {
            let result = call(EgressPolicy::default(), &get(url.into())).await;

            assert_eq!(result.unwrap_err(), expected, "{url}");
        }
    }

    #[tokio::test]
    async fn connection_failures_name_the_host_but_not_the_query() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);

        let url = format!("http://127.0.0.1:{port}/x?api_key=secret");
        let result = call(loopback_allowed(), &get(url)).await;

        let error = result.unwrap_err();
        assert!(
            error.starts_with("could not connect to 127.0.0.1: "),
            "{error}"
        );
        assert!(error.contains("connect"), "{error}");
        assert!(!error.contains("secret"), "{error}");
    }
}
