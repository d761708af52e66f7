rsync --no-inc-recursive --checksum-seed=16909060 -a --exclude=*.tmp --include=d/ --filter=- /l --protocol=28 -e tests/capture/fake-rsh --rsync-path=tests/capture/rsync-tee localhost:$W/src/ $W/dst/
