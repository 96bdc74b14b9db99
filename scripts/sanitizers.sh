#!/usr/bin/env bash
# Runs the test suite under AddressSanitizer and ThreadSanitizer, each in its own scratch
# directory so that neither rebuilds the normal .build. Results of past runs: fuzz/results.md.
#
#   scripts/sanitizers.sh [address] [thread] [-- swift-test-arguments...]
#
# Default: both, one after the other. Each run's output is kept in .build-asan/sanitizer.log or
# .build-tsan/sanitizer.log. Exits non-zero if a run fails or a sanitizer reports anything.
# SANITIZER_EXTRA_OPTIONS (e.g. "log_path=/tmp/tsan") is compiled into the runtime defaults of
# every executable, spawned daemons included, whose environment the tests set themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

kinds=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do kinds+=("$1"); shift; done
[ $# -gt 0 ] && shift
[ ${#kinds[@]} -gt 0 ] || kinds=(address thread)

status=0
for kind in "${kinds[@]}"; do
  case $kind in
    address) scratch=.build-asan; prefix=asan; suppressions=scripts/sanitizers/LeakSuppressions.swift ;;
    thread) scratch=.build-tsan; prefix=tsan; suppressions=scripts/sanitizers/RaceSuppressions.swift ;;
    *) echo "usage: scripts/sanitizers.sh [address] [thread] [-- swift-test-arguments...]" >&2; exit 2 ;;
  esac
  mkdir -p "$scratch"
  # Suppressions and runtime defaults are linked into every executable rather than passed in
  # the environment, so that spawned daemons get them too. The symbolizer's path is among the
  # defaults: without it a daemon's report shows bare addresses and no suppression can match.
  symbolizer=$(command -v llvm-symbolizer || true)
  options="${symbolizer:+external_symbolizer_path=$symbolizer} ${SANITIZER_EXTRA_OPTIONS:-}"
  cat > "$scratch/SanitizerOptions.swift" <<EOF
// Written by scripts/sanitizers.sh.
@_cdecl("__${prefix}_default_options")
public func sanitizerDefaultOptions() -> UnsafePointer<CChar> {
    let text: StaticString = "$options"
    return UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self)
}
EOF
  # SwiftPM relinks only when its flags change, not when a linked object does: name the object
  # after its sources' contents.
  digest=$(cat "$suppressions" "$scratch/SanitizerOptions.swift" | sha256sum | cut -c1-16)
  defaults=$PWD/$scratch/sanitizer-defaults-$digest.o
  if [ ! -f "$defaults" ]; then
    swiftc -parse-as-library -wmo -module-name SanitizerDefaults -c \
      "$suppressions" "$scratch/SanitizerOptions.swift" -o "$defaults"
  fi

  log=$scratch/sanitizer.log
  # Both sanitizers slow everything several times: run in parallel on two cores, the
  # synchronous tests (blocked on daemons, sockets and child programs) held both threads of the
  # concurrency pool long enough for async worker tests to reach their 120 s bound (ThreadSanitizer
  # from the start, AddressSanitizer once the suite passed 630 tests). One test at a time instead.
  serial=(--no-parallel)
  command=(swift test --sanitize="$kind" --scratch-path "$scratch"
           -Xlinker "$defaults" "${serial[@]}" "$@")
  echo "== ${command[*]}" >&2
  set +e
  "${command[@]}" 2>&1 | tee "$log"
  result=${PIPESTATUS[0]}
  set -e
  # A report from a spawned xero-webhookd (built with the same sanitizer) lands, indented, in
  # that test's output if the test prints it, so the log is searched as well.
  reports=$(grep -c -E '^[[:space:]]*(==[0-9]+==ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer)' "$log" || true)
  echo "== $kind: swift test exited $result; $reports sanitizer reports in $log" >&2
  if [ "$result" -ne 0 ] || [ "$reports" -ne 0 ]; then status=1; fi
done
exit $status
