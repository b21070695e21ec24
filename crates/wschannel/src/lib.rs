//! WebSocket channels for tokio (placeholder docs, see below).
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod channel;
mod driver;
pub mod error;
pub mod tls;

pub use channel::{pair, Channel, Receiver, Sender};
pub use error::{Error, HttpRejection, Stage};
pub use wschannel_proto::{
    CloseCode, CloseFrame, Config, ControlPayload, Initiator, Message, OpCode, Role, Utf8Bytes,
};
