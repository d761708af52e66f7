rsync -I --no-whole-file --checksum-seed=99 --protocol=31 --checksum-choice=xxh3 -e tests/capture/fake-rsh --rsync-path=tests/capture/rsync-tee localhost:$W/src/file $W/dst/file
