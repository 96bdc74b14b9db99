#!/usr/bin/env bash
# Builds a libFuzzer target into .build/fuzz/ and runs it for SECONDS (see fuzz/README.md).
#
#   fuzz/run.sh TARGET SECONDS [libFuzzer options...]
#     TARGET   request-parser | payload
#     SECONDS  -max_total_time; 0 only builds and seeds the corpus
#
# The corpus lives in .build/fuzz/corpus-TARGET and grows across runs; crashers go to
# fuzz/crashes/TARGET-*. The log of the run is kept in .build/fuzz/TARGET.log.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: fuzz/run.sh request-parser|payload SECONDS [libFuzzer options...]" >&2; exit 2; }
[ $# -ge 2 ] || usage
target=$1
seconds=$2
shift 2
[[ $seconds =~ ^[0-9]+$ ]] || usage

out=.build/fuzz
corpus=$out/corpus-$target
mkdir -p "$out" "$corpus" fuzz/crashes

# Copies a seed into the corpus unless it is there already (`cp -n` fails on skips in some
# coreutils versions).
seed() { if [ ! -e "$2" ]; then cp "$1" "$2"; fi; }

# Let a trap go straight to ASan and libFuzzer: the Swift runtime's own crash reporter, run
# inside a fuzzer's signal handling, can hang and leaves a spurious ASan stack report.
export SWIFT_BACKTRACE=enable=no

# -O keeps Swift's bounds and overflow checks (only -Ounchecked drops them), so a trap in the
# parser is still a crash the fuzzer reports.
compile=(swiftc -sanitize=fuzzer,address -parse-as-library -swift-version 6 -package-name xero_webhookd -O -g)
link=(-use-ld=lld)

case $target in
  request-parser)
    # The parser and the value types it produces; not the socket server.
    sources=(
      fuzz/request-parser/*.swift
      Sources/HTTPServer/RequestParser*.swift
      Sources/HTTPServer/HTTPSyntax.swift Sources/HTTPServer/HTTPLimits.swift
      Sources/HTTPServer/HTTPParseError.swift Sources/HTTPServer/HTTPRequest.swift
      Sources/HTTPServer/HTTPHeaders.swift Sources/HTTPServer/HTTPVersion.swift
    )
    "${compile[@]}" "${link[@]}" -module-name RequestParserFuzz "${sources[@]}" -o "$out/$target"
    dict=fuzz/request-parser/http.dict
    # The fixture corpus of raw requests (its *.http files), when the checkout has it.
    if [ -d Tests/Fixtures/http-corpus ]; then
      for file in Tests/Fixtures/http-corpus/*.http; do
        if [ -f "$file" ]; then seed "$file" "$corpus/fixture-${file##*/}"; fi
      done
    fi
    ;;
  payload)
    # WebhookPayload.swift does `import ByteJSON`, so ByteJSON is built as its own module.
    modules=$out/payload-modules
    mkdir -p "$modules"
    "${compile[@]}" -module-name ByteJSON -wmo -emit-module -emit-module-path "$modules/ByteJSON.swiftmodule" \
      -c Sources/ByteJSON/*.swift -o "$modules/ByteJSON.o"
    "${compile[@]}" "${link[@]}" -module-name PayloadFuzz -I "$modules" \
      fuzz/payload/*.swift Sources/XeroWebhooks/WebhookPayload.swift Sources/EventRecord/QueuedEvent.swift \
      "$modules/ByteJSON.o" -o "$out/$target"
    dict=fuzz/payload/json.dict
    # The bodies of the signature vectors (a real Xero request among them).
    for vectors in ../shared/testdata/signature-vectors.json Tests/Fixtures/signature-vectors.json; do
      [ -f "$vectors" ] || continue
      python3 - "$vectors" "$corpus" <<'EOF'
import hashlib, json, os, sys
for vector in json.load(open(sys.argv[1]))["vectors"]:
    body = vector["body"].encode()
    name = "vector-" + hashlib.sha1(body).hexdigest()[:12]
    with open(os.path.join(sys.argv[2], name), "wb") as f:
        f.write(body)
EOF
      break
    done
    ;;
  *)
    usage
    ;;
esac

for file in fuzz/"$target"/seeds/*; do seed "$file" "$corpus/${file##*/}"; done
echo "built $out/$target; corpus $corpus has $(find "$corpus" -type f | wc -l) inputs" >&2
[ "$seconds" -gt 0 ] || exit 0

"$out/$target" "$corpus" \
  -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -dict="$dict" -use_value_profile=1 -print_final_stats=1 \
  -artifact_prefix="fuzz/crashes/$target-" "$@" 2>&1 | tee "$out/$target.log"
