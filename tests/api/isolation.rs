use crate::support::{Options, TestApp, PATIENCE};

const POISON: &str = "please panic";

#[actix_web::test]
async fn a_panic_in_one_conversation_neither_stalls_others_nor_loops_forever() {
    let app = TestApp::spawn_with(Options {
        panic_on_text: Some(POISON.into()),
        ..Options::default()
    })
    .await;
    let channel = app.create_whatsapp_channel().await;
    app.customer_says(&channel, "15550000001", "wamid.poison", POISON)
        .await;
    app.customer_says(&channel, "15550000002", "wamid.healthy", "hello")
        .await;

    let sends = app.graph.wait_for_accepted(1, PATIENCE).await;
    assert_eq!(sends[0].body["to"], "15550000002");

    // The poison event is retried by the sweeper and quarantined after five failures.
    let channel_id = channel.id.parse().unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while app
        .app
        .store
        .count_quarantined_inbound(channel_id)
        .await
        .unwrap()
        == 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the poison event was never quarantined"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The counter moves just after the row is marked, so it is polled too.
    let metrics = app
        .get_text_until("/metrics", |metrics| {
            metrics.contains(r#"parley_quarantined_events_total{channel_kind="whatsapp_cloud"} 1"#)
        })
        .await;
    assert!(
        !metrics.contains(r#"parley_quarantined_events_total{channel_kind="whatsapp_cloud"} 2"#)
    );

    // The same contact's conversation resumes with its next message.
    app.customer_says(&channel, "15550000001", "wamid.after", "hi again")
        .await;
    let sends = app.graph.wait_for_accepted(2, PATIENCE).await;
    assert_eq!(sends[1].body["to"], "15550000001");
    assert_eq!(app.graph.accepted().len(), 2);
}
