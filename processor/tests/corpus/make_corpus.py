#!/usr/bin/env python3
"""Writes the malformed-input corpus (NAME.json + NAME.expect). Re-run after editing a case;
the files, not this script, are what the tests read."""
import json, os, collections
HERE = os.path.dirname(os.path.abspath(__file__))
D = HERE
os.makedirs(D, exist_ok=True)
CPU = open(os.path.join(HERE, "../../../shared/tests/documents/") + "mission-cpu.json","rb").read().strip()
MEM = open(os.path.join(HERE, "../../../shared/tests/documents/") + "mission-memory.json","rb").read().strip()
def cpu(norm=0.1889, drop=(), host=None, ts=None):
    d = json.loads(CPU, object_pairs_hook=collections.OrderedDict)
    d["system"]["cpu"]["total"]["norm"]["pct"] = norm
    d["host"]["cpu"]["usage"] = norm
    for path in drop:
        o = d
        for k in path[:-1]: o = o[k]
        del o[path[-1]]
    if host is not None: d["host"] = host
    if ts is not None: d["@timestamp"] = ts
    return json.dumps(d, separators=(",",":"), ensure_ascii=False).encode()
cases = []
def case(name, value, outputs, why, reason=None, alert=None):
    cases.append(name)
    ext = "json"
    open(f"{D}/{name}.{ext}", "wb").write(value if isinstance(value, bytes) else value.encode())
    lines = [f"# {why}", f"outputs = {json.dumps(outputs)}"]
    if reason: lines.append(f"reason = {json.dumps(reason)}")
    if "alert" in outputs and alert is None:
        d = json.loads(value, object_pairs_hook=collections.OrderedDict)
        h = d["host"]; h["timestamp"] = d["@timestamp"]
        alert = json.dumps(h, separators=(",",":"), ensure_ascii=False)
    if alert: lines.append(f"alert = '{alert}'")
    open(f"{D}/{name}.expect", "w").write("\n".join(lines) + "\n")
HOT = cpu(0.8586)
HOT_ALERT = '{"cpu":{"usage":0.8586},"name":"Aaronui-MacBookPro.local","timestamp":"2025-01-31T07:55:26.555Z"}'
# --- routed as usual
case("ok-cpu-cold", CPU, ["cpu"], "the mission's cpu event, 0.1889: routed, no alert")
case("ok-cpu-hot", HOT, ["cpu","alert"], "a cpu event at 0.8586: routed and alerted", alert=HOT_ALERT)
case("ok-memory", MEM, ["memory"], "the mission's memory event")
case("ok-cpu-exactly-threshold", cpu(0.5), ["cpu"], "0.5 is not strictly greater than 0.5: no alert")
case("ok-cpu-just-above-threshold", cpu(0.5001), ["cpu","alert"], "0.5001 > 0.5: alert")
case("ok-cpu-norm-one", cpu(1), ["cpu","alert"], "an integer 1 is a number too")
case("ok-cpu-negative", cpu(-0.25), ["cpu"], "out-of-range but finite numbers are routed; no alert")
case("ok-cpu-exponent", cpu(0.1).replace(b'"norm":{"pct":0.1}', b'"norm":{"pct":7.5E-1}'), ["cpu","alert"], "an exponent is a JSON number: 0.75")
case("ok-cpu-underflow", cpu(0.1).replace(b'"norm":{"pct":0.1}', b'"norm":{"pct":1e-400}'), ["cpu"], "a number that underflows to 0 is still a number")
pretty = json.dumps(json.loads(HOT, object_pairs_hook=collections.OrderedDict), indent=2).encode()
case("ok-pretty-printed-hot-cpu", pretty, ["cpu","alert"], "a pretty-printed document: routed unchanged, the alert is compact", alert=HOT_ALERT)
case("ok-crlf-and-surrounding-whitespace", b"\r\n\t " + MEM.replace(b",", b",\r\n") + b"\r\n\r\n", ["memory"], "whitespace around and inside (CRLF, tabs) is JSON whitespace")
case("ok-escaped-keys-and-name", b'{"metric\\u0073et":{"name":"c\\u0070u"},"system":{"cpu":{"total":{"norm":{"pct":0.2}}}}}', ["cpu"], "escapes in keys and in the metricset name are decoded before matching")
case("ok-metricset-first-few-fields", b'{"metricset":{"name":"memory"}}', ["memory"], "a memory event needs nothing but metricset.name")
case("ok-cold-cpu-without-host-or-timestamp", b'{"metricset":{"name":"cpu"},"system":{"cpu":{"total":{"norm":{"pct":0.3}}}}}', ["cpu"], "host and @timestamp are only needed for an alert")
case("ok-unknown-extra-fields", MEM[:-1] + b',"labels":{"env":"prod","rack":[1,2,{"a":null}]},"x":true}', ["memory"], "unknown members are passed through untouched")
case("ok-duplicate-key-not-read", MEM.replace(b'"agent":{', b'"agent":{"name":"first",'), ["memory"], "a duplicate among members the topology does not read is passed through")
case("ok-huge-integer-skipped", MEM[:-1] + b',"big":' + b"9"*400 + b'}', ["memory"], "a 400-digit integer in a member not read is valid JSON")
case("ok-huge-exponent-skipped", MEM[:-1] + b',"big":1e999999}', ["memory"], "an out-of-range number in a member not read is still valid JSON")
case("ok-unicode-host-alert", cpu(0.9, host=collections.OrderedDict([("name","h\u00f4te-\u6771\u4eac"),("ip",["10.0.0.1"]),("os",{"family":"debian"})])), ["cpu","alert"], "non-ASCII host members keep their order", alert='{"name":"hôte-東京","ip":["10.0.0.1"],"os":{"family":"debian"},"timestamp":"2025-01-31T07:55:26.555Z"}')
case("ok-host-already-has-timestamp", cpu(0.9, host=collections.OrderedDict([("name","h"),("timestamp","old")])), ["cpu","alert"], "the alert appends timestamp even if host has one", alert='{"name":"h","timestamp":"old","timestamp":"2025-01-31T07:55:26.555Z"}')
case("ok-empty-host-object", cpu(0.9, host={}), ["cpu","alert"], "an empty host object gives an alert with the timestamp only", alert='{"timestamp":"2025-01-31T07:55:26.555Z"}')
case("ok-depth-128", b'{"metricset":{"name":"memory"},"deep":' + b"["*127 + b"]"*127 + b"}", ["memory"], "nesting 128 deep is accepted (serde_json's limit)")
case("ok-empty-string-values", MEM.replace(b'"Aaronui-MacBookPro.local"', b'""'), ["memory"], "empty strings elsewhere are fine")
# --- dropped: metricsets without a route
case("drop-network", b'{"@timestamp":"2025-01-31T07:55:28.919Z","metricset":{"name":"network","period":10000},"system":{"network":{"name":"eth0","in":{"bytes":1}}},"host":{"name":"h"}}', [], "network has no route by default: dropped, not an error")
case("drop-unknown-metricset", MEM.replace(b'"name":"memory"', b'"name":"gpu"'), [], "an unknown metricset is dropped")
case("drop-uppercase-cpu", cpu(0.9).replace(b'"name":"cpu"', b'"name":"CPU"'), [], "metricset names are case-sensitive: CPU is not cpu")
case("drop-empty-metricset-name", b'{"metricset":{"name":""}}', [], "an empty metricset name is a name with no route")
case("drop-cpu-with-spaces", b'{"metricset":{"name":" cpu"}}', [], "names are not trimmed")
# --- dead letters
case("bad-empty-value", b"", ["dlq"], "an empty value", reason="EOF")
case("bad-whitespace-only", b"  \n\t ", ["dlq"], "whitespace only", reason="EOF")
case("bad-json-null", b"null", ["dlq"], "the JSON value null", reason="object")
case("bad-json-array", b'[{"metricset":{"name":"cpu"}}]', ["dlq"], "an array of events", reason="object")
case("bad-json-string", b'"cpu"', ["dlq"], "a JSON string", reason="object")
case("bad-json-number", b"42", ["dlq"], "a JSON number", reason="object")
case("bad-empty-object", b"{}", ["dlq"], "no metricset at all", reason="metricset.name")
case("bad-metricset-null", b'{"metricset":null}', ["dlq"], "metricset is null", reason="metricset.name")
case("bad-metricset-name-null", b'{"metricset":{"name":null,"period":10000}}', ["dlq"], "metricset.name is null", reason="metricset.name")
case("bad-metricset-name-missing", MEM.replace(b'"name":"memory",', b''), ["dlq"], "metricset without name", reason="metricset.name")
case("bad-metricset-name-number", b'{"metricset":{"name":3}}', ["dlq"], "metricset.name is a number", reason="metricset.name")
case("bad-metricset-name-object", b'{"metricset":{"name":{"value":"cpu"}}}', ["dlq"], "metricset.name is an object", reason="metricset.name")
case("bad-metricset-is-string", b'{"metricset":"cpu"}', ["dlq"], "metricset is a string, not an object", reason="metricset")
case("bad-duplicate-metricset-name", b'{"metricset":{"name":"cpu","name":"memory"}}', ["dlq"], "two metricset names: which route? refused", reason="duplicate")
case("bad-duplicate-timestamp", cpu(0.9)[:-1] + b',"@timestamp":"2030-01-01T00:00:00.000Z"}', ["dlq"], "two @timestamp members: refused", reason="duplicate")
case("bad-duplicate-norm-pct", b'{"metricset":{"name":"cpu"},"system":{"cpu":{"total":{"norm":{"pct":0.1,"pct":0.9}}}}}', ["dlq"], "two norm.pct values: refused", reason="duplicate")
case("bad-cpu-without-norm-pct", cpu(0.9, drop=[("system","cpu","total","norm")]), ["dlq"], "a cpu event without total.norm.pct cannot be checked for an alert", reason="system.cpu.total.norm.pct")
case("bad-cpu-without-system", cpu(0.9, drop=[("system",)]), ["dlq"], "a cpu event without system", reason="system.cpu.total.norm.pct")
case("bad-cpu-norm-pct-null", cpu(0.1).replace(b'"norm":{"pct":0.1}', b'"norm":{"pct":null}'), ["dlq"], "norm.pct null", reason="system.cpu.total.norm.pct")
case("bad-cpu-norm-pct-string", cpu(0.1).replace(b'"norm":{"pct":0.1}', b'"norm":{"pct":"0.9"}'), ["dlq"], "norm.pct as a string", reason="system.cpu.total.norm.pct")
case("bad-cpu-norm-pct-bool", cpu(0.1).replace(b'"norm":{"pct":0.1}', b'"norm":{"pct":true}'), ["dlq"], "norm.pct as a boolean", reason="system.cpu.total.norm.pct")
case("bad-cpu-norm-pct-nan", cpu(0.1).replace(b'"norm":{"pct":0.1}', b'"norm":{"pct":NaN}'), ["dlq"], "NaN is not JSON", reason="system.cpu.total.norm.pct")
case("bad-cpu-norm-pct-infinity", cpu(0.1).replace(b'"norm":{"pct":0.1}', b'"norm":{"pct":Infinity}'), ["dlq"], "Infinity is not JSON", reason="system.cpu.total.norm.pct")
case("bad-cpu-norm-pct-out-of-range", cpu(0.1).replace(b'"norm":{"pct":0.1}', b'"norm":{"pct":1e400}'), ["dlq"], "a number beyond f64 cannot be compared", reason="system.cpu.total.norm.pct")
case("bad-nan-in-skipped-member", MEM[:-1] + b',"x":NaN}', ["dlq"], "NaN anywhere makes the value non-JSON", reason="line 1")
case("bad-negative-infinity-skipped", MEM[:-1] + b',"x":-Infinity}', ["dlq"], "-Infinity anywhere", reason="line 1")
case("bad-hot-cpu-without-host", cpu(0.9, drop=[("host",)]), ["dlq"], "a hot cpu event without host: no alert can be built", reason="host")
case("bad-hot-cpu-host-string", cpu(0.9, host="web-1"), ["dlq"], "host as a string", reason="host")
case("bad-hot-cpu-without-timestamp", cpu(0.9, drop=[("@timestamp",)]), ["dlq"], "a hot cpu event without @timestamp", reason="@timestamp")
case("bad-hot-cpu-timestamp-number", cpu(0.9, ts=1738310126555), ["dlq"], "@timestamp as epoch milliseconds, not a string", reason="@timestamp")
case("bad-truncated-half", CPU[: len(CPU)//2], ["dlq"], "an event cut in half", reason="EOF")
case("bad-truncated-last-brace", MEM[:-1], ["dlq"], "an event missing its last brace", reason="EOF")
case("bad-truncated-in-string", b'{"metricset":{"name":"cp', ["dlq"], "cut inside a string", reason="EOF")
case("bad-trailing-garbage", MEM + b" x", ["dlq"], "data after the object", reason="trailing")
case("bad-two-objects", MEM + b"\n" + MEM, ["dlq"], "two events in one record (NDJSON)", reason="trailing")
case("bad-trailing-comma", b'{"metricset":{"name":"memory"},}', ["dlq"], "a trailing comma", reason="line 1")
case("bad-single-quotes", b"{'metricset':{'name':'memory'}}", ["dlq"], "single-quoted strings", reason="line 1")
case("bad-unquoted-keys", b'{metricset:{name:"memory"}}', ["dlq"], "unquoted keys", reason="line 1")
case("bad-comment", b'{"metricset":{"name":"memory"} /* why */}', ["dlq"], "a comment", reason="line 1")
case("bad-leading-zero", MEM[:-1] + b',"x":012}', ["dlq"], "a number with a leading zero", reason="line 1")
case("bad-hex-number", MEM[:-1] + b',"x":0x1F}', ["dlq"], "a hexadecimal number", reason="line 1")
case("bad-plus-sign", MEM[:-1] + b',"x":+1}', ["dlq"], "a leading plus sign", reason="line 1")
case("bad-raw-tab-in-string", b'{"metricset":{"name":"memory"},"x":"a\tb"}', ["dlq"], "an unescaped control character in a string", reason="line 1")
case("bad-raw-newline-in-name", b'{"metricset":{"name":"mem\nory"}}', ["dlq"], "a raw newline inside the metricset name", reason="line")
case("bad-lone-surrogate-name", b'{"metricset":{"name":"\\ud800"}}', ["dlq"], "a lone surrogate escape in a string that is read", reason="metricset.name")
case("bad-short-unicode-escape", b'{"metricset":{"name":"memory"},"x":"\\u12"}', ["dlq"], "an escape with too few hex digits", reason="line 1")
case("bad-bom", b"\xef\xbb\xbf" + MEM, ["dlq"], "a UTF-8 byte-order mark before the object", reason="byte-order mark")
case("bad-invalid-utf8-in-name", b'{"metricset":{"name":"\xffcpu"}}', ["dlq"], "invalid UTF-8 in the metricset name", reason="metricset.name")
case("ok-invalid-utf8-in-skipped-string", MEM[:-1] + b',"x":"caf\xe9"}', ["memory"], "documented rule: strings the topology skips are checked for JSON structure only, not UTF-8; the bytes pass through unchanged")
case("bad-utf16", MEM.decode().encode("utf-16-le"), ["dlq"], "the event encoded as UTF-16", reason="key must be a string")
case("bad-overlong-utf8", b'{"metricset":{"name":"\xc0\xafmemory"}}', ["dlq"], "an overlong UTF-8 encoding", reason="metricset.name")
case("ok-depth-129-in-skipped-member", b'{"metricset":{"name":"memory"},"deep":' + b"["*128 + b"]"*128 + b"}", ["memory"], "deep nesting in a member not read is skipped without a depth limit (serde_json's iterative IgnoredAny)")
case("bad-xml", b'<event><metricset name="cpu"/></event>', ["dlq"], "XML", reason="expected value")
case("bad-binary-garbage", bytes(range(256)), ["dlq"], "every byte value", reason="expected value")
case("bad-gzip-magic", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\x00"*16, ["dlq"], "a gzip-compressed value (compression belongs in Kafka, not the value)", reason="expected value")
case("bad-key-value-text", b"metricset.name=cpu host=web-1 total=0.9", ["dlq"], "a log line, not JSON", reason="expected value")
print(len(cases))
