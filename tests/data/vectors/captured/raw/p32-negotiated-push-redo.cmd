rsync -I --no-whole-file --checksum-seed=7 -e tests/capture/fake-rsh --rsync-path=tests/capture/rsync-tee $W/src/file localhost:$W/dst/file
