//! A client-role `Connection` with permessage-deflate, fed arbitrary bytes in arbitrary chunks:
//! see `wschannel_fuzz::run_connection_deflate` for the input layout and the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

use wschannel_proto::Role;

fuzz_target!(|data: &[u8]| wschannel_fuzz::run_connection_deflate(Role::Client, data));
