//! `BusPort` over Redis pub/sub: one channel per deployment (the key prefix), one subscription
//! per instance.

use crate::services::RedisHandle;
use castyou_actors::relay::PortFuture;
use castyou_actors::{BusPort, Event};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use std::sync::Arc;

pub struct RedisBus {
    redis: RedisHandle,
    channel: String,
}

impl RedisBus {
    pub fn new(redis: RedisHandle) -> RedisBus {
        let channel = redis.key(&["events"]);
        RedisBus { redis, channel }
    }
}

impl BusPort for RedisBus {
    fn publish(&self, event: Arc<Event>) -> PortFuture<()> {
        let redis = self.redis.clone();
        let channel = self.channel.clone();
        Box::pin(async move {
            let body = serde_json::to_string(event.as_ref())?;
            let mut conn = redis.connection().await?;
            redis::cmd("PUBLISH")
                .arg(&channel)
                .arg(body)
                .query_async::<i64>(&mut conn)
                .await?;
            Ok(())
        })
    }

    /// One pipelined round trip per thousand events.
    fn publish_all(&self, events: Vec<Arc<Event>>) -> PortFuture<()> {
        let redis = self.redis.clone();
        let channel = self.channel.clone();
        Box::pin(async move {
            let mut conn = redis.connection().await?;
            for chunk in events.chunks(1000) {
                let mut pipe = redis::pipe();
                for event in chunk {
                    pipe.cmd("PUBLISH")
                        .arg(&channel)
                        .arg(serde_json::to_string(event.as_ref())?)
                        .ignore();
                }
                pipe.query_async::<()>(&mut conn).await?;
            }
            Ok(())
        })
    }

    fn subscribe(&self) -> PortFuture<BoxStream<'static, Event>> {
        let redis = self.redis.clone();
        let channel = self.channel.clone();
        Box::pin(async move {
            let mut pubsub = redis.client().get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            let events = pubsub.into_on_message().filter_map(|message| async move {
                let payload: Vec<u8> = message.get_payload().ok()?;
                match serde_json::from_slice::<Event>(&payload) {
                    Ok(event) => Some(event),
                    Err(e) => {
                        tracing::warn!(error = %e, "ignoring a malformed bus message");
                        None
                    }
                }
            });
            Ok(events.boxed())
        })
    }
}
