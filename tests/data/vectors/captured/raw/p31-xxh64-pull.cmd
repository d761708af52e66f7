rsync -I --no-whole-file --checksum-seed=-424242 --protocol=31 --checksum-choice=xxh64 -e tests/capture/fake-rsh --rsync-path=tests/capture/rsync-tee localhost:$W/src/file $W/dst/file
