//! The leased queue every background job runs on (`db::queue`), against PostgreSQL: claims
//! never overlap, a lease fences its holder (after its pause, a re-queue or another claim),
//! an endpoint's failure refunds the try, and an item whose tries ran out is a dead letter
//! that is not claimed again. The embedding backlog serves as the table (no endpoint is
//! configured here, so no worker takes its rows).

use crate::helpers::spawn_app;
use castyou::db::embeddings::{self, Subject};
use castyou::db::queue::{self, Lease, EMBEDDINGS};
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

const LONG: Duration = Duration::from_secs(60);

#[actix_web::test]
async fn leases_do_not_overlap_and_fence_their_holders() {
    let app = spawn_app().await;
    let pool = castyou::db::build_pool(&app.settings.database).expect("a pool");
    let (mut a, mut b) = (
        pool.get().await.expect("a connection"),
        pool.get().await.expect("a connection"),
    );
    let ids: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    for id in &ids {
        embeddings::enqueue(&mut a, *id, Subject::Talent)
            .await
            .expect("queued");
    }
    // Two workers claim at once: each item goes to one of them.
    let (first, second) = tokio::join!(
        queue::claim(&mut a, EMBEDDINGS, 3, LONG, 5),
        queue::claim(&mut b, EMBEDDINGS, 3, LONG, 5)
    );
    let (first, second) = (first.expect("claimed"), second.expect("claimed"));
    let taken: HashSet<Uuid> = first.iter().chain(&second).map(|l| l.id).collect();
    assert_eq!(first.len() + second.len(), 5, "{first:?} {second:?}");
    assert_eq!(taken, ids.iter().copied().collect());
    assert!(first.iter().chain(&second).all(|l| l.attempt == 1));
    // Nothing is left to claim while the leases run.
    assert!(queue::claim(&mut a, EMBEDDINGS, 10, LONG, 5)
        .await
        .expect("claimed")
        .is_empty());

    // The holder renews; a forged token does not.
    let held = first[0];
    assert!(queue::renew(&mut a, EMBEDDINGS, &held, LONG)
        .await
        .expect("renewed"));
    let forged = Lease {
        token: Uuid::new_v4(),
        ..held
    };
    assert!(!queue::renew(&mut a, EMBEDDINGS, &forged, LONG)
        .await
        .expect("renewed"));

    // A subject queued again while held: the holder's lease is void and its settle removes
    // nothing, so the new text is embedded by whoever claims it next.
    embeddings::enqueue(&mut a, held.id, Subject::Talent)
        .await
        .expect("queued");
    assert!(!queue::renew(&mut a, EMBEDDINGS, &held, LONG)
        .await
        .expect("renewed"));
    embeddings::settle(&mut a, &[held]).await.expect("settled");
    let again = queue::claim(&mut a, EMBEDDINGS, 10, LONG, 5)
        .await
        .expect("claimed");
    assert_eq!(
        again.iter().map(|l| l.id).collect::<Vec<_>>(),
        vec![held.id]
    );
    assert_ne!(again[0].token, held.token);
    // Settled by its holder, it is gone.
    embeddings::settle(&mut a, &again).await.expect("settled");
    assert!(app
        .sql_values(&format!(
            "SELECT subject_id::text AS value FROM embedding_backlog WHERE subject_id = '{}'",
            held.id
        ))
        .await
        .is_empty());

    // An endpoint's failure gives the item back with its try refunded and the reason kept; a
    // failure of the item's own counts, and pauses it.
    let refunded = second[0];
    assert!(queue::retry_later(
        &mut a,
        EMBEDDINGS,
        &refunded,
        Duration::ZERO,
        "endpoint down",
        false
    )
    .await
    .expect("given back"));
    assert!(!queue::renew(&mut a, EMBEDDINGS, &refunded, LONG)
        .await
        .expect("renewed"));
    let counted = second[1];
    assert!(
        queue::retry_later(&mut a, EMBEDDINGS, &counted, LONG, "broken", true)
            .await
            .expect("given back")
    );
    let rows = app
        .sql_values(&format!(
            "SELECT subject_id::text || ' ' || attempts || ' ' || coalesce(last_error, '') AS value \
             FROM embedding_backlog WHERE subject_id IN ('{}', '{}') ORDER BY attempts",
            refunded.id, counted.id
        ))
        .await;
    assert_eq!(
        rows,
        vec![
            format!("{} 0 endpoint down", refunded.id),
            format!("{} 1 broken", counted.id)
        ]
    );
    // The refunded one is due at once; the paused one is not.
    let due = queue::claim(&mut a, EMBEDDINGS, 10, LONG, 5)
        .await
        .expect("claimed");
    assert_eq!(
        due.iter().map(|l| l.id).collect::<Vec<_>>(),
        vec![refunded.id]
    );
}

#[actix_web::test]
async fn an_item_whose_tries_ran_out_is_a_dead_letter_and_is_not_claimed_again() {
    let app = spawn_app().await;
    let pool = castyou::db::build_pool(&app.settings.database).expect("a pool");
    let mut conn = pool.get().await.expect("a connection");
    let (doomed, fine) = (Uuid::new_v4(), Uuid::new_v4());
    embeddings::enqueue(&mut conn, doomed, Subject::Job)
        .await
        .expect("queued");
    let short = Duration::from_millis(200);
    // Two workers take it and die (their leases run out).
    for attempt in 1..=2 {
        let leases = queue::claim(&mut conn, EMBEDDINGS, 10, short, 2)
            .await
            .expect("claimed");
        assert_eq!(leases.len(), 1);
        assert_eq!(leases[0].attempt, attempt);
        tokio::time::sleep(short * 2).await;
    }
    embeddings::enqueue(&mut conn, fine, Subject::Job)
        .await
        .expect("queued");
    // Its tries are spent: the next claim passes it over and takes the other.
    let next = queue::claim(&mut conn, EMBEDDINGS, 10, LONG, 2)
        .await
        .expect("claimed");
    assert_eq!(next.iter().map(|l| l.id).collect::<Vec<_>>(), vec![fine]);
    let dead = queue::exhausted(&mut conn, EMBEDDINGS, 2, 10)
        .await
        .expect("exhausted");
    assert_eq!(dead.iter().map(|l| l.id).collect::<Vec<_>>(), vec![doomed]);
    // One waits (held), one is dead.
    assert_eq!(
        queue::depth(&mut conn, EMBEDDINGS, 2).await.expect("depth"),
        (1, 1)
    );
    // Its text changes: queued afresh, it is claimed again.
    embeddings::enqueue(&mut conn, doomed, Subject::Job)
        .await
        .expect("queued");
    let revived = queue::claim(&mut conn, EMBEDDINGS, 10, LONG, 2)
        .await
        .expect("claimed");
    assert_eq!(
        revived.iter().map(|l| l.id).collect::<Vec<_>>(),
        vec![doomed]
    );
    assert_eq!(revived[0].attempt, 1);

    // Every queue reports the same figures.
    let metrics = app.metrics_text().await;
    for queue in ["media", "embeddings"] {
        assert!(
            metrics.contains(&format!("castyou_queue_waiting{{queue=\"{queue}\"}}")),
            "{metrics}"
        );
    }
}
