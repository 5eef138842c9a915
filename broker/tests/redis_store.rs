//! The session store on a real `redis-server` (started by the test on
//! loopback): two stores on one Redis are two broker replicas.

use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e::redis::RedisServer;
use mcp_broker::sessions::records::{Records, RecordsError};
use mcp_broker::sessions::redis::RedisRecords;
use mcp_broker::sessions::{SessionStore, StoreError, StoreLimits};
use mcp_broker::upstream::handshake::UpstreamSession;
use tokio::sync::Barrier;

const IDLE: Duration = Duration::from_secs(600);
const MINUTE: Duration = Duration::from_secs(60);

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

/// A broker replica's store on `redis`.
fn replica(redis: &RedisServer) -> SessionStore {
    let records = RedisRecords::new(&redis.url(), "mcpgw-test:").expect("a Redis URL");
    SessionStore::new(StoreLimits::default(), IDLE, Records::Redis(records))
}

async fn open(store: &SessionStore, gateway: &str, id: &str) -> Result<Vec<String>, StoreError> {
    let answer = session(id);
    let opened = store
        .upstream_session(gateway, "weather", None, || async move {
            Ok::<_, TestError>(answer)
        })
        .await?;
    Ok(opened.to_close)
}

#[tokio::test]
async fn two_replicas_racing_on_one_pair_keep_one_session_and_the_loser_closes_its_own() {
    let redis = RedisServer::start().await.expect("redis-server starts");
    let (a, b) = (Arc::new(replica(&redis)), Arc::new(replica(&redis)));
    // Both handshakes are in flight before either stores its session.
    let barrier = Arc::new(Barrier::new(2));
    let race = |store: Arc<SessionStore>, id: &'static str| {
        let barrier = barrier.clone();
        tokio::spawn(async move {
            store
                .upstream_session("gw-1", "weather", None, || async move {
                    barrier.wait().await;
                    Ok::<_, TestError>(session(id))
                })
                .await
        })
    };
    let (from_a, from_b) = (race(a.clone(), "from-a"), race(b.clone(), "from-b"));
    let from_a = from_a.await.expect("joined").expect("a session");
    let from_b = from_b.await.expect("joined").expect("a session");
    assert_eq!(from_a.session, from_b.session, "both serve the one stored");
    let winner = from_a.session.session_id.clone().expect("an id");
    let closed: Vec<String> = [from_a.to_close, from_b.to_close].concat();
    let loser = if winner == "from-a" {
        "from-b"
    } else {
        "from-a"
    };
    assert_eq!(closed, [loser], "the loser closes its own, and only it");
    // A third replica sees the winner without a handshake.
    let c = replica(&redis);
    let seen = c
        .upstream_session("gw-1", "weather", None, || async {
            Err::<UpstreamSession, _>(TestError("no handshake expected"))
        })
        .await
        .expect("held in Redis");
    assert_eq!(seen.session.session_id.as_deref(), Some(winner.as_str()));
}

#[tokio::test]
async fn what_one_replica_records_every_other_sees() {
    let redis = RedisServer::start().await.expect("redis-server starts");
    let (a, b) = (replica(&redis), replica(&redis));
    open(&a, "gw-1", "up-1").await.expect("opened on a");
    a.set_log_level("gw-1", "debug", MINUTE).await.expect("set");
    assert_eq!(
        b.upstream_sessions_of("gw-1").await.expect("read"),
        [("weather".to_owned(), session("up-1"))]
    );
    assert_eq!(
        b.log_level("gw-1").await.expect("read").as_deref(),
        Some("debug")
    );
    // A stale session reported on b is replaced for a too.
    let replaced = b
        .upstream_session("gw-1", "weather", Some("up-1"), || async {
            Ok::<_, TestError>(session("up-2"))
        })
        .await
        .expect("replaced");
    assert_eq!(replaced.to_close, ["up-1"]);
    assert_eq!(
        a.upstream_sessions_of("gw-1").await.expect("read"),
        [("weather".to_owned(), session("up-2"))]
    );
    // Ended on b: ended on a, its upstream sessions handed back once.
    assert!(!a.is_ended("gw-1").await.expect("read"));
    let closed = b.end("gw-1", MINUTE).await.expect("ended");
    assert_eq!(closed, [("weather".to_owned(), "up-2".to_owned())]);
    assert!(a.is_ended("gw-1").await.expect("read"));
    assert!(
        a.upstream_sessions_of("gw-1")
            .await
            .expect("read")
            .is_empty()
    );
    assert_eq!(a.log_level("gw-1").await.expect("read"), None);
    assert!(!a.is_ended("gw-2").await.expect("read"), "others untouched");
}

#[tokio::test]
async fn forgetting_a_server_reaches_every_gateway_session() {
    let redis = RedisServer::start().await.expect("redis-server starts");
    let store = replica(&redis);
    open(&store, "gw-1", "a").await.expect("opened");
    open(&store, "gw-2", "b").await.expect("opened");
    let mut forgotten = store.forget_server("weather").await.expect("forgotten");
    forgotten.sort();
    assert_eq!(forgotten, ["a", "b"]);
    assert!(
        store
            .upstream_sessions_of("gw-1")
            .await
            .expect("read")
            .is_empty()
    );
}

#[tokio::test]
async fn sessions_survive_a_redis_restart_and_an_outage_fails_fast_then_heals() {
    let mut redis = RedisServer::start().await.expect("redis-server starts");
    let store = replica(&redis);
    open(&store, "gw-1", "up-1").await.expect("opened");
    store.end("gw-9", MINUTE).await.expect("ended");

    redis.kill();
    let started = Instant::now();
    let down = store.is_ended("gw-9").await;
    assert!(matches!(down, Err(RecordsError(_))), "{down:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "an outage is an error in bounded time, not a hang: {:?}",
        started.elapsed()
    );

    redis.restart().await.expect("redis-server comes back");
    // The connection manager reconnects by itself; a command during its
    // reconnection may still fail, so ask until one answers (bounded).
    let deadline = Instant::now() + Duration::from_secs(10);
    let ended = loop {
        match store.is_ended("gw-9").await {
            Ok(ended) => break ended,
            Err(error) if Instant::now() > deadline => panic!("Redis did not come back: {error}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    assert!(ended, "the ended session is still ended after the restart");
    assert_eq!(
        store.upstream_sessions_of("gw-1").await.expect("read"),
        [("weather".to_owned(), session("up-1"))],
        "the upstream session survived (append-only file, fsync always)"
    );
}

#[tokio::test]
async fn records_are_keyed_by_digest_never_by_the_session_id() {
    let redis = RedisServer::start().await.expect("redis-server starts");
    let store = replica(&redis);
    open(&store, "gw-secret-token-123", "up-1")
        .await
        .expect("opened");
    store.end("gw-other-secret", MINUTE).await.expect("ended");
    let client = redis::Client::open(redis.url()).expect("url");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("connects");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut connection)
        .await
        .expect("keys");
    assert_eq!(keys.len(), 2, "{keys:?}");
    for key in keys {
        assert!(key.starts_with("mcpgw-test:"), "{key}");
        assert!(!key.contains("secret"), "a session id in a key: {key}");
    }
}
