rsync -I --no-whole-file --checksum-seed=54321 --protocol=27 -e tests/capture/fake-rsh --rsync-path=tests/capture/rsync-tee $W/src/file localhost:$W/dst/file
