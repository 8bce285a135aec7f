//! The two subscription protocols on the wire: `graphql-transport-ws` and the legacy
//! `graphql-ws` (subscriptions-transport-ws). What clients send (`ClientMessage`), the frames
//! the server answers with, and the close codes, in one place: everything that differs between
//! the two is a method of `Protocol`.

use crate::errors::AppError;
use async_graphql::http::WebSocketProtocols;
use async_graphql::{ErrorExtensions, Response};
use serde::Deserialize;
use std::collections::HashMap;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// An unacknowledged connection past its deadline.
pub const INIT_TIMEOUT: u16 = 4408;
/// An unreadable message.
pub const BAD_REQUEST: u16 = 4400;
/// A subscription before the acknowledgement, or a session that ended.
pub const UNAUTHORIZED: u16 = 4401;
/// A refused `connection_init`.
pub const FORBIDDEN: u16 = 4403;
/// A subscription id already in use.
pub const DUPLICATE: u16 = 4409;
/// A second `connection_init`.
pub const TOO_MANY_INITS: u16 = 4429;

/// What a client sends, in either protocol (the legacy names are aliases).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<serde_json::Value>,
    },
    #[serde(alias = "start")]
    Subscribe {
        id: String,
        payload: SubscribePayload,
    },
    #[serde(alias = "stop")]
    Complete {
        id: String,
    },
    ConnectionTerminate,
    Ping {},
    Pong {},
}

/// The operation a subscribe (legacy: start) message carries.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribePayload {
    #[serde(default)]
    pub query: String,
    #[serde(default)]
    pub operation_name: Option<String>,
    #[serde(default)]
    pub variables: Option<serde_json::Value>,
    #[serde(default)]
    pub extensions: HashMap<String, async_graphql::Value>,
}

impl SubscribePayload {
    /// The GraphQL request it asks for.
    pub fn request(&self) -> async_graphql::Request {
        let mut request = async_graphql::Request::new(self.query.clone()).variables(
            async_graphql::Variables::from_json(
                self.variables.clone().unwrap_or(serde_json::Value::Null),
            ),
        );
        request.operation_name = self.operation_name.clone();
        request.extensions = async_graphql::Extensions(self.extensions.clone());
        request
    }
}

/// The protocol a connection speaks, and how each frame is said in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol(pub WebSocketProtocols);

impl Protocol {
    pub fn is_legacy(self) -> bool {
        self.0 == WebSocketProtocols::SubscriptionsTransportWS
    }

    /// The type of a subscription's data frames: `next`, or the legacy `data`.
    pub fn next_kind(self) -> &'static str {
        match self.0 {
            WebSocketProtocols::GraphQLWS => "next",
            WebSocketProtocols::SubscriptionsTransportWS => "data",
        }
    }

    /// An `error` message for subscription `id`.
    pub fn error(self, id: &str, error: serde_json::Value) -> Message {
        let answer = match self.0 {
            WebSocketProtocols::GraphQLWS => {
                serde_json::json!({ "id": id, "type": "error", "payload": [error] })
            }
            WebSocketProtocols::SubscriptionsTransportWS => {
                serde_json::json!({ "id": id, "type": "error", "payload": error })
            }
        };
        text(answer.to_string())
    }

    /// The frames that end subscription `id` with `response` (an error): data, then complete.
    pub fn refusal(self, id: &str, response: &Response) -> Vec<Message> {
        let payload = serde_json::to_vec(response).unwrap_or_else(|_| b"{}".to_vec());
        vec![
            with_prefix(&prefix(id, self.next_kind()), &payload),
            complete(id),
        ]
    }

    /// How a second `connection_init` ends the connection.
    pub fn too_many_inits(self) -> (CloseFrame, Vec<Message>) {
        let message = "Too many initialisation requests";
        match self.0 {
            WebSocketProtocols::GraphQLWS => {
                (reason(TOO_MANY_INITS.into(), message.into()), vec![])
            }
            WebSocketProtocols::SubscriptionsTransportWS => (
                reason(CloseCode::Policy, message.into()),
                vec![connection_error(message)],
            ),
        }
    }

    /// How a refused `connection_init` ends the connection.
    pub fn init_refused(self, message: String) -> (CloseFrame, Vec<Message>) {
        match self.0 {
            WebSocketProtocols::GraphQLWS => (
                reason(FORBIDDEN.into(), format!("Forbidden: {message}")),
                vec![],
            ),
            WebSocketProtocols::SubscriptionsTransportWS => {
                let frame = connection_error(&message);
                (reason(CloseCode::Policy, message), vec![frame])
            }
        }
    }
}

fn connection_error(message: &str) -> Message {
    text(
        serde_json::json!({ "type": "connection_error", "payload": { "message": message } })
            .to_string(),
    )
}

/// `{"type":"connection_ack"}`.
pub fn ack() -> Message {
    text(r#"{"type":"connection_ack"}"#.to_string())
}

/// `{"type":"pong"}`.
pub fn pong() -> Message {
    text(r#"{"type":"pong"}"#.to_string())
}

/// `complete` for subscription `id`.
pub fn complete(id: &str) -> Message {
    text(serde_json::json!({ "id": id, "type": "complete" }).to_string())
}

pub fn text(frame: String) -> Message {
    Message::text(frame)
}

pub fn reason(code: CloseCode, description: String) -> CloseFrame {
    CloseFrame {
        code,
        reason: description.into(),
    }
}

/// `{"id":<id>,"type":<kind>,"payload":`: what every frame of a subscription starts with.
pub fn prefix(id: &str, kind: &str) -> Vec<u8> {
    let mut prefix = Vec::with_capacity(id.len() + 40);
    prefix.extend_from_slice(b"{\"id\":");
    prefix.extend_from_slice(serde_json::Value::from(id).to_string().as_bytes());
    prefix.extend_from_slice(b",\"type\":\"");
    prefix.extend_from_slice(kind.as_bytes());
    prefix.extend_from_slice(b"\",\"payload\":");
    prefix
}

/// A subscription's frame: its prefix, the shared payload, `}`.
pub fn with_prefix(prefix: &[u8], payload: &[u8]) -> Message {
    let mut frame = Vec::with_capacity(prefix.len() + payload.len() + 1);
    frame.extend_from_slice(prefix);
    frame.extend_from_slice(payload);
    frame.push(b'}');
    match String::from_utf8(frame) {
        Ok(frame) => text(frame),
        // Both halves are JSON written by serde_json: always UTF-8.
        Err(e) => text(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// A response that is only `errors`, for a subscription's data frame.
pub fn error_response(e: &AppError) -> Response {
    let error = e.extend();
    Response::from_errors(vec![error.into_server_error(async_graphql::Pos::default())])
}
