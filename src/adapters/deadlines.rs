//! `DeadlinePort` over the jobs service.

use crate::services::{jobs, AppState};
use castyou_actors::deadlines::{DeadlinePort, Swept};
use castyou_actors::relay::PortFuture;

pub struct PgDeadlines {
    state: AppState,
    remind_before: chrono::Duration,
}

impl PgDeadlines {
    pub fn new(state: AppState, remind_before: chrono::Duration) -> PgDeadlines {
        PgDeadlines {
            state,
            remind_before,
        }
    }
}

impl DeadlinePort for PgDeadlines {
    fn sweep(&self) -> PortFuture<Swept> {
        let state = self.state.clone();
        let remind_before = self.remind_before;
        Box::pin(async move {
            let sweep = jobs::sweep_deadlines(&state, remind_before)
                .await
                .map_err(|e| anyhow::anyhow!(e.message()))?;
            Ok(Swept {
                closed: sweep.closed,
                reminded: sweep.reminded,
            })
        })
    }
}
