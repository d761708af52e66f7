rsync -I --no-whole-file --checksum-seed=-777 --protocol=30 --checksum-choice=md5 -e tests/capture/fake-rsh --rsync-path=tests/capture/rsync-tee $W/src/file localhost:$W/dst/file   # CAPTURE_STRIP=C
