-- wrk script: CreateThing with a fresh thing name per request, signed-looking for service `iot`
-- (signatures are parsed, not verified, by Thingbox and moto alike).
local n = 0
function setup(thread)
  n = n + 1
  thread:set("tid", n)
end
local counter = 0
local prefix = os.getenv("BENCH_PREFIX") or "bench"
local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/iot/aws4_request, SignedHeaders=host, Signature=0",
}
function request()
  counter = counter + 1
  return wrk.format("POST", "/things/" .. prefix .. "-" .. tid .. "-" .. counter, headers, '{"attributePayload":{"attributes":{"kind":"bench"}}}')
end
