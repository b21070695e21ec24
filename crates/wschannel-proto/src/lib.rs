//! Sans-IO RFC 6455 core (docs to come).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod connection;
pub mod error;
pub mod extension;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod message;
pub mod utf8;

pub use config::Config;
pub use connection::{CloseInfo, Connection, Event, Initiator, Role, State};
pub use error::{HandshakeError, ProtocolError, UsageError};
pub use extension::Extension;
pub use frame::OpCode;
pub use message::{CloseCode, CloseFrame, ControlPayload, Message, Utf8Bytes};

#[cfg(test)]
mod tests;
