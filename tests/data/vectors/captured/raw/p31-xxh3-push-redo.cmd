rsync -I --no-whole-file --checksum-seed=-6 --protocol=31 --checksum-choice=xxh3 -e tests/capture/fake-rsh --rsync-path=tests/capture/rsync-tee $W/src/file localhost:$W/dst/file
