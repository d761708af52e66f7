//! Writes the benchmark file pair: `mkpair OLD NEW MIB` makes OLD of MIB mebibytes of
//! pseudo-random bytes and NEW from it with 1% scattered 4 KiB edits and 1,000 bytes inserted
//! at offset 10,000. Written in 8 MiB pieces so memory stays small.

use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, old, new, mib] = &args[..] else {
        return Err("usage: mkpair OLD NEW MIB".into());
    };
    let total: usize = mib.parse::<usize>()? << 20;
    let piece = 8 << 20;
    let mut o = std::io::BufWriter::new(std::fs::File::create(old)?);
    let mut n = std::io::BufWriter::new(std::fs::File::create(new)?);
    let mut done = 0;
    let mut k = 0u64;
    while done < total {
        let len = piece.min(total - done);
        let basis = rsync_benches::pseudo_random(len, 0x0bad_5eed ^ k);
        let edited = rsync_benches::scattered_edits(&basis, 0xed17 ^ k);
        o.write_all(&basis)?;
        if done == 0 {
            n.write_all(&rsync_benches::insertion(&edited, 0x1a5e))?;
        } else {
            n.write_all(&edited)?;
        }
        done += len;
        k += 1;
    }
    o.flush()?;
    n.flush()?;
    Ok(())
}
