-- wrk script: DescribeThing of one existing thing (`lamp-1`), signed-looking for service `iot`.
wrk.method = "GET"
wrk.path = "/things/lamp-1"
wrk.headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/iot/aws4_request, SignedHeaders=host, Signature=0"
