//! Email channels under `/api/v1/channels`: the `config` of a new email channel (domain,
//! sender, relay), its DKIM key generated at creation, and `POST /channels/{id}/verify`,
//! which looks the domain's DKIM and SPF records up over DNS and connects the channel once
//! both are published as generated.

use super::channels::{find as find_record, restart, seal, view, Credentials};
use crate::adapters::email::dns::{self, CheckedRecord, RecordStatus};
use crate::adapters::email::{EmailPublicConfig, EmailSecrets, SmtpSecurity};
use crate::domain::{ChannelKind, ChannelStatus};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Code};
use crate::http::AppState;
use crate::store::{ChannelConnection, ChannelRecord, ChannelRefresh};
use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

/// The submission port, reached with STARTTLS.
const DEFAULT_SMTP_PORT: u16 = 587;

fn string<'a>(config: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, ApiError> {
    let path = format!("config.{key}");
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Err(ApiError::field(
            Code::InvalidField,
            &path,
            format!("`{path}` must not be empty"),
        )),
        Some(Value::String(text)) => Ok(Some(text.trim())),
        Some(_) => Err(ApiError::field(
            Code::InvalidField,
            &path,
            format!("`{path}` must be a string"),
        )),
    }
}

fn invalid(key: &str, message: String) -> ApiError {
    ApiError::field(Code::InvalidField, &format!("config.{key}"), message)
}

/// A DNS host name: dot-separated labels of letters, digits and hyphens, at least two.
fn host_name(raw: &str) -> Option<String> {
    let name = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    let valid = name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    valid.then_some(name)
}

/// Whether mail from `from_domain` signed with `d=domain` passes DMARC's relaxed alignment:
/// one is the other or a subdomain of it.
fn aligned(from_domain: &str, domain: &str) -> bool {
    from_domain == domain
        || from_domain.ends_with(&format!(".{domain}"))
        || domain.ends_with(&format!(".{from_domain}"))
}

/// The `config` of a new email channel, checked field by field. The DKIM key and the
/// inbound address are added by [`with_new_key`].
pub(crate) fn credentials(config: &Map<String, Value>) -> Result<Credentials, ApiError> {
    let raw_domain = string(config, "domain")?.ok_or_else(|| ApiError::missing("config.domain"))?;
    let domain = host_name(raw_domain).ok_or_else(|| {
        invalid(
            "domain",
            format!("`{raw_domain}` is not a domain name like mail.example.com"),
        )
    })?;
    let from_address = match string(config, "from_address")? {
        Some(address) => address.to_ascii_lowercase(),
        None => format!("hello@{domain}"),
    };
    let from_domain = from_address
        .parse::<lettre::Address>()
        .map(|address| address.domain().to_ascii_lowercase())
        .map_err(|_| {
            invalid(
                "from_address",
                format!("`{from_address}` is not an email address"),
            )
        })?;
    if !aligned(&from_domain, &domain) {
        return Err(invalid(
            "from_address",
            format!("`{from_address}` is not at {domain}: receivers would reject mail signed for {domain} from another domain (DMARC)"),
        ));
    }
    let smtp_host =
        string(config, "smtp_host")?.ok_or_else(|| ApiError::missing("config.smtp_host"))?;
    let smtp_host = host_name(smtp_host)
        .or_else(|| {
            smtp_host
                .parse::<std::net::IpAddr>()
                .ok()
                .map(|ip| ip.to_string())
        })
        .ok_or_else(|| {
            invalid(
                "smtp_host",
                format!("`{smtp_host}` is not a host name or address"),
            )
        })?;
    let smtp_port = match config.get("smtp_port") {
        None | Some(Value::Null) => DEFAULT_SMTP_PORT,
        Some(port) => port
            .as_u64()
            .and_then(|port| u16::try_from(port).ok())
            .filter(|port| *port > 0)
            .ok_or_else(|| {
                invalid(
                    "smtp_port",
                    "`config.smtp_port` must be a port number (1-65535)".into(),
                )
            })?,
    };
    let smtp_security = match string(config, "smtp_security")? {
        None => SmtpSecurity::Starttls,
        Some(raw) => SmtpSecurity::parse(raw).ok_or_else(|| {
            invalid(
                "smtp_security",
                format!("`{raw}` is not one of starttls, tls, none"),
            )
        })?,
    };
    let smtp_username = string(config, "smtp_username")?.map(str::to_owned);
    let smtp_password = string(config, "smtp_password")?.map(str::to_owned);
    if smtp_username.is_some() != smtp_password.is_some() {
        let missing = if smtp_username.is_some() {
            "smtp_password"
        } else {
            "smtp_username"
        };
        return Err(ApiError::field(
            Code::MissingField,
            &format!("config.{missing}"),
            format!("`config.smtp_username` and `config.smtp_password` go together; `config.{missing}` is missing"),
        ));
    }
    let spf_mechanism = match string(config, "spf")? {
        None => format!("a:{smtp_host}"),
        Some(raw) => {
            let mechanism = raw.to_ascii_lowercase();
            let known = ["include:", "a:", "mx:", "ip4:", "ip6:"];
            if mechanism.contains(char::is_whitespace)
                || !known.iter().any(|prefix| mechanism.starts_with(prefix))
            {
                return Err(invalid("spf", format!("`{raw}` is not one SPF mechanism such as include:_spf.example.net or ip4:203.0.113.7")));
            }
            mechanism
        }
    };
    let from_name = string(config, "from_name")?.map(str::to_owned);
    let mailgun_signing_key = string(config, "mailgun_signing_key")?.map(str::to_owned);
    let public = EmailPublicConfig {
        domain,
        selector: String::new(),
        dkim_public_key: String::new(),
        spf_mechanism,
        from_address,
        from_name,
        smtp_host,
        smtp_port,
        smtp_security,
        smtp_username,
        inbound_address: String::new(),
    };
    let secrets = EmailSecrets {
        dkim_private_key: String::new(),
        smtp_password,
        mailgun_signing_key,
    };
    Ok(Credentials {
        public_config: serde_json::to_value(public).expect("config serialises"),
        secrets: serde_json::to_value(secrets).expect("secrets serialise"),
    })
}

/// Adds a new DKIM key (RSA 2048, generated off the request thread), its selector, and the
/// channel's inbound address: an unguessable local part at Parley's inbound domain.
pub(crate) async fn with_new_key(
    credentials: Credentials,
    inbound_domain: &str,
) -> Result<Credentials, ApiError> {
    let key = web::block(dns::generate_key)
        .await
        .map_err(|_| ApiError::new(Code::Internal, "the DKIM key could not be generated"))?
        .map_err(|error| ApiError::new(Code::Internal, error.to_string()))?;
    let mut public = credentials.public_config;
    let mut secrets = credentials.secrets;
    let selector = format!("parley{}", &hex::encode(rand::random::<[u8; 4]>()));
    public["selector"] = json!(selector);
    public["dkim_public_key"] = json!(key.public_base64);
    public["inbound_address"] = json!(format!(
        "in-{}@{inbound_domain}",
        hex::encode(rand::random::<[u8; 12]>())
    ));
    secrets["dkim_private_key"] = json!(key.private_pem);
    Ok(Credentials {
        public_config: public,
        secrets,
    })
}

fn public_of(public_config: &Value) -> Result<EmailPublicConfig, ApiError> {
    serde_json::from_value(public_config.clone()).map_err(|_| {
        ApiError::new(
            Code::Internal,
            "the email channel's configuration is unreadable",
        )
    })
}

fn records_of(public: &EmailPublicConfig) -> Vec<dns::DnsRecord> {
    dns::records(
        &public.domain,
        &public.selector,
        &public.dkim_public_key,
        &public.spf_mechanism,
    )
}

/// What a new email channel shows before its first check: the records to publish, pending.
pub(crate) fn connection(credentials: &Credentials) -> Result<ChannelConnection, ApiError> {
    let public = public_of(&credentials.public_config)?;
    let records: Vec<CheckedRecord> = records_of(&public)
        .into_iter()
        .map(CheckedRecord::pending)
        .collect();
    Ok(ChannelConnection {
        account_id: Some(public.inbound_address.clone()),
        metadata: json!({"dns_records": records, "inbound_address": public.inbound_address}),
        ..ChannelConnection::default()
    })
}

/// The records of an email channel's view, as last checked.
pub(crate) fn dns_records(record: &ChannelRecord) -> Option<Value> {
    (record.kind == ChannelKind::Email)
        .then(|| record.connection.metadata.get("dns_records").cloned())
        .flatten()
}

/// The token SendGrid's Inbound Parse URL carries (SendGrid does not sign its posts):
/// derived from the master key, so it is never stored and changes with nothing else.
pub(crate) fn sendgrid_token(state: &AppState, channel_id: crate::domain::ChannelId) -> String {
    hex::encode(
        &state
            .master_key
            .derive(&format!("email-sendgrid:{channel_id}"))[..16],
    )
}

/// An email channel's inbound side: its address and the SendGrid URL.
pub(crate) fn inbound(record: &ChannelRecord, state: &AppState) -> Option<Value> {
    (record.kind == ChannelKind::Email).then(|| {
        json!({
            "address": record.public_config.get("inbound_address"),
            "mailgun_url": state.public_url(&format!("/webhooks/email/{}/mailgun", record.id)),
            "sendgrid_url": state.public_url(&format!(
                "/webhooks/email/{}/sendgrid?token={}",
                record.id,
                sendgrid_token(state, record.id)
            )),
        })
    })
}

/// `POST /api/v1/channels/{id}/reconnect` for an email channel: new relay settings (a new
/// password after the relay refused the old one, another relay, another sender). The DKIM key,
/// its selector and the inbound address stay, so the published records and the forwarding
/// stay valid; a verified domain connects again at once. Another domain gets a new key and
/// waits for its records.
pub(crate) async fn reconnect(
    state: &AppState,
    record: &ChannelRecord,
    config: Option<&Value>,
) -> Result<HttpResponse, ApiError> {
    let config = match config {
        Some(Value::Object(config)) => config,
        Some(_) => {
            return Err(ApiError::field(
                Code::InvalidField,
                "config",
                "`config` must be an object",
            ))
        }
        None => return Err(ApiError::missing("config")),
    };
    let parsed = credentials(config)?;
    let old_public = public_of(&record.public_config)?;
    let old_secrets: EmailSecrets = state
        .master_key
        .decrypt(&record.sealed_secrets)
        .ok()
        .and_then(|plaintext| serde_json::from_slice(&plaintext).ok())
        .ok_or_else(|| ApiError::new(Code::Internal, "the channel's credentials are unreadable"))?;
    let same_domain = public_of(&parsed.public_config)?.domain == old_public.domain;
    let mut parsed = if same_domain {
        let mut parsed = parsed;
        parsed.public_config["selector"] = json!(old_public.selector);
        parsed.public_config["dkim_public_key"] = json!(old_public.dkim_public_key);
        parsed.secrets["dkim_private_key"] = json!(old_secrets.dkim_private_key);
        parsed
    } else {
        with_new_key(parsed, &state.settings.email.inbound_domain).await?
    };
    parsed.public_config["inbound_address"] = json!(old_public.inbound_address);
    if parsed
        .secrets
        .get("mailgun_signing_key")
        .is_none_or(Value::is_null)
    {
        parsed.secrets["mailgun_signing_key"] = json!(old_secrets.mailgun_signing_key);
    }
    let (status, connection) = if same_domain && record.connection.verified {
        (ChannelStatus::Connected, record.connection.clone())
    } else {
        (ChannelStatus::PendingVerification, connection(&parsed)?)
    };
    let now = state.clock.now();
    let event = crate::actors::bus::Event::ChannelUpdated {
        channel_id: record.id,
        status,
        reason: None,
    };
    let events = crate::actors::bus::log_script(record.org_id, std::slice::from_ref(&event), now);
    state
        .store
        .refresh_channel(
            record.org_id,
            record.id,
            ChannelRefresh {
                status,
                status_reason: None,
                public_config: parsed.public_config,
                sealed_secrets: seal(state, &parsed.secrets),
                connection,
            },
            now,
            events,
        )
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    state.bus.publish(record.org_id, event);
    let record = restart(state, record.org_id, record.id).await?;
    tracing::info!(channel_id = %record.id, same_domain, "email channel reconnected in place");
    Ok(HttpResponse::Ok().json(view(&record, state)))
}

/// `POST /api/v1/channels/{id}/verify`: looks the domain's records up over DNS. All found as
/// generated: the channel is `connected` and `verified`. Otherwise it stays (or goes back
/// to) `pending_verification`, each record saying what is missing or wrong; a DNS failure
/// never takes a verified domain offline.
#[utoipa::path(post, path = "/api/v1/channels/{id}/verify", tag = "channels",
    params(("id" = String, Path, description = "Channel id")),
    responses((status = 200, description = "The channel, with `verification: {result: verified | pending, records}`"), (status = 404, body = crate::http::error::ErrorBody), (status = 409, body = crate::http::error::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn verify(
    state: AppState,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let record = find_record(&state, &caller, &id).await?;
    if record.kind != ChannelKind::Email {
        return Err(ApiError::new(
            Code::ChannelStateConflict,
            "only email channels have DNS records to verify",
        ));
    }
    if record.status == ChannelStatus::Disconnected {
        return Err(ApiError::new(
            Code::ChannelStateConflict,
            "the channel is disconnected; reconnect it first",
        ));
    }
    let public = public_of(&record.public_config)?;
    let checked = dns::check(&state.settings.email.resolver, &records_of(&public)).await;
    let all_verified = checked
        .iter()
        .all(|record| record.status == RecordStatus::Verified);
    let only_transient = checked.iter().all(|record| {
        matches!(
            record.status,
            RecordStatus::Verified | RecordStatus::Unavailable
        )
    });
    let keep_connected = record.connection.verified && only_transient;
    let (status, reason, verified) = if all_verified || keep_connected {
        // The records say nothing of the relay: a refused password still needs a reconnect.
        match record.status {
            ChannelStatus::NeedsReconnect => (record.status, record.status_reason.clone(), true),
            _ => (ChannelStatus::Connected, None, true),
        }
    } else {
        let problems: Vec<String> = checked
            .iter()
            .filter_map(|record| Some(format!("{} ({})", record.code?, record.record.name)))
            .collect();
        (
            ChannelStatus::PendingVerification,
            Some(format!("verification pending: {}", problems.join(", "))),
            false,
        )
    };
    let mut connection = record.connection.clone();
    connection.verified = verified;
    connection.metadata["dns_records"] = json!(checked);
    connection.metadata["checked_at"] = json!(state.clock.now());
    let now = state.clock.now();
    let event = crate::actors::bus::Event::ChannelUpdated {
        channel_id: record.id,
        status,
        reason: reason.clone(),
    };
    let events = crate::actors::bus::log_script(record.org_id, std::slice::from_ref(&event), now);
    state
        .store
        .refresh_channel(
            record.org_id,
            record.id,
            ChannelRefresh {
                status,
                status_reason: reason,
                public_config: record.public_config.clone(),
                sealed_secrets: record.sealed_secrets.clone(),
                connection,
            },
            now,
            events,
        )
        .await
        .map_err(|error| ApiError::from_store(error, Code::ChannelNotFound))?;
    state.bus.publish(record.org_id, event);
    if let Some(runtime) = state.channel(record.id) {
        runtime.set_status(status, None);
    }
    tracing::info!(channel_id = %record.id, verified, "email domain checked");
    let record = find_record(&state, &caller, &id).await?;
    let mut body = serde_json::to_value(view(&record, &state)).expect("views serialise");
    body["verification"] = json!({
        "result": if verified { "verified" } else { "pending" },
        "records": checked,
    });
    Ok(HttpResponse::Ok().json(body))
}

#[cfg(test)]
mod tests;
