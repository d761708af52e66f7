#!/usr/bin/env bash
# The README's main command: builds rsync-constant, generates a tree in a fresh temporary
# directory (nested directories, 2,000 small files, empty files, symlinks, modes,
# nanosecond mtimes, a name with non-UTF-8 bytes and a 16 MiB file), copies it with
# `rsync-constant -a` (a real local transfer: our client and our own --server over a socket
# pair) and verifies the copy; then edits the big file and shows the delta transfer with
# --stats. With stock rsync installed, `rsync -aicn` confirms that nothing differs, names
# and metadata included. Finally it runs the rsync-delta demo (delta-demo.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p rsync-constant --bins
bin=$PWD/target/release/rsync-constant
dir=$(mktemp -d "${TMPDIR:-/tmp}/rsync-constant-demo.XXXXXX")
trap 'rm -rf "$dir"' EXIT
src=$dir/src
mkdir -p "$src"
for d in $(seq 0 19); do
  mkdir -p "$src/dir$d/sub"
  for f in $(seq 0 99); do
    printf 'file %d in dir %d\n' "$f" "$d" > "$src/dir$d/sub/f$f.txt"
  done
  : > "$src/dir$d/empty"
  ln -s "sub/f0.txt" "$src/dir$d/link"
  touch -d "2020-01-0$((d % 9 + 1)) 12:34:56.123456789" "$src/dir$d/sub/f1.txt"
done
chmod 600 "$src/dir0/sub/f0.txt"; chmod 755 "$src/dir1/sub/f0.txt"
printf 'latin-1 name\n' > "$src/$(printf 'caf\351.txt')"
head -c $((16 << 20)) /dev/urandom > "$src/big.bin"
echo "tree: $(find "$src" | wc -l) entries in $src"
t0=$(date +%s.%N)
"$bin" -a "$src/" "$dir/dst/"
t1=$(date +%s.%N)
diff -r "$src" "$dir/dst"
[ "$(stat -c %y "$src/dir3/sub/f1.txt")" = "$(stat -c %y "$dir/dst/dir3/sub/f1.txt")" ]
[ "$(stat -c %a "$dir/dst/dir0/sub/f0.txt")" = 600 ]
printf 'copy: identical content, modes and ns mtimes (%.2f s)\n' "$(awk "BEGIN{print $t1 - $t0}")"
if command -v rsync >/dev/null; then
  out=$(rsync -aicn "$src/" "$dir/dst/")
  [ -z "$out" ] || { echo "stock rsync sees differences:"; echo "$out"; exit 1; }
  echo "stock rsync -aicn: no difference"
fi
printf 'EDITED' | dd of="$src/big.bin" bs=1 seek=5000000 conv=notrunc status=none
touch "$src/big.bin"
echo "second run after a 6-byte edit of big.bin (delta forced with --no-W):"
"$bin" -a --no-W --stats "$src/" "$dir/dst/" | grep -E 'transferred:|Literal|Matched'
cmp "$src/big.bin" "$dir/dst/big.bin"
echo "big.bin identical after the delta"
echo
bash rsync-constant/delta-demo.sh
