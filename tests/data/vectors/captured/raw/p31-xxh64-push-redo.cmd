rsync -I --no-whole-file --checksum-seed=-5 --protocol=31 --checksum-choice=xxh64 -e tests/capture/fake-rsh --rsync-path=tests/capture/rsync-tee $W/src/file localhost:$W/dst/file
