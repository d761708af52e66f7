rsync --no-inc-recursive --checksum-seed=16909060 -a --protocol=27 -e tests/capture/fake-rsh --rsync-path=tests/capture/rsync-tee localhost:$W/src/ $W/dst/
