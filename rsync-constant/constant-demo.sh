#!/usr/bin/env bash
# The README's main command for constant mode, on a local default: builds rsync-constant,
# makes a source tree and an empty mirror in a fresh temporary directory, starts
#
#   rsync-constant -a --constant -i --files-from=FIFO --from0 SRC/ MIRROR/
#
# in the background (it creates the FIFO, bootstraps the empty mirror with a full sync, then
# waits for names), and feeds it the way a watcher would: each change is made at the source,
# then its name is written to the FIFO, NUL-terminated. It shows a new file, an edit, a rename
# of a 32 MiB file (sent as block copies of the old name), a new directory, a delete, the
# daemon's --status, and checks that the mirror equals the source. Stops the daemon at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p rsync-constant --bins
bin=$PWD/target/release/rsync-constant
dir=$(mktemp -d "${TMPDIR:-/tmp}/rsync-constant-constant-demo.XXXXXX")
daemon=
cleanup() {
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
src=$dir/src mirror=$dir/mirror fifo=$dir/changes
mkdir -p "$src/docs" "$mirror"
for i in $(seq 1 200); do printf 'note %d\n' "$i" > "$src/docs/n$i.txt"; done
head -c $((32 << 20)) /dev/urandom > "$src/video.bin"

# Waits until the mirror's copy of $1 has the source's content (or is gone, with "gone").
wait_for() {
  for _ in $(seq 1 500); do
    if [ "${2:-}" = gone ]; then [ ! -e "$mirror/$1" ] && return 0
    elif cmp -s "$src/$1" "$mirror/$1"; then return 0; fi
    sleep 0.01
  done
  echo "timed out waiting for $1 on the mirror" >&2
  exit 1
}
# A change at the source, then its name on the FIFO (what inotify/FUSE glue would do).
feed() { printf '%s\0' "$@" > "$fifo"; }

echo "\$ rsync-constant -a --constant -i --files-from=$fifo --from0 $src/ $mirror/ &"
"$bin" -a --constant -i --files-from="$fifo" --from0 "$src/" "$mirror/" &
daemon=$!
for _ in $(seq 1 500); do [ -p "$fifo" ] && break; sleep 0.01; done
wait_for video.bin
echo "bootstrap done: $(find "$mirror" -type f | wc -l) files on the mirror"

echo "hello" > "$src/hello.txt"
t0=$(date +%s%N); feed hello.txt; wait_for hello.txt; t1=$(date +%s%N)
echo "new file visible on the mirror $(( (t1 - t0) / 1000 )) us after its name was written"
echo "edited" >> "$src/docs/n7.txt"; feed docs/n7.txt; wait_for docs/n7.txt
mv "$src/video.bin" "$src/video-renamed.bin"; feed video.bin video-renamed.bin
wait_for video-renamed.bin; wait_for video.bin gone
mkdir -p "$src/new/deep"; echo "deep" > "$src/new/deep/file"; feed new; wait_for new/deep/file
rm "$src/docs/n1.txt"; feed docs/n1.txt; wait_for docs/n1.txt gone
sleep 0.2
echo
echo "\$ rsync-constant --status --files-from=$fifo"
"$bin" --status --files-from="$fifo"
echo
diff -r "$src" "$mirror" && echo "mirror identical to the source"
if command -v rsync >/dev/null; then
  out=$(rsync -aicn --delete "$src/" "$mirror/")
  [ -z "$out" ] || { echo "stock rsync sees differences:"; echo "$out"; exit 1; }
  echo "stock rsync -aicn --delete: no difference (names, content, modes, mtimes)"
fi
