//! A server-role `wschannel::Channel` over an in-memory duplex: arbitrary peer bytes interleaved
//! with arbitrary user operations; see `wschannel_fuzz::run_channel` for the layout and checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

use wschannel::Role;

fuzz_target!(|data: &[u8]| wschannel_fuzz::run_channel(Role::Server, data));
