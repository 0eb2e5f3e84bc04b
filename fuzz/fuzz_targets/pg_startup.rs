//! The untagged first packet of a PostgreSQL connection: any bytes a client opens with are
//! either a start-up request or a protocol error, never a panic or an allocation past the
//! packet limit, and a StartupMessage jitgate accepted encodes back to the same parameters.

#![no_main]

use jitgate_pg::codec::startup::{encode_startup, parse_startup, read_startup, StartupRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The body after the length word, as the reader hands it over.
    if let Ok(StartupRequest::Startup(params)) = parse_startup(data) {
        let pairs: Vec<(&str, &str)> = params
            .params
            .iter()
            .filter(|(_, v)| !v.contains('\0'))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if pairs.len() == params.params.len() && params.minor_version == 0 {
            let packet = encode_startup(&pairs);
            match parse_startup(&packet[4..]) {
                Ok(StartupRequest::Startup(again)) => assert_eq!(again, params),
                other => panic!("an encoded StartupMessage reads back as {other:?}"),
            }
        }
    }

    // The whole packet, length word included, from a connection.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut reader = data;
    let _ = runtime.block_on(read_startup(&mut reader));
});
