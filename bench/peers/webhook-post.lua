-- wrk script for the adnanh/webhook peer: POSTs the same signed Xero delivery (one CONTACT event, 399 bytes) over keep-alive
-- connections. The signature is precomputed (key "ExampleSigningKey"), so wrk does no crypto.
wrk.method = "POST"
wrk.path = "/hooks/xero"
wrk.headers["Content-Type"] = "application/json; charset=utf-8"
-- adnanh/webhook checks payload-hmac-sha256 as hex, so this peer gets the same MAC hex-encoded.
wrk.headers["x-xero-signature"] = "sha256=af1ba4485ef693de15b65bb810de89ec08d1390f1f41fe0496e3c5c742200895"
wrk.body = '{"events":[{"resourceUrl":"https://api.xero.com/api.xro/2.0/Contacts/717f2bfc-c6d4-41fd-b238-3f2f0c0cf777","resourceId":"717f2bfc-c6d4-41fd-b238-3f2f0c0cf777","eventDateUtc":"2024-06-21T01:15:39.902","eventType":"UPDATE","eventCategory":"CONTACT","tenantId":"c2cc9b6e-9458-4c7d-93cc-f02b81b0594f","tenantType":"ORGANISATION"}],"lastEventSequence":1,"firstEventSequence":1,"entropy":"S0m3r4Nd0mt3xt"}'

local non200 = 0
response = function(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end

done = function(summary, latency, requests)
  io.write(string.format("requests %d\n", summary.requests))
  io.write(string.format("rps %.0f\n", summary.requests / (summary.duration / 1e6)))
  io.write(string.format("p50_ms %.3f\n", latency:percentile(50) / 1000))
  io.write(string.format("p99_ms %.3f\n", latency:percentile(99) / 1000))
  io.write(string.format("errors %d\n", summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout))
end
