//! The media queue's work (`castyou_actors::queue::Work`): processing uploaded items, over
//! the services' media processing and the leased queue `db::queue::MEDIA`.

use crate::services::media_workers;
use crate::services::AppState;
use castyou_actors::queue::Work;
use castyou_actors::relay::PortFuture;
use castyou_actors::{Event, Topic};
use castyou_vocab::queue::{Lease, Ran};

pub struct MediaWork {
    state: AppState,
}

impl MediaWork {
    pub fn new(state: AppState) -> MediaWork {
        MediaWork { state }
    }
}

impl Work for MediaWork {
    const NAME: &'static str = "media";
    /// Uploads completed here wake the worker through the shared `Notify`; others are found
    /// by polling.
    const TOPIC: Option<Topic> = None;

    fn claim(&self, limit: usize) -> PortFuture<Vec<Lease>> {
        let state = self.state.clone();
        Box::pin(async move { media_workers::claim(&state, limit).await })
    }

    fn renew(&self, lease: Lease) -> PortFuture<bool> {
        let state = self.state.clone();
        Box::pin(async move { media_workers::renew(&state, lease).await })
    }

    fn run(&self, leases: Vec<Lease>) -> PortFuture<Ran> {
        let state = self.state.clone();
        Box::pin(async move {
            let mut ran = Ran::default();
            for lease in leases {
                let one = media_workers::process(&state, lease).await?;
                ran.done += one.done;
                ran.refused += one.refused;
                ran.retried += one.retried;
            }
            Ok(ran)
        })
    }

    fn bury(&self) -> PortFuture<u64> {
        let state = self.state.clone();
        Box::pin(async move { media_workers::fail_exhausted(&state).await })
    }

    fn depth(&self) -> PortFuture<(i64, i64)> {
        let state = self.state.clone();
        Box::pin(async move { media_workers::depth(&state).await })
    }

    fn wakes(&self, _event: &Event) -> bool {
        false
    }
}
