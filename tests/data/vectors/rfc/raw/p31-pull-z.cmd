rsync --no-inc-recursive --checksum-seed=16909060 -a -z --protocol=31 -e tests/capture/fake-rsh --rsync-path=tests/capture/rsync-tee localhost:$W/src/ $W/dst/
