//! The sending domain's DKIM key and SPF authorisation: generating the key, the exact DNS
//! records to publish, and checking over DNS that they are published.
//!
//! Lookups go through [`TxtLookup`], so the checks are pure over an in-memory table in unit
//! tests; [`DnsResolver`] is the real one (hickory-resolver, no cache, so a re-check after a
//! DNS change sees the change).

use base64::Engine;
use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
use rsa::pkcs8::EncodePublicKey;
use serde::Serialize;
use std::net::SocketAddr;
use std::time::Duration;

/// RSA modulus size of generated DKIM keys (RFC 8301: signers should use 2048).
pub const DKIM_KEY_BITS: usize = 2048;
/// How long one DNS question may take before it counts as unavailable.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// A generated DKIM key pair.
pub struct DkimKey {
    /// PKCS#1 PEM, the form lettre's signer loads.
    pub private_pem: String,
    /// Base64 of the DER SubjectPublicKeyInfo, the `p=` of the record.
    pub public_base64: String,
}

#[derive(Debug, thiserror::Error)]
#[error("failed to generate a DKIM key: {0}")]
pub struct KeyError(String);

/// Generates an RSA 2048 key pair for DKIM.
pub fn generate_key() -> Result<DkimKey, KeyError> {
    let mut rng = rand::rngs::OsRng;
    let private = rsa::RsaPrivateKey::new(&mut rng, DKIM_KEY_BITS)
        .map_err(|error| KeyError(error.to_string()))?;
    let private_pem = private
        .to_pkcs1_pem(LineEnding::LF)
        .map_err(|error| KeyError(error.to_string()))?
        .to_string();
    let public_der = private
        .to_public_key()
        .to_public_key_der()
        .map_err(|error| KeyError(error.to_string()))?;
    Ok(DkimKey {
        private_pem,
        public_base64: base64::engine::general_purpose::STANDARD.encode(public_der.as_bytes()),
    })
}

/// Which of the domain's records a [`DnsRecord`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordPurpose {
    Dkim,
    Spf,
}

/// One record the domain's owner publishes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DnsRecord {
    pub purpose: RecordPurpose,
    /// Always `TXT`.
    #[serde(rename = "type")]
    pub record_type: &'static str,
    pub name: String,
    pub value: String,
}

/// The records that authorise a channel to send as `domain`: the DKIM key under the
/// selector, and an SPF record authorising the relay.
pub fn records(
    domain: &str,
    selector: &str,
    public_base64: &str,
    spf_mechanism: &str,
) -> Vec<DnsRecord> {
    vec![
        DnsRecord {
            purpose: RecordPurpose::Dkim,
            record_type: "TXT",
            name: dkim_name(selector, domain),
            value: format!("v=DKIM1; k=rsa; p={public_base64}"),
        },
        DnsRecord {
            purpose: RecordPurpose::Spf,
            record_type: "TXT",
            name: domain.to_owned(),
            value: format!("v=spf1 {spf_mechanism} ~all"),
        },
    ]
}

pub fn dkim_name(selector: &str, domain: &str) -> String {
    format!("{selector}._domainkey.{domain}")
}

/// What a look at one record found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// Not looked at yet.
    Pending,
    Verified,
    /// No such name, or no TXT record there: not published yet.
    Missing,
    /// Published, but not as Parley generated it.
    Mismatch,
    /// DNS did not answer (SERVFAIL, timeout): try again later.
    Unavailable,
}

/// A record with what the last check found and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckedRecord {
    #[serde(flatten)]
    pub record: DnsRecord,
    pub status: RecordStatus,
    /// A stable code for a record that is not verified: `dns_record_missing`,
    /// `dns_record_mismatch` or `dns_lookup_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl CheckedRecord {
    pub fn pending(record: DnsRecord) -> Self {
        Self {
            record,
            status: RecordStatus::Pending,
            code: None,
            detail: None,
        }
    }

    fn verified(record: DnsRecord) -> Self {
        Self {
            status: RecordStatus::Verified,
            ..Self::pending(record)
        }
    }

    fn failed(record: DnsRecord, status: RecordStatus, detail: String) -> Self {
        let code = match status {
            RecordStatus::Missing => "dns_record_missing",
            RecordStatus::Unavailable => "dns_lookup_failed",
            _ => "dns_record_mismatch",
        };
        Self {
            record,
            status,
            code: Some(code),
            detail: Some(detail),
        }
    }
}

/// Why a TXT lookup found nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// NXDOMAIN, or the name exists with no TXT record.
    #[error("no TXT record at this name")]
    NotFound,
    /// SERVFAIL, REFUSED, a timeout: the answer is unknown.
    #[error("DNS did not answer: {0}")]
    Unavailable(String),
}

/// TXT lookups: each answer record with its character-strings joined.
pub trait TxtLookup {
    fn txt(
        &self,
        name: &str,
    ) -> impl std::future::Future<Output = Result<Vec<String>, LookupError>> + Send;
}

/// Checks each record over DNS.
pub async fn check(lookup: &impl TxtLookup, records: &[DnsRecord]) -> Vec<CheckedRecord> {
    let mut checked = Vec::with_capacity(records.len());
    for record in records {
        let answer = lookup.txt(&record.name).await;
        checked.push(match answer {
            Err(LookupError::NotFound) => CheckedRecord::failed(
                record.clone(),
                RecordStatus::Missing,
                format!("no TXT record at {} yet", record.name),
            ),
            Err(LookupError::Unavailable(reason)) => CheckedRecord::failed(
                record.clone(),
                RecordStatus::Unavailable,
                format!("DNS could not be asked about {}: {reason}", record.name),
            ),
            Ok(texts) => match record.purpose {
                RecordPurpose::Dkim => check_dkim(record, &texts),
                RecordPurpose::Spf => check_spf(record, &texts),
            },
        });
    }
    checked
}

/// The DKIM record passes when one TXT record there carries our key (`p=`, whitespace
/// ignored), with `v` absent or `DKIM1` and `k` absent or `rsa`.
fn check_dkim(record: &DnsRecord, texts: &[String]) -> CheckedRecord {
    let expected = tags(&record.value)
        .into_iter()
        .find(|(tag, _)| tag == "p")
        .map(|(_, value)| value)
        .unwrap_or_default();
    let mut problem = format!("the TXT record at {} is not a DKIM key", record.name);
    for text in texts {
        let tags = tags(text);
        let tag = |name: &str| {
            tags.iter()
                .find(|(tag, _)| tag == name)
                .map(|(_, value)| value.as_str())
        };
        if tag("v").is_some_and(|version| version != "DKIM1") {
            continue;
        }
        if tag("k").is_some_and(|key_type| !key_type.eq_ignore_ascii_case("rsa")) {
            problem = format!("the key at {} is not an RSA key (k=rsa)", record.name);
            continue;
        }
        match tag("p") {
            Some(key) if key == expected => return CheckedRecord::verified(record.clone()),
            Some("") => problem = format!("the key at {} is revoked (empty p=)", record.name),
            Some(_) => {
                problem = format!(
                    "the key at {} (p=) is not the one Parley generated; publish the value shown",
                    record.name
                )
            }
            None => {}
        }
    }
    CheckedRecord::failed(record.clone(), RecordStatus::Mismatch, problem)
}

/// SPF passes when the name has exactly one `v=spf1` record and it holds the mechanism.
fn check_spf(record: &DnsRecord, texts: &[String]) -> CheckedRecord {
    let wanted = record
        .value
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let spf: Vec<&String> = texts.iter().filter(|text| is_spf(text)).collect();
    match spf.as_slice() {
        [] => CheckedRecord::failed(
            record.clone(),
            RecordStatus::Missing,
            format!("no SPF record (v=spf1) at {} yet", record.name),
        ),
        [one] => {
            let authorises = one.split_whitespace().skip(1).any(|term| {
                let term = term.to_ascii_lowercase();
                let term = term.trim_start_matches(['+', '?', '~', '-']);
                term == wanted
            });
            if authorises {
                CheckedRecord::verified(record.clone())
            } else {
                CheckedRecord::failed(
                    record.clone(),
                    RecordStatus::Mismatch,
                    format!("the SPF record at {} does not hold `{wanted}`; add it before the `all` term", record.name),
                )
            }
        }
        _ => CheckedRecord::failed(
            record.clone(),
            RecordStatus::Mismatch,
            format!(
                "{} SPF records at {}: receivers treat that as an error (permerror); merge them into one",
                spf.len(),
                record.name
            ),
        ),
    }
}

fn is_spf(text: &str) -> bool {
    let text = text.trim_start();
    text.len() >= 6
        && text[..6].eq_ignore_ascii_case("v=spf1")
        && text[6..].chars().next().is_none_or(char::is_whitespace)
}

/// A DKIM tag list (`tag=value; tag=value`), whitespace inside values removed.
fn tags(text: &str) -> Vec<(String, String)> {
    text.split(';')
        .filter_map(|pair| {
            let (tag, value) = pair.split_once('=')?;
            let value: String = value.chars().filter(|c| !c.is_whitespace()).collect();
            Some((tag.trim().to_owned(), value))
        })
        .collect()
}

/// TXT lookups over DNS with hickory-resolver: the system's configuration, or one name
/// server (`PARLEY_DNS_RESOLVER`).
#[derive(Clone, Debug)]
pub struct DnsResolver {
    server: Option<SocketAddr>,
}

impl DnsResolver {
    pub fn new(server: Option<SocketAddr>) -> Self {
        Self { server }
    }

    fn resolver(&self) -> Result<hickory_resolver::TokioResolver, LookupError> {
        use hickory_resolver::config::{
            ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
        };
        use hickory_resolver::net::runtime::TokioRuntimeProvider;
        let unavailable =
            |error: &dyn std::fmt::Display| LookupError::Unavailable(error.to_string());
        let builder = match self.server {
            Some(server) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = server.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = server.port();
                let mut name_server = NameServerConfig::udp(server.ip());
                name_server.connections = vec![udp, tcp];
                hickory_resolver::TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![name_server]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => hickory_resolver::TokioResolver::builder_tokio()
                .map_err(|error| unavailable(&error))?,
        };
        let mut options = ResolverOpts::default();
        options.timeout = LOOKUP_TIMEOUT;
        options.attempts = 1;
        options.cache_size = 0;
        builder
            .with_options(options)
            .build()
            .map_err(|error| unavailable(&error))
    }
}

impl TxtLookup for DnsResolver {
    async fn txt(&self, name: &str) -> Result<Vec<String>, LookupError> {
        let resolver = self.resolver()?;
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match resolver.txt_lookup(fqdn.as_str()).await {
            Ok(lookup) => {
                let texts: Vec<String> = lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        hickory_resolver::proto::rr::RData::TXT(txt) => Some(
                            txt.txt_data
                                .iter()
                                .map(|part| String::from_utf8_lossy(part))
                                .collect::<String>(),
                        ),
                        _ => None,
                    })
                    .collect();
                if texts.is_empty() {
                    Err(LookupError::NotFound)
                } else {
                    Ok(texts)
                }
            }
            Err(error) if error.is_no_records_found() || error.is_nx_domain() => {
                Err(LookupError::NotFound)
            }
            Err(error) => Err(LookupError::Unavailable(error.to_string())),
        }
    }
}

#[cfg(test)]
mod tests;
