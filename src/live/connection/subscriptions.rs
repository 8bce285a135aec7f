//! A connection's subscriptions: admitted one by one, run in a cohort or on their own, their
//! deliveries written in batches, and ended when cut off or completed.

use super::{write_all, Admission, Connection, Ending, Initialised, Phase, WRITE_BATCH};
use crate::errors::AppError;
use crate::graphql::subscriptions::AdmissionProbe;
use crate::graphql::QueryCost;
use crate::live::cohorts::{CohortKey, Delivery, Membership};
use crate::live::protocol::{self as wire_protocol, SubscribePayload};
use crate::live::wire::Socket;
use crate::services::gate;
use async_graphql::Response;
use futures_util::StreamExt;
use std::rc::Rc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Where a subscription is.
pub(super) enum Running {
    /// Being admitted; what runs once it is.
    Admitting(Box<(SubscribePayload, Option<CohortKey>)>),
    /// A member of a cohort; its deliveries come through the outbox.
    Shared(#[allow(dead_code)] Membership),
    /// Running on its own; its stream is in `Connection::own`.
    Own,
}

pub(super) struct Sub {
    pub(super) id: String,
    /// `{"id":…,"type":"next","payload":` (or the legacy `data`), for every frame of it.
    pub(super) prefix: Rc<[u8]>,
    pub(super) running: Running,
}

impl Connection {
    pub(super) fn subscribe(
        &mut self,
        id: String,
        payload: SubscribePayload,
    ) -> Result<Vec<Message>, (Ending, Vec<Message>)> {
        let Phase::Ready(session) = &self.phase else {
            return Err((
                Some(wire_protocol::reason(
                    wire_protocol::UNAUTHORIZED.into(),
                    "Unauthorized".into(),
                )),
                vec![],
            ));
        };
        if self.serial_of.contains_key(&id) {
            return Err((
                Some(wire_protocol::reason(
                    wire_protocol::DUPLICATE.into(),
                    format!("Subscriber for {id} already exists"),
                )),
                vec![],
            ));
        }
        let key = match screen(&payload, &self.cx.worker.cost) {
            Err(message) => {
                let error = serde_json::json!({
                    "message": message,
                    "extensions": { "code": "GRAPHQL_VALIDATION_FAILED" },
                });
                return Ok(vec![self.protocol.error(&id, error)]);
            }
            Ok(document) => document.and_then(|document| {
                CohortKey::of(
                    &document,
                    &payload.query,
                    payload.operation_name.as_deref(),
                    payload
                        .variables
                        .as_ref()
                        .unwrap_or(&serde_json::Value::Null),
                    session.viewer.user_id,
                    session.viewer.role,
                )
            }),
        };
        let max = self.limits.max_subscriptions;
        if self.subs.len() >= max {
            let refusal = AppError::conflict(format!(
                "this connection already has {max} subscriptions; complete one first"
            ));
            return Ok(self
                .protocol
                .refusal(&id, &wire_protocol::error_response(&refusal)));
        }
        let serial = self.next_serial;
        self.next_serial += 1;
        let admission = self.admission(session, serial, &payload, key.is_some());
        self.admissions.push(admission);
        self.serial_of.insert(id.clone(), serial);
        self.subs.insert(
            serial,
            Sub {
                prefix: wire_protocol::prefix(&id, self.protocol.next_kind()).into(),
                id,
                running: Running::Admitting(Box::new((payload, key))),
            },
        );
        Ok(vec![])
    }

    /// Admits subscription `serial` on its own: the token must still be valid, the rate limit
    /// must allow it and (for one that would join a cohort) its resolver must accept it.
    fn admission(
        &self,
        session: &Initialised,
        serial: u64,
        payload: &SubscribePayload,
        shared: bool,
    ) -> Admission {
        let state = self.cx.worker.state.clone();
        let client_ip = self.cx.client_ip.clone();
        let viewer = session.viewer;
        let expires_at = session.binding.expires_at;
        let probe = shared.then(|| {
            let request = payload.request().data(AdmissionProbe);
            self.cx
                .worker
                .schema
                .execute_stream_with_session_data(request, session.data.clone())
        });
        Box::pin(async move {
            if expires_at <= Instant::now() {
                let refused = wire_protocol::error_response(&AppError::Unauthenticated);
                return (serial, Err(refused));
            }
            if let Err(e) = gate::admit(&state, client_ip.as_deref(), Some(&viewer), 1).await {
                return (serial, Err(wire_protocol::error_response(&e)));
            }
            if let Some(mut probe) = probe {
                // A probe's stream is empty unless the subscription is refused.
                while let Some(response) = probe.next().await {
                    if response.is_err() {
                        return (serial, Err(response));
                    }
                }
            }
            (serial, Ok(()))
        })
    }

    /// A subscription was admitted (it joins its cohort or starts on its own) or refused.
    pub(super) fn admitted(&mut self, serial: u64, result: Result<(), Response>) -> Vec<Message> {
        // Completed by the client meanwhile: nothing to do.
        let Some(sub) = self.subs.get_mut(&serial) else {
            return vec![];
        };
        let Phase::Ready(session) = &self.phase else {
            return vec![];
        };
        if let Err(response) = result {
            let id = sub.id.clone();
            self.forget(serial);
            return self.protocol.refusal(&id, &response);
        }
        let Running::Admitting(admitting) = std::mem::replace(&mut sub.running, Running::Own)
        else {
            return vec![];
        };
        let (payload, key) = *admitting;
        let schema = &self.cx.worker.schema;
        match key {
            Some(key) => {
                let data = session.data.clone();
                let prefix = sub.prefix.clone();
                let membership =
                    self.cx
                        .worker
                        .cohorts
                        .join(key, &self.outbox, serial, prefix, |counted| {
                            schema.execute_stream_with_session_data(
                                payload.request().data(counted),
                                data,
                            )
                        });
                sub.running = Running::Shared(membership);
            }
            None => {
                let stream = schema
                    .execute_stream_with_session_data(payload.request(), session.data.clone());
                self.own.insert(serial, stream);
            }
        }
        vec![]
    }

    /// Drops subscription `serial` (leaving its cohort or dropping its stream).
    pub(super) fn forget(&mut self, serial: u64) {
        if let Some(sub) = self.subs.remove(&serial) {
            self.serial_of.remove(&sub.id);
        }
        self.own.remove(&serial);
    }

    /// A response (or the end) of a subscription running on its own.
    pub(super) fn own_item(&mut self, serial: u64, response: Option<Response>) -> Vec<Message> {
        let Some(sub) = self.subs.get(&serial) else {
            self.own.remove(&serial);
            return vec![];
        };
        match response {
            Some(response) => match serde_json::to_vec(&response) {
                Ok(payload) => vec![wire_protocol::with_prefix(&sub.prefix, &payload)],
                Err(e) => {
                    tracing::error!(error = %e, "a subscription response did not serialise");
                    vec![]
                }
            },
            None => {
                let frame = wire_protocol::complete(&sub.id);
                self.forget(serial);
                vec![frame]
            }
        }
    }

    /// Writes what the outbox holds (in batches, each in one write), then ends the
    /// subscriptions that were cut off.
    pub(super) async fn drain(&mut self, socket: &mut Socket) -> Result<(), Ending> {
        loop {
            let mut frames = Vec::new();
            while frames.len() < WRITE_BATCH {
                let Some((serial, delivery)) = self.outbox.pop() else {
                    break;
                };
                let Some(sub) = self.subs.get(&serial) else {
                    continue;
                };
                match delivery {
                    Delivery::Next(payload) => {
                        frames.push(wire_protocol::with_prefix(&sub.prefix, &payload))
                    }
                    Delivery::Complete => {
                        frames.push(wire_protocol::complete(&sub.id));
                        self.forget(serial);
                    }
                }
            }
            if frames.is_empty() {
                break;
            }
            write_all(socket, frames, self.silence).await?;
        }
        let mut frames = Vec::new();
        for serial in self.outbox.take_cut_off() {
            let Some(sub) = self.subs.get(&serial) else {
                continue;
            };
            let id = sub.id.clone();
            self.forget(serial);
            let error = AppError::conflict(
                "the subscription fell too far behind and was closed; subscribe again",
            );
            frames.extend(
                self.protocol
                    .refusal(&id, &wire_protocol::error_response(&error)),
            );
        }
        write_all(socket, frames, self.silence).await
    }
}

/// Checks a subscription before anything runs: an operation that is not a subscription, or
/// that is over the cost limits, is refused (the message says why). A document that does not
/// parse passes (execution reports it) without a document.
fn screen(
    payload: &SubscribePayload,
    cost: &QueryCost,
) -> Result<Option<async_graphql::parser::types::ExecutableDocument>, String> {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    cost.check_text(&payload.query).map_err(|e| e.to_string())?;
    let Ok(document) = async_graphql::parser::parse_query(&payload.query) else {
        return Ok(None);
    };
    let name = payload.operation_name.as_deref();
    let variables = async_graphql::Variables::from_json(
        payload.variables.clone().unwrap_or(serde_json::Value::Null),
    );
    cost.analyse(&document, name, &variables)
        .map_err(|e| e.to_string())?;
    let operation = match &document.operations {
        DocumentOperations::Single(op) => Some(op),
        DocumentOperations::Multiple(ops) => match name {
            Some(name) => ops.get(name),
            None => ops.values().next(),
        },
    };
    match operation {
        Some(op) if op.node.ty != OperationType::Subscription => Err(
            "only subscriptions run over websockets; send queries and mutations over HTTP".into(),
        ),
        _ => Ok(Some(document)),
    }
}
