//! `rsync-delta`: an `rdiff`-compatible signature / delta / patch tool on
//! `rsync_core::librsync`.
//!
//! ```text
//! rsync-delta signature [-b BLOCK] [-S SUMLEN] [-H md4|blake2] [-R rollsum|rabinkarp] [OLD [SIG]]
//! rsync-delta delta SIG [NEW [DELTA]]
//! rsync-delta patch OLD [DELTA [NEW]]
//! ```
//!
//! `-` or an omitted trailing argument means stdin/stdout. Defaults equal rdiff 2.3.2's.

mod io;

use std::io::{Read as _, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand, ValueEnum};
use rsync_core::librsync::{
    DeltaWriter, PatchOp, Patcher, SignatureKind, SignatureParams, SignatureReader,
    SignatureWriter, StrongKind, WeakKind,
};
use rsync_core::Limits;

use crate::io::{fill, is_stdio, show, Input, Output, ReadAhead, BUF_LEN};

/// Strong hash of a signature (`-H`).
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Hash {
    /// BLAKE2b-256 (rdiff's default).
    Blake2,
    /// MD4 (librsync 1.x compatible with `-R rollsum`).
    Md4,
}

/// Rolling checksum of a signature (`-R`).
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Roll {
    /// RabinKarp (rdiff's default).
    Rabinkarp,
    /// rsync-style rollsum.
    Rollsum,
}

#[derive(Debug, Parser)]
#[command(
    name = "rsync-delta",
    version,
    about = "Compute signatures and deltas and apply patches in librsync's (rdiff's) format"
)]
struct Cli {
    /// Overwrite existing output files.
    #[arg(short, long, global = true)]
    force: bool,
    /// Signature block size in bytes; 0 = recommended for OLD's size (2048 for a pipe).
    #[arg(short = 'b', long = "block-size", global = true, default_value_t = 0)]
    block_size: u32,
    /// Strong sum bytes per block: 0 = the hash's full length, -1 = the minimum for OLD's size.
    #[arg(
        short = 'S',
        long = "sum-size",
        global = true,
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    sum_size: i64,
    /// Strong hash of new signatures.
    #[arg(short = 'H', long = "hash", global = true, value_enum, default_value_t = Hash::Blake2)]
    hash: Hash,
    /// Rolling checksum of new signatures.
    #[arg(short = 'R', long = "rollsum", global = true, value_enum, default_value_t = Roll::Rabinkarp)]
    rollsum: Roll,
    /// Refuse to patch if the output would exceed this many bytes.
    #[arg(long = "max-output", global = true, value_name = "BYTES", default_value_t = Limits::default().max_output)]
    max_output: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the signature of OLD to SIG.
    Signature {
        /// The old file (basis); `-` or omitted for stdin.
        old: Option<PathBuf>,
        /// The signature to write; `-` or omitted for stdout.
        sig: Option<PathBuf>,
    },
    /// Write the delta from SIG's file to NEW.
    Delta {
        /// The signature of the old file.
        sig: PathBuf,
        /// The new file; `-` or omitted for stdin.
        new: Option<PathBuf>,
        /// The delta to write; `-` or omitted for stdout.
        delta: Option<PathBuf>,
    },
    /// Rebuild NEW from OLD and DELTA.
    Patch {
        /// The old file (read at random offsets).
        old: PathBuf,
        /// The delta; `-` or omitted for stdin.
        delta: Option<PathBuf>,
        /// The new file to write; `-` or omitted for stdout.
        new: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rsync-delta: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<()> {
    let limits = Limits {
        max_output: cli.max_output,
        ..Limits::default()
    };
    match &cli.command {
        Command::Signature { old, sig } => signature(cli, old.as_deref(), sig.as_deref()),
        Command::Delta { sig, new, delta } => {
            if is_stdio(Some(sig)) && is_stdio(new.as_deref()) {
                bail!("SIG and NEW cannot both be standard input");
            }
            delta_cmd(cli, sig, new.as_deref(), delta.as_deref(), &limits)
        }
        Command::Patch { old, delta, new } => {
            if is_stdio(Some(old)) && is_stdio(delta.as_deref()) {
                bail!("OLD and DELTA cannot both be standard input");
            }
            patch(cli, old, delta.as_deref(), new.as_deref(), &limits)
        }
    }
}

fn signature(cli: &Cli, old: Option<&Path>, sig: Option<&Path>) -> Result<()> {
    let input = Input::open(old)?;
    let strong = match cli.hash {
        Hash::Blake2 => StrongKind::Blake2,
        Hash::Md4 => StrongKind::Md4,
    };
    let weak = match cli.rollsum {
        Roll::Rabinkarp => WeakKind::RabinKarp,
        Roll::Rollsum => WeakKind::Rollsum,
    };
    let kind = SignatureKind::new(strong, weak);
    let params = SignatureParams::choose(kind, input.size, cli.block_size, cli.sum_size)?;
    let min = SignatureParams::min_strong_len(input.size, params.block_len);
    if input.size.is_some() && params.strong_len < min {
        eprintln!(
            "rsync-delta: warning: strong sum length {} is below the recommended minimum {min} for this file",
            params.strong_len
        );
    }
    let mut out = Output::create(sig, cli.force)?;
    let mut w = SignatureWriter::new(params);
    let mut sums = Vec::with_capacity(BUF_LEN);
    let mut chunks = ReadAhead::new(input.file, w.chunk_len_hint(BUF_LEN));
    while let Some(buf) = chunks
        .next_chunk()
        .with_context(|| format!("cannot read {}", show(old)))?
    {
        sums.clear();
        w.push(&buf, &mut sums);
        chunks.recycle(buf);
        out.write_all(&sums)
            .with_context(|| format!("cannot write {}", show(sig)))?;
    }
    sums.clear();
    w.finish(&mut sums);
    out.write_all(&sums)
        .with_context(|| format!("cannot write {}", show(sig)))?;
    out.commit()
}

fn delta_cmd(
    cli: &Cli,
    sig: &Path,
    new: Option<&Path>,
    delta: Option<&Path>,
    limits: &Limits,
) -> Result<()> {
    let mut sig_in = Input::open(Some(sig))?;
    let new_in = Input::open(new)?;
    let mut out = Output::create(delta, cli.force)?;
    let mut buf = vec![0u8; BUF_LEN];
    let mut reader = SignatureReader::new(*limits);
    let what = || format!("signature {}", show(Some(sig)));
    loop {
        let n =
            fill(&mut sig_in.file, &mut buf).with_context(|| format!("cannot read {}", what()))?;
        if n == 0 {
            break;
        }
        reader
            .push(buf.get(..n).unwrap_or_default())
            .with_context(what)?;
    }
    let signature = reader.finish().with_context(what)?;
    let mut w = DeltaWriter::new(signature, limits);
    let mut enc = Vec::with_capacity(BUF_LEN + BUF_LEN / 8);
    let mut chunks = ReadAhead::new(new_in.file, BUF_LEN);
    while let Some(buf) = chunks
        .next_chunk()
        .with_context(|| format!("cannot read {}", show(new)))?
    {
        enc.clear();
        w.push(&buf, &mut enc);
        chunks.recycle(buf);
        out.write_all(&enc)
            .with_context(|| format!("cannot write {}", show(delta)))?;
    }
    enc.clear();
    w.finish(&mut enc);
    out.write_all(&enc)
        .with_context(|| format!("cannot write {}", show(delta)))?;
    out.commit()
}

fn patch(
    cli: &Cli,
    old: &Path,
    delta: Option<&Path>,
    new: Option<&Path>,
    limits: &Limits,
) -> Result<()> {
    let basis = Input::open(Some(old))?;
    let mut delta_in = Input::open(delta)?;
    let mut out = Output::create(new, cli.force)?;
    let mut patcher = match basis.size {
        Some(len) => Patcher::with_basis_len(*limits, len),
        None => Patcher::new(*limits),
    };
    let mut buf = vec![0u8; BUF_LEN];
    let mut copy_buf = vec![0u8; BUF_LEN];
    let what = || format!("delta {}", show(delta));
    loop {
        let n = match delta_in.file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", what())),
        };
        if n == 0 {
            break;
        }
        patcher
            .push(buf.get(..n).unwrap_or_default(), &mut |op| -> Result<()> {
                match op {
                    PatchOp::Literal(b) => out.write_all(b)?,
                    PatchOp::Copy { offset, len } => {
                        copy_from_basis(&basis.file, offset, len, &mut copy_buf, &mut out)
                            .with_context(|| format!("cannot copy from {}", show(Some(old))))?
                    }
                }
                Ok(())
            })
            .with_context(what)?;
    }
    patcher.finish().with_context(what)?;
    out.commit()
}

/// Copies `len` bytes at `offset` of the basis to `out`, one buffer at a time.
fn copy_from_basis(
    basis: &std::fs::File,
    mut offset: u64,
    mut len: u64,
    buf: &mut [u8],
    out: &mut Output,
) -> Result<()> {
    while len > 0 {
        let want = usize::try_from(len).unwrap_or(usize::MAX).min(buf.len());
        let chunk = buf.get_mut(..want).unwrap_or_default();
        let n = match basis.read_at(chunk, offset) {
            Ok(0) => bail!("the basis ends before offset {}", offset + len),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        out.write_all(chunk.get(..n).unwrap_or_default())?;
        offset += n as u64;
        len -= n as u64;
    }
    Ok(())
}
