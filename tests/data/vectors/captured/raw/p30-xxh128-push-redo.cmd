rsync -I --no-whole-file --checksum-seed=-2024 --protocol=30 --checksum-choice=xxh128 -e tests/capture/fake-rsh --rsync-path=tests/capture/rsync-tee $W/src/file localhost:$W/dst/file
