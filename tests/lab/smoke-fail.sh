# SPDX-License-Identifier: GPL-2.0
# Lab guest scenario that always fails (either `lab.sh run` or `run-native`):
# makes scripts/lab.sh exit non-zero (its status: 3).
log "smoke-fail: failing on purpose"
echo "FAIL: deliberate failure"
exit 3
