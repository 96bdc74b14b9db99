#!/usr/bin/env bash
# The multi-node proof (Tests/PostgresSinkTests/ClusterProofTests.swift) run ROUNDS times on a
# release build: three daemons in cluster mode behind nginx, 1,000 events for 20 tenants through
# nginx, one daemon killed with SIGKILL and restarted midway. Each round appends one line of
# figures (acknowledgements per second through nginx, calls to Xero per event) to the report.
# Needs postgresql and nginx (as .ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
report=${1:-bench/results/cluster-proof.txt}
case $report in /*) ;; *) report="$PWD/$report" ;; esac
rounds=${ROUNDS:-3}
mkdir -p "$(dirname "$report")"
# The test targets import some modules @testable: a release build of them needs -enable-testing.
swift build -c release --build-tests -Xswiftc -enable-testing
for _ in $(seq "$rounds"); do
  CLUSTER_PROOF_REPORT="$report" swift test -c release -Xswiftc -enable-testing --skip-build --filter ClusterProofTests
done
tail -n "$rounds" "$report"
