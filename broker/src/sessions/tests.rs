use super::*;
use records::Records;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, watch};

/// Long enough for anything that is going to happen; a test that waits this
/// long has failed.
const PATIENCE: Duration = Duration::from_secs(10);

/// A handshake failure, as a test's `open` reports it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct TestError(&'static str);

fn session(id: &str) -> UpstreamSession {
    UpstreamSession {
        session_id: Some(id.to_owned()),
        protocol_version: "2025-06-18".to_owned(),
        capabilities: Default::default(),
    }
}

/// Upstream sessions a memory store holds.
fn held(store: &SessionStore) -> usize {
    store.counts().map_or(0, |(upstream, _)| upstream)
}

/// Opens `id` through the store, or fails the test.
async fn open_as(store: &SessionStore, gateway: &str, server: &str, id: &str) {
    let answer = session(id);
    let opened = store
        .upstream_session(gateway, server, None, || async move {
            Ok::<_, TestError>(answer)
        })
        .await
        .expect("an open that succeeds");
    assert_eq!(opened.session, session(id));
}

/// Asks the store with `stale` and an `open` that answers `id`, counting
/// the opens in `opens`.
async fn ask(
    store: &SessionStore,
    stale: Option<&str>,
    id: &str,
    opens: &Arc<AtomicUsize>,
) -> UpstreamSession {
    let (opens, answer) = (opens.clone(), session(id));
    store
        .upstream_session("gw", "weather", stale, || async move {
            opens.fetch_add(1, Ordering::SeqCst);
            Ok::<_, TestError>(answer)
        })
        .await
        .expect("an open that succeeds")
        .session
}

/// Starts `callers` concurrent calls for ("gw", "weather") whose shared
/// `open` counts itself in `opens`, waits for `released`, then answers
/// `outcome`; returns once every caller is inside `upstream_session`.
async fn start_callers(
    store: &Arc<SessionStore>,
    callers: usize,
    opens: &Arc<AtomicUsize>,
    released: &watch::Receiver<bool>,
    outcome: Result<UpstreamSession, &'static str>,
) -> Vec<tokio::task::JoinHandle<Result<UpstreamSession, SharedError>>> {
    let entered = Arc::new(AtomicUsize::new(0));
    let all_entered = Arc::new(Notify::new());
    let handles = (0..callers)
        .map(|_| {
            let (store, opens, entered, all_entered, mut released, outcome) = (
                store.clone(),
                opens.clone(),
                entered.clone(),
                all_entered.clone(),
                released.clone(),
                outcome.clone(),
            );
            tokio::spawn(async move {
                if entered.fetch_add(1, Ordering::SeqCst) + 1 == callers {
                    all_entered.notify_one();
                }
                // On this single-threaded runtime the call below is polled
                // before the test task runs again, so every caller is inside
                // `upstream_session` before the handshake is released.
                store
                    .upstream_session("gw", "weather", None, || async move {
                        opens.fetch_add(1, Ordering::SeqCst);
                        released
                            .wait_for(|open| *open)
                            .await
                            .map_err(|_| TestError("test dropped the release"))?;
                        outcome.map_err(TestError)
                    })
                    .await
                    .map(|opened| opened.session)
                    .map_err(|error| match error {
                        StoreError::Handshake(error) => error,
                        other => panic!("not a handshake error: {other}"),
                    })
            })
        })
        .collect();
    tokio::time::timeout(PATIENCE, all_entered.notified())
        .await
        .expect("every caller starts");
    handles
}

/// Waits for every caller's answer.
async fn answers(
    callers: Vec<tokio::task::JoinHandle<Result<UpstreamSession, SharedError>>>,
) -> Vec<Result<UpstreamSession, SharedError>> {
    let mut answers = Vec::with_capacity(callers.len());
    for caller in callers {
        answers.push(
            tokio::time::timeout(PATIENCE, caller)
                .await
                .expect("every caller is answered")
                .expect("no caller panics"),
        );
    }
    answers
}

#[tokio::test]
async fn concurrent_first_calls_share_one_handshake() {
    const CALLERS: usize = 50;
    let store = Arc::new(SessionStore::default());
    let opens = Arc::new(AtomicUsize::new(0));
    let (release, released) = watch::channel(false);

    let callers = start_callers(&store, CALLERS, &opens, &released, Ok(session("up-1"))).await;
    assert_eq!(held(&store), 0, "nothing is held while opening");
    release.send(true).expect("the handshake is waiting");
    let answers = answers(callers).await;
    assert_eq!(answers.len(), CALLERS);
    for answer in answers {
        assert_eq!(
            answer.expect("every caller gets the session"),
            session("up-1")
        );
    }
    assert_eq!(opens.load(Ordering::SeqCst), 1, "one upstream handshake");
    assert_eq!(held(&store), 1);
}

#[tokio::test]
async fn a_failed_handshake_reaches_every_concurrent_waiter_with_one_attempt() {
    const CALLERS: usize = 20;
    let store = Arc::new(SessionStore::default());
    let opens = Arc::new(AtomicUsize::new(0));
    let (release, released) = watch::channel(false);

    let callers = start_callers(
        &store,
        CALLERS,
        &opens,
        &released,
        Err("connection refused"),
    )
    .await;
    release.send(true).expect("the handshake is waiting");
    let errors: Vec<SharedError> = answers(callers)
        .await
        .into_iter()
        .map(|answer| answer.expect_err("every caller gets the failure"))
        .collect();
    assert_eq!(errors.len(), CALLERS);
    for error in &errors {
        assert_eq!(error.to_string(), "connection refused");
        assert!(
            Arc::ptr_eq(error, &errors[0]),
            "every waiter gets the one failure, not one of its own"
        );
    }
    assert_eq!(opens.load(Ordering::SeqCst), 1, "one upstream handshake");
    assert_eq!(held(&store), 0, "the failure is not held");

    assert_eq!(
        ask(&store, None, "up-1", &opens).await,
        session("up-1"),
        "the next call tries again"
    );
    assert_eq!(opens.load(Ordering::SeqCst), 2, "the next call opened");
    assert_eq!(held(&store), 1);
}

#[tokio::test]
async fn a_held_session_is_returned_without_another_handshake() {
    let store = SessionStore::default();
    let opens = Arc::new(AtomicUsize::new(0));
    assert_eq!(ask(&store, None, "up-1", &opens).await, session("up-1"));
    assert_eq!(ask(&store, None, "up-2", &opens).await, session("up-1"));
    assert_eq!(opens.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn sessions_are_kept_per_gateway_session_and_server() {
    let store = SessionStore::default();
    open_as(&store, "gw-1", "weather", "a").await;
    open_as(&store, "gw-1", "files", "b").await;
    open_as(&store, "gw-2", "weather", "c").await;
    assert_eq!(held(&store), 3);
}

#[tokio::test]
async fn a_failed_open_stores_nothing_and_the_next_call_tries_again() {
    let store = SessionStore::default();
    let failed = store
        .upstream_session("gw", "weather", None, || async {
            Err::<UpstreamSession, _>(TestError("connection refused"))
        })
        .await
        .map(|opened| opened.session);
    assert_eq!(
        failed.expect_err("the open failed").to_string(),
        "connection refused"
    );
    assert_eq!(held(&store), 0, "nothing is held after a failure");
    assert!(
        store
            .end("gw", Duration::from_secs(60))
            .await
            .expect("ended")
            .is_empty()
    );

    let store = SessionStore::default();
    store
        .upstream_session("gw", "weather", None, || async {
            Err::<UpstreamSession, _>(TestError("connection refused"))
        })
        .await
        .expect_err("the open failed");
    let opens = Arc::new(AtomicUsize::new(0));
    assert_eq!(ask(&store, None, "up-1", &opens).await, session("up-1"));
    assert_eq!(opens.load(Ordering::SeqCst), 1, "the second call opened");
    assert_eq!(held(&store), 1);
}

#[tokio::test]
async fn a_stale_id_equal_to_the_held_one_is_replaced() {
    let store = SessionStore::default();
    let opens = Arc::new(AtomicUsize::new(0));
    ask(&store, None, "up-1", &opens).await;
    let replaced = store
        .upstream_session("gw", "other", None, || async {
            Ok::<_, TestError>(session("o-1"))
        })
        .await
        .expect("opens");
    assert!(replaced.to_close.is_empty(), "nothing was replaced");
    let opened = store
        .upstream_session("gw", "other", Some("o-1"), || async {
            Ok::<_, TestError>(session("o-2"))
        })
        .await
        .expect("replaces");
    assert_eq!(
        opened,
        Opened {
            session: session("o-2"),
            to_close: vec!["o-1".to_owned()]
        },
        "the replaced session is handed back to be closed"
    );
    assert_eq!(
        ask(&store, Some("up-1"), "up-2", &opens).await,
        session("up-2")
    );
    assert_eq!(opens.load(Ordering::SeqCst), 2, "a new handshake was made");
    assert_eq!(
        ask(&store, None, "up-3", &opens).await,
        session("up-2"),
        "the replacement is held"
    );
    assert_eq!(held(&store), 2);
}

#[tokio::test]
async fn a_stale_id_other_than_the_held_one_returns_the_held_session() {
    let store = SessionStore::default();
    let opens = Arc::new(AtomicUsize::new(0));
    ask(&store, None, "up-2", &opens).await;
    // Another caller already replaced "up-1" with "up-2".
    assert_eq!(
        ask(&store, Some("up-1"), "up-3", &opens).await,
        session("up-2")
    );
    assert_eq!(opens.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_stale_id_with_nothing_held_opens_a_session() {
    let store = SessionStore::default();
    let opens = Arc::new(AtomicUsize::new(0));
    assert_eq!(
        ask(&store, Some("up-0"), "up-1", &opens).await,
        session("up-1")
    );
    assert_eq!(opens.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn end_returns_the_held_upstream_sessions_and_marks_the_session_ended() {
    let store = SessionStore::default();
    open_as(&store, "gw-1", "weather", "a").await;
    open_as(&store, "gw-1", "files", "b").await;
    open_as(&store, "gw-2", "weather", "c").await;
    // An upstream without sessions: nothing to close.
    store
        .upstream_session("gw-1", "stateless", None, || async {
            Ok::<_, TestError>(UpstreamSession {
                session_id: None,
                protocol_version: "2025-06-18".to_owned(),
                capabilities: Default::default(),
            })
        })
        .await
        .expect("open succeeds");
    assert!(!store.is_ended("gw-1").await.expect("read"));

    let mut closed = store
        .end("gw-1", Duration::from_secs(60))
        .await
        .expect("ended");
    closed.sort();
    assert_eq!(
        closed,
        [
            ("files".to_owned(), "b".to_owned()),
            ("weather".to_owned(), "a".to_owned())
        ]
    );
    assert!(store.is_ended("gw-1").await.expect("read"));
    assert!(
        !store.is_ended("gw-2").await.expect("read"),
        "other sessions are untouched"
    );
    assert_eq!(held(&store), 1, "only gw-2's session is held");
}

#[tokio::test]
async fn an_ended_session_is_forgotten_once_its_time_is_up() {
    let store = SessionStore::default();
    store.end("gw", Duration::ZERO).await.expect("ended");
    assert!(!store.is_ended("gw").await.expect("read"));
    assert!(store.sweep().is_empty());
}

#[tokio::test]
async fn sweep_drops_upstream_sessions_idle_for_longer_than_the_timeout() {
    let store = SessionStore::default();
    open_as(&store, "gw-1", "weather", "a").await;
    open_as(&store, "gw-2", "files", "b").await;

    assert!(store.sweep().is_empty(), "young sessions stay");
    assert_eq!(held(&store), 2);

    store.set_limits(StoreLimits::default(), Duration::ZERO);
    let mut dropped = store.sweep();
    dropped.sort();
    assert_eq!(
        dropped,
        [
            ("files".to_owned(), "b".to_owned()),
            ("weather".to_owned(), "a".to_owned())
        ]
    );
    assert_eq!(held(&store), 0);
}

#[tokio::test]
async fn forget_server_returns_that_servers_ids_and_keeps_the_others() {
    let store = SessionStore::default();
    open_as(&store, "gw-1", "weather", "a").await;
    open_as(&store, "gw-2", "weather", "b").await;
    open_as(&store, "gw-1", "files", "c").await;

    let mut forgotten = store.forget_server("weather").await.expect("forgotten");
    forgotten.sort();
    assert_eq!(forgotten, ["a", "b"]);
    assert_eq!(held(&store), 1);

    let opens = Arc::new(AtomicUsize::new(0));
    assert_eq!(
        ask(&store, None, "up-new", &opens).await,
        session("up-new"),
        "the next call on the forgotten server opens a new session"
    );
}

#[tokio::test]
async fn no_upstream_session_is_opened_beyond_the_total_limit() {
    let store = SessionStore::new(
        StoreLimits {
            max_upstream_sessions: 2,
            handshakes_per_minute: 6,
        },
        Duration::from_secs(3600),
        Records::default(),
    );
    open_as(&store, "gw-1", "weather", "a").await;
    open_as(&store, "gw-2", "weather", "b").await;
    let refused = store
        .upstream_session("gw-3", "weather", None, || async {
            Ok::<_, TestError>(session("c"))
        })
        .await;
    assert!(
        matches!(refused, Err(StoreError::AtCapacity { max: 2 })),
        "{refused:?}"
    );
    // Held sessions are still served, and ending one makes room.
    open_as(&store, "gw-1", "weather", "a").await;
    store
        .end("gw-2", Duration::from_secs(60))
        .await
        .expect("ended");
    open_as(&store, "gw-3", "weather", "c").await;
}

#[tokio::test]
async fn handshakes_per_session_and_server_are_limited_per_minute() {
    let store = SessionStore::new(
        StoreLimits {
            max_upstream_sessions: 100,
            handshakes_per_minute: 3,
        },
        Duration::from_secs(3600),
        Records::default(),
    );
    let opens = Arc::new(AtomicUsize::new(0));
    ask(&store, None, "up-1", &opens).await;
    ask(&store, Some("up-1"), "up-2", &opens).await;
    ask(&store, Some("up-2"), "up-3", &opens).await;
    let refused = store
        .upstream_session("gw", "weather", Some("up-3"), || async {
            Ok::<_, TestError>(session("up-4"))
        })
        .await;
    assert!(
        matches!(
            refused,
            Err(StoreError::TooManyHandshakes { per_minute: 3 })
        ),
        "{refused:?}"
    );
    assert_eq!(opens.load(Ordering::SeqCst), 3);
    // Other pairs have budgets of their own.
    open_as(&store, "gw", "files", "f-1").await;
}

#[tokio::test]
async fn ended_sessions_are_remembered_by_digest() {
    let store = SessionStore::default();
    for i in 0..100 {
        store
            .end(&format!("gw-{i}"), Duration::from_secs(60))
            .await
            .expect("ended");
    }
    assert_eq!(store.counts().map(|(_, ended)| ended), Some(100));
    assert!(store.is_ended("gw-7").await.expect("read"));
    assert!(!store.is_ended("gw-100").await.expect("read"));
}

#[tokio::test]
async fn a_log_level_is_kept_until_the_session_would_expire_and_ends_with_it() {
    let store = SessionStore::default();
    store
        .set_log_level("gw-1", "debug", Duration::from_secs(60))
        .await
        .expect("set");
    store
        .set_log_level("gw-2", "info", Duration::ZERO)
        .await
        .expect("set");
    assert_eq!(
        store.log_level("gw-1").await.expect("read").as_deref(),
        Some("debug")
    );
    store.sweep();
    assert_eq!(
        store.log_level("gw-1").await.expect("read").as_deref(),
        Some("debug")
    );
    assert_eq!(
        store.log_level("gw-2").await.expect("read"),
        None,
        "past its session's expiry"
    );
    store
        .end("gw-1", Duration::from_secs(60))
        .await
        .expect("ended");
    assert_eq!(store.log_level("gw-1").await.expect("read"), None);
}

#[tokio::test]
async fn a_new_get_stream_replaces_the_listener_and_a_gone_one_is_forgotten() {
    let store = SessionStore::default();
    assert!(store.listener("gw-1").is_none());
    let mut first = store.listen("gw-1");
    assert!(store.listener("gw-1").is_some());
    let mut second = store.listen("gw-1");
    assert!(
        first.recv().await.is_none(),
        "the replaced stream hears no more"
    );
    let sender = store.listener("gw-1").expect("the second stream listens");
    sender
        .send((
            "weather".to_owned(),
            futures::StreamExt::boxed(futures::stream::empty()),
        ))
        .await
        .expect("delivered");
    assert_eq!(
        second.recv().await.map(|(server, _)| server).as_deref(),
        Some("weather")
    );
    drop(second);
    assert!(store.listener("gw-1").is_none(), "no one listens any more");
    store.sweep();
    assert!(store.listener("gw-1").is_none());
}
