rsync -I --no-whole-file --checksum-seed=305419896 --protocol=29 -e tests/capture/fake-rsh --rsync-path=tests/capture/rsync-tee $W/src/file localhost:$W/dst/file
