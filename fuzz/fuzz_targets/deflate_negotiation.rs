//! permessage-deflate negotiation on arbitrary `Sec-WebSocket-Extensions` values: see
//! `wschannel_fuzz::run_negotiation`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| wschannel_fuzz::run_negotiation(data));
