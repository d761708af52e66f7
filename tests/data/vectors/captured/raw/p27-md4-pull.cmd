rsync -I --no-whole-file --checksum-seed=12345 --protocol=27 -e tests/capture/fake-rsh --rsync-path=tests/capture/rsync-tee localhost:$W/src/file $W/dst/file
