rsync --no-inc-recursive --checksum-seed=16909060 -a --delete -i --protocol=31 -e tests/capture/fake-rsh --rsync-path=tests/capture/rsync-tee $W/src/ localhost:$W/dst/
