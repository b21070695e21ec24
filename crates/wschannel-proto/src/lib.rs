//! Sans-IO RFC 6455 core (docs to come).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod message;

pub use config::Config;
pub use error::{HandshakeError, ProtocolError, UsageError};
pub use message::{CloseCode, CloseFrame, ControlPayload, Message, Utf8Bytes};
