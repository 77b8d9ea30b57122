use super::*;

fn graph_error(code: i64, subcode: Option<i64>) -> Vec<u8> {
    let mut error = serde_json::json!({
        "message": format!("(#{code}) x"), "type": "OAuthException", "code": code,
        "fbtrace_id": "T",
    });
    if let Some(subcode) = subcode {
        error["error_subcode"] = subcode.into();
    }
    serde_json::to_vec(&serde_json::json!({ "error": error })).unwrap()
}

fn outcome(error: &SendError) -> &'static str {
    match error {
        SendError::Retryable { .. } => "retry",
        SendError::CredentialsRejected { .. } => "credentials",
        SendError::Permanent { .. } => "permanent",
    }
}

#[test]
fn graph_errors_are_classified_by_code_and_subcode_on_both_platforms() {
    use Platform::{Instagram, Messenger};
    let both = |status, code, subcode, expected| {
        [
            (Messenger, status, code, subcode, expected),
            (Instagram, status, code, subcode, expected),
        ]
    };
    let cases = [
        both(401, 190, Some(463), "credentials"),
        both(400, 190, None, "credentials"),
        both(400, 102, None, "credentials"),
        both(401, 0, None, "credentials"),
        both(403, 10, None, "credentials"),
        both(403, 200, None, "credentials"),
        both(403, 230, None, "credentials"),
        both(400, 10, Some(2_018_278), "permanent"),
        both(400, 10, Some(2_018_108), "permanent"),
        both(400, 10, Some(1_893_063), "permanent"),
        both(400, 613, None, "retry"),
        both(429, 4, None, "retry"),
        both(400, 17, None, "retry"),
        both(400, 32, None, "retry"),
        both(500, 1, None, "retry"),
        both(503, 2, None, "retry"),
        both(400, 1200, None, "retry"),
        both(400, 551, Some(1_545_041), "permanent"),
        both(400, 100, Some(2_018_001), "permanent"),
        both(400, 100, None, "permanent"),
        both(500, 131, None, "retry"),
        both(400, 368, None, "permanent"),
        // Instagram's own window subcode is the window wherever it comes from.
        both(400, 10, Some(2_534_022), "permanent"),
    ];
    for (platform, status, code, subcode, expected) in cases.into_iter().flatten() {
        let got = classify(platform, status, &graph_error(code, subcode), None);
        assert_eq!(
            outcome(&got),
            expected,
            "{platform} HTTP {status} code {code}/{subcode:?}: {got:?}"
        );
    }
}

#[test]
fn a_window_error_says_which_window_closed() {
    let body = br#"{"error":{"message":"(#10) This message is sent outside of allowed window.","type":"OAuthException","code":10,"error_subcode":2018278,"fbtrace_id":"AbCdEf12345"}}"#;
    let SendError::Permanent { reason } = classify(Platform::Messenger, 400, body, None) else {
        panic!("expected a permanent failure");
    };
    assert_eq!(
        reason,
        "outside the 24-hour messaging window of Messenger: the contact last wrote more than \
         24 hours ago (or, for a human agent's tagged reply, more than 7 days ago) \
         (10/2018278: (#10) This message is sent outside of allowed window. \
         [fbtrace_id AbCdEf12345])"
    );
    let instagram = classify(
        Platform::Instagram,
        400,
        &graph_error(10, Some(2_534_022)),
        None,
    );
    assert!(
        matches!(&instagram, SendError::Permanent { reason } if reason.starts_with("outside the 24-hour messaging window of Instagram")),
        "{instagram:?}"
    );
}

#[test]
fn the_reason_of_a_rejected_token_keeps_code_subcode_and_trace() {
    let body = br#"{"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"MOCKtrace1"}}"#;
    assert_eq!(
        classify(Platform::Instagram, 400, body, None),
        SendError::CredentialsRejected {
            reason: "190/463: Error validating access token: Session has expired \
                     [fbtrace_id MOCKtrace1]"
                .into()
        }
    );
}

#[test]
fn throttling_keeps_the_wait_the_provider_asked_for() {
    let wait = Some(Duration::from_secs(30));
    let body = br#"{"error":{"message":"(#613) Calls to this api have exceeded the rate limit.","type":"OAuthException","code":613,"fbtrace_id":"MOCKtrace7"}}"#;
    assert_eq!(
        classify(Platform::Messenger, 400, body, wait),
        SendError::Retryable {
            reason: "613: (#613) Calls to this api have exceeded the rate limit. \
                     [fbtrace_id MOCKtrace7]"
                .into(),
            retry_after: wait,
        }
    );
}

#[test]
fn an_error_marked_transient_is_retried() {
    let body = br#"{"error":{"message":"An unexpected error has occurred.","code":131,"is_transient":true}}"#;
    assert_eq!(
        outcome(&classify(Platform::Messenger, 400, body, None)),
        "retry"
    );
}

#[test]
fn unavailable_and_unknown_people_are_named() {
    let blocked = classify(
        Platform::Messenger,
        400,
        &graph_error(551, Some(1_545_041)),
        None,
    );
    assert!(
        matches!(&blocked, SendError::Permanent { reason } if reason.starts_with("this person isn't available on Messenger right now (551/1545041")),
        "{blocked:?}"
    );
    let unknown = classify(
        Platform::Instagram,
        400,
        &graph_error(100, Some(2_018_001)),
        None,
    );
    assert!(
        matches!(&unknown, SendError::Permanent { reason } if reason.starts_with("no Instagram user matches the recipient id (100/2018001")),
        "{unknown:?}"
    );
}

/// A request as the one-shot server saw it: the request line, the authorization header
/// and the body.
#[derive(Debug)]
struct Received {
    request_line: String,
    authorization: Option<String>,
    body: Value,
}

/// Serves one request with `status` and `answer`, and hands back what it received.
async fn serve_once(status: u16, answer: &'static str) -> (Url, tokio::task::JoinHandle<Received>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buffer = Vec::new();
        let (head_end, length) = loop {
            let mut chunk = [0; 4096];
            let read = stream.read(&mut chunk).await.unwrap();
            assert!(read > 0, "the client hung up before its request ended");
            buffer.extend_from_slice(&chunk[..read]);
            let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&buffer[..end]).to_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map_or(0, |value| value.trim().parse::<usize>().unwrap());
            if buffer.len() >= end + 4 + length {
                break (end, length);
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
            answer.len()
        );
        stream.write_all(response.as_bytes()).await.unwrap();
        stream.shutdown().await.unwrap();
        Received {
            request_line: head.lines().next().unwrap_or_default().to_owned(),
            authorization: head.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("authorization")
                    .then(|| value.trim().to_owned())
            }),
            body: serde_json::from_slice(&buffer[head_end + 4..head_end + 4 + length]).unwrap(),
        }
    });
    (url, server)
}

fn client(graph_url: Url) -> MessengerClient {
    MessengerClient::new(reqwest::Client::new(), graph_url, "v24.0".into())
}

#[tokio::test]
async fn a_messenger_send_goes_to_me_messages_with_the_page_token() {
    let (url, server) = serve_once(
        200,
        r#"{"recipient_id":"6843190012345678","message_id":"m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM"}"#,
    )
    .await;
    let body = serde_json::json!({"recipient": {"id": "6843190012345678"}, "messaging_type": "RESPONSE", "message": {"text": "Hi"}});
    let sent = client(url)
        .send(Platform::Messenger, "104538192374661", "EAAB-page", &body)
        .await;
    assert_eq!(
        sent,
        Ok(Sent {
            provider_message_id: "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM".into()
        })
    );
    let received = server.await.unwrap();
    assert_eq!(received.request_line, "POST /v24.0/me/messages HTTP/1.1");
    assert_eq!(received.authorization.as_deref(), Some("Bearer EAAB-page"));
    assert_eq!(received.body, body);
}

#[tokio::test]
async fn an_instagram_send_goes_to_the_account_messages() {
    let (url, server) = serve_once(
        200,
        r#"{"recipient_id":"1209384756102938","message_id":"aWdf_sent"}"#,
    )
    .await;
    let body = serde_json::json!({"recipient": {"id": "1209384756102938"}, "messaging_type": "RESPONSE", "message": {"text": "Hi"}});
    let sent = client(url)
        .send(Platform::Instagram, "17841405822304914", "IGAA-user", &body)
        .await
        .unwrap();
    assert_eq!(sent.provider_message_id, "aWdf_sent");
    let received = server.await.unwrap();
    assert_eq!(
        received.request_line,
        "POST /v24.0/17841405822304914/messages HTTP/1.1"
    );
    assert_eq!(received.authorization.as_deref(), Some("Bearer IGAA-user"));
}

#[tokio::test]
async fn a_reaction_answered_without_a_message_id_is_named_after_its_target() {
    let (url, _server) = serve_once(200, r#"{"recipient_id":"6843190012345678"}"#).await;
    let body = serde_json::json!({"recipient": {"id": "6843190012345678"}, "sender_action": "react",
        "payload": {"message_id": "m_theirs", "reaction": "\u{1f389}"}});
    let sent = client(url)
        .send(Platform::Messenger, "104538192374661", "EAAB-page", &body)
        .await;
    assert_eq!(
        sent,
        Ok(Sent {
            provider_message_id: "react:m_theirs".into()
        })
    );
}

#[tokio::test]
async fn a_message_answered_without_a_message_id_is_retried() {
    let (url, _server) = serve_once(200, r#"{"recipient_id":"6843190012345678"}"#).await;
    let body =
        serde_json::json!({"recipient": {"id": "6843190012345678"}, "message": {"text": "Hi"}});
    let sent = client(url)
        .send(Platform::Messenger, "104538192374661", "EAAB-page", &body)
        .await;
    assert!(matches!(sent, Err(SendError::Retryable { .. })), "{sent:?}");
}

#[tokio::test]
async fn a_refused_send_is_classified() {
    let (url, _server) = serve_once(
        400,
        r#"{"error":{"message":"(#10) This message is sent outside of allowed window.","type":"OAuthException","code":10,"error_subcode":2534022,"fbtrace_id":"MOCKtrace6"}}"#,
    )
    .await;
    let body =
        serde_json::json!({"recipient": {"id": "1209384756102938"}, "message": {"text": "Hi"}});
    let sent = client(url)
        .send(Platform::Instagram, "17841405822304914", "IGAA-user", &body)
        .await;
    assert!(
        matches!(&sent, Err(SendError::Permanent { reason }) if reason.contains("24-hour messaging window")),
        "{sent:?}"
    );
}

#[tokio::test]
async fn a_sender_action_is_posted_alone() {
    let (url, server) = serve_once(200, r#"{"recipient_id":"6843190012345678"}"#).await;
    client(url)
        .send_sender_action(
            Platform::Messenger,
            "104538192374661",
            "EAAB-page",
            "6843190012345678",
            SenderAction::TypingOn,
        )
        .await
        .unwrap();
    assert_eq!(
        server.await.unwrap().body,
        serde_json::json!({"recipient": {"id": "6843190012345678"}, "sender_action": "typing_on"})
    );
}

#[test]
fn answers_without_a_graph_error_fall_back_to_the_status() {
    for platform in Platform::ALL {
        assert_eq!(outcome(&classify(platform, 502, b"<html>", None)), "retry");
        assert_eq!(
            classify(platform, 429, b"", Some(Duration::from_secs(2))),
            SendError::Retryable {
                reason: "HTTP 429 without a Graph error".into(),
                retry_after: Some(Duration::from_secs(2)),
            }
        );
        assert_eq!(
            outcome(&classify(platform, 404, b"not found", None)),
            "permanent"
        );
    }
}
