//! Postgres group commit (`store::pg_batch`): writes of concurrent callers share transactions,
//! yet a write that fails is refused alone and every other one commits.

use futures::future::join_all;
use parley::store::script::Script;
use parley::store::{Columns, Store, StoreError};

async fn values(store: &Store) -> Vec<i64> {
    store
        .write(|tx| {
            Box::pin(async move {
                let rows = tx
                    .fetch_all("SELECT v FROM batch_t ORDER BY v", vec![])
                    .await?;
                rows.iter().map(|row| row.int("v")).collect()
            })
        })
        .await
        .unwrap()
}

#[actix_web::test]
async fn concurrent_writes_commit_together_and_a_failing_one_is_refused_alone() {
    let url = crate::support::postgres::fresh_database().await;
    let store = Store::connect(&url, 8).await.unwrap();
    store
        .write(|tx| Box::pin(tx.execute("CREATE TABLE batch_t (v BIGINT NOT NULL UNIQUE)", vec![])))
        .await
        .unwrap();
    let mut taken = Script::new();
    taken.push("INSERT INTO batch_t (v) VALUES (-1)", vec![]);
    store.write_script(taken).await.unwrap();

    // 200 scripts and 100 jobs at once; script 13 and job 7 collide with a value already
    // stored, and job 50 fails on its own after writing.
    let scripts = (0..200_i64).map(|index| {
        let value = if index == 13 { -1 } else { index };
        let mut script = Script::new();
        script.push("INSERT INTO batch_t (v) VALUES ($1)", vec![value.into()]);
        let store = &store;
        async move { store.write_script(script).await }
    });
    let jobs = (0..100_i64).map(|index| {
        let store = &store;
        async move {
            store
                .write(move |tx| {
                    Box::pin(async move {
                        let value = if index == 7 { -1 } else { 1_000 + index };
                        tx.execute("INSERT INTO batch_t (v) VALUES ($1)", vec![value.into()])
                            .await?;
                        if index == 50 {
                            return Err(StoreError::NotFound);
                        }
                        Ok(value)
                    })
                })
                .await
        }
    });
    let (scripts, jobs) = futures::join!(join_all(scripts), join_all(jobs));
    let refused: Vec<usize> = scripts
        .iter()
        .enumerate()
        .filter(|(_, outcome)| outcome.is_err())
        .map(|(index, _)| index)
        .collect();
    assert_eq!(refused, [13], "only the duplicate script is refused");
    let failed: Vec<usize> = jobs
        .iter()
        .enumerate()
        .filter(|(_, outcome)| outcome.is_err())
        .map(|(index, _)| index)
        .collect();
    // Both failing jobs are rolled back, nothing else is.
    assert_eq!(failed, [7, 50]);
    let mut expected: Vec<i64> = vec![-1];
    expected.extend((0..200).filter(|value| *value != 13));
    expected.extend((1_000..1_100).filter(|value| *value != 1_007 && *value != 1_050));
    assert_eq!(values(&store).await, expected);
}
