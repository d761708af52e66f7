rsync -I --no-whole-file --checksum-seed=1 --protocol=31 --checksum-choice=xxh128 -e tests/capture/fake-rsh --rsync-path=tests/capture/rsync-tee localhost:$W/src/file $W/dst/file
