#!/usr/bin/env bash
# The rsync-delta part of the demo (run by demo.sh): builds rsync-delta, makes a file pair in a fresh temporary
# directory (64 MiB of pseudo-random bytes, and a copy with 1% scattered 4 KiB edits and
# 1,000 bytes inserted at offset 10,000), then runs signature -> delta -> patch and checks
# that the patched file equals the new one. With rdiff installed it also cross-checks:
# byte-identical signatures, and each tool patches the other's delta.
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${MIB:-64}
cargo build --release -q -p rsync-constant -p rsync-benches --bins
bin=target/release
dir=$(mktemp -d "${TMPDIR:-/tmp}/rsync-delta-demo.XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$bin/mkpair" "$dir/old" "$dir/new" "$MIB"
echo "old: $(stat -c %s "$dir/old") bytes, new: $(stat -c %s "$dir/new") bytes (in $dir)"
t0=$(date +%s.%N)
"$bin/rsync-delta" signature "$dir/old" "$dir/old.sig"
t1=$(date +%s.%N)
"$bin/rsync-delta" delta "$dir/old.sig" "$dir/new" "$dir/new.delta"
t2=$(date +%s.%N)
"$bin/rsync-delta" patch "$dir/old" "$dir/new.delta" "$dir/new.patched"
t3=$(date +%s.%N)
cmp "$dir/new" "$dir/new.patched"
printf 'signature %8d bytes  %.3f s\n' "$(stat -c %s "$dir/old.sig")" "$(awk "BEGIN{print $t1 - $t0}")"
printf 'delta     %8d bytes  %.3f s\n' "$(stat -c %s "$dir/new.delta")" "$(awk "BEGIN{print $t2 - $t1}")"
printf 'patch     %8s        %.3f s  -> identical to new\n' "" "$(awk "BEGIN{print $t3 - $t2}")"
if command -v rdiff >/dev/null; then
  rdiff signature "$dir/old" "$dir/old.rdiff.sig"
  cmp "$dir/old.sig" "$dir/old.rdiff.sig"
  rdiff patch "$dir/old" "$dir/new.delta" "$dir/new.by-rdiff"
  cmp "$dir/new" "$dir/new.by-rdiff"
  rdiff delta "$dir/old.sig" "$dir/new" "$dir/new.rdiff.delta"
  "$bin/rsync-delta" patch "$dir/old" "$dir/new.rdiff.delta" "$dir/new.by-us"
  cmp "$dir/new" "$dir/new.by-us"
  echo "rdiff: same signature; rdiff patches our delta and we patch rdiff's"
else
  echo "(rdiff not installed: skipped the cross-check)"
fi
