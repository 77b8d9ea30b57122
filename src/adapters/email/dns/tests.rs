//! The record checks over an in-memory table, and key generation.
use super::*;
use std::collections::HashMap;

struct Table(HashMap<&'static str, Result<Vec<String>, LookupError>>);

impl TxtLookup for Table {
    async fn txt(&self, name: &str) -> Result<Vec<String>, LookupError> {
        self.0
            .get(name)
            .cloned()
            .unwrap_or(Err(LookupError::NotFound))
    }
}

const KEY: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu3q";

fn domain_records() -> Vec<DnsRecord> {
    records(
        "mail.example.com",
        "parley1",
        KEY,
        "include:_spf.relay.example",
    )
}

#[track_caller]
fn check_table(
    entries: Vec<(&'static str, Result<Vec<String>, LookupError>)>,
    expected: &[(RecordStatus, Option<&str>); 2],
) {
    let table = Table(entries.into_iter().collect());
    let checked = futures::executor::block_on(check(&table, &domain_records()));
    let found: Vec<_> = checked
        .iter()
        .map(|record| (record.status.clone(), record.code))
        .collect();
    assert_eq!(found, expected.to_vec(), "{checked:#?}");
}

fn txt(values: &[&str]) -> Result<Vec<String>, LookupError> {
    Ok(values.iter().map(|value| (*value).to_owned()).collect())
}

const DKIM: &str = "parley1._domainkey.mail.example.com";
const SPF: &str = "mail.example.com";

#[test]
fn the_records_are_the_dkim_key_under_the_selector_and_an_spf_record() {
    let records = domain_records();
    assert_eq!(records[0].name, DKIM);
    assert_eq!(records[0].value, format!("v=DKIM1; k=rsa; p={KEY}"));
    assert_eq!(records[1].name, SPF);
    assert_eq!(records[1].value, "v=spf1 include:_spf.relay.example ~all");
}

#[test]
fn published_records_verify_whitespace_and_case_aside() {
    let split_key = format!("v=DKIM1;k=rsa; p={} {}", &KEY[..10], &KEY[10..]);
    let leaked: &'static str = Box::leak(split_key.into_boxed_str());
    check_table(
        vec![
            (DKIM, txt(&[leaked])),
            (
                SPF,
                txt(&[
                    "google-site-verification=x",
                    "v=spf1 mx INCLUDE:_spf.relay.example -all",
                ]),
            ),
        ],
        &[
            (RecordStatus::Verified, None),
            (RecordStatus::Verified, None),
        ],
    );
}

#[test]
fn absent_records_are_missing_and_a_failed_lookup_is_unavailable() {
    check_table(
        vec![(SPF, Err(LookupError::Unavailable("SERVFAIL".into())))],
        &[
            (RecordStatus::Missing, Some("dns_record_missing")),
            (RecordStatus::Unavailable, Some("dns_lookup_failed")),
        ],
    );
}

#[test]
fn a_different_key_and_an_spf_without_the_relay_are_mismatches() {
    check_table(
        vec![
            (DKIM, txt(&["v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUA"])),
            (SPF, txt(&["v=spf1 include:_spf.google.com ~all"])),
        ],
        &[
            (RecordStatus::Mismatch, Some("dns_record_mismatch")),
            (RecordStatus::Mismatch, Some("dns_record_mismatch")),
        ],
    );
}

#[test]
fn two_spf_records_are_a_mismatch_and_a_revoked_key_too() {
    check_table(
        vec![
            (DKIM, txt(&["v=DKIM1; p="])),
            (
                SPF,
                txt(&["v=spf1 include:_spf.relay.example ~all", "v=spf1 a ~all"]),
            ),
        ],
        &[
            (RecordStatus::Mismatch, Some("dns_record_mismatch")),
            (RecordStatus::Mismatch, Some("dns_record_mismatch")),
        ],
    );
}

#[test]
fn spf_lookalikes_are_not_spf_records() {
    assert!(is_spf("v=spf1"));
    assert!(is_spf("V=SPF1 a -all"));
    assert!(!is_spf("v=spf10 a"));
    assert!(!is_spf("spf2.0/pra"));
}

#[test]
fn a_generated_key_is_rsa_2048_in_both_encodings() {
    let key = generate_key().unwrap();
    assert!(key
        .private_pem
        .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    // A 2048-bit SubjectPublicKeyInfo is 294 bytes: 392 base64 characters.
    assert_eq!(key.public_base64.len(), 392);
    assert!(key
        .public_base64
        .starts_with("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"));
}
