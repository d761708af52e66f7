//! The protocol setup from a hostile peer, for both sides: byte 0 picks the side and the
//! offered letters; the rest is what the peer sends. Never a panic; a completed handshake
//! always names a supported protocol.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsync_proto::handshake::{ClientConfig, ClientInfo, Handshake, ServerConfig};

fuzz_target!(|input: &[u8]| {
    let Some((&sel, peer)) = input.split_first() else {
        return;
    };
    let hs = if sel & 1 == 0 {
        Handshake::client(ClientConfig::default())
    } else {
        let letters: &[u8] = if sel & 2 == 0 { b".LsfxCIvu" } else { b"" };
        Handshake::server(ServerConfig::new(ClientInfo::from_letters(letters), 0x1234))
    };
    let Ok(mut hs) = hs else { return };
    while hs.poll_transmit().is_some() {}
    for chunk in peer.chunks(usize::from(sel >> 2).max(1)) {
        match hs.handle_input(chunk) {
            Ok(Some(n)) => {
                assert!((27..=32).contains(&u32::from(n.protocol)));
                break;
            }
            Ok(None) => while hs.poll_transmit().is_some() {},
            Err(_) => break,
        }
    }
});
