rsync -I --no-whole-file --checksum-seed=-4 --protocol=31 --checksum-choice=md4 -e tests/capture/fake-rsh --rsync-path=tests/capture/rsync-tee $W/src/file localhost:$W/dst/file
