//! Multiplexed frames from a hostile peer, split at arbitrary points: the decoder never
//! panics, never buffers beyond its limits, and gives the same frames whatever the split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsync_proto::mux::{MuxDecoder, MuxLimits};

fn frames(data: &[u8], step: usize) -> (Vec<String>, bool) {
    let mut d = MuxDecoder::with_limits(MuxLimits::default());
    let mut out = Vec::new();
    for chunk in data.chunks(step.max(1)) {
        d.push(chunk);
        loop {
            match d.poll_frame() {
                Ok(Some(f)) => out.push(format!("{f:?}")),
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

fuzz_target!(|input: &[u8]| {
    let Some((&step, data)) = input.split_first() else {
        return;
    };
    let (whole, whole_err) = frames(data, data.len());
    let (split, split_err) = frames(data, usize::from(step % 17) + 1);
    assert_eq!(whole, split);
    assert_eq!(whole_err, split_err);
});
