"""Signed webhook requests for tests/signature_differential.rs, made with the official
`twilio` package: each request is signed by `RequestValidator.compute_signature`, then
tampered with one character at a time, and `RequestValidator.validate` judges both.

Writes JSON lines on stdout: a `meta` line, then one `case` line per request.

    python twilio_signatures.py --seed 1 --cases 10000
    python twilio_signatures.py --seed 1 --cases 300 --base http://127.0.0.1:PORT --token T

Without --base the requests are random URLs, each tampered with twice (its signature,
and its URL or a parameter); with it they are POSTs to `{base}/twilio/status?<query>`
carrying a CallSid, in characters an HTTP client sends unchanged, all signed with
--token, each tampered with in its signature, query, a parameter's name and a value.
"""

import argparse
import base64
import hashlib
import hmac
import json
import random
import sys
from urllib.parse import urlparse

import twilio
from twilio.request_validator import RequestValidator, add_port, remove_port

DEFAULT_PORTS = {"https": 443, "http": 80}

BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
# Characters a query keeps through an HTTP client and server unchanged.
QUERY_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
# Replacement characters for tampering with URLs and parameters.
TAMPER = (
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    "-._~!$&'()*+,;=:@/?#%[] \"<>^`{|}\\"
    "éÉüßñ電話ｱﬁ\u00a0\u200b😀𝄞"
)
# Names mix code points whose code-point and UTF-16 orders differ (U+FFxx vs astral).
NAME_PARTS = [
    "CallSid", "AccountSid", "From", "To", "Digits", "SpeechResult", "CallStatus",
    "Caller", "Direction", "ApiVersion", "x", "Field", "field", "a", "A", "_", "é",
    "電話", "ｱ", "ﬁ", "😀", "𝄞", "名前", "1", "10", "2", "a b", "k=v", "&",
]
VALUE_CHARS = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    " +&=%?#/:;,.-_~!*'()@$[]\"<>\\|^`{}\n\t"
    "éüßñçø電話番号ｱﬁ\u00a0😀𝄞👍🏽"
)
HOSTS = [
    "ivr.example.com", "example.org", "a.b.c.example.net", "localhost", "127.0.0.1",
    "[::1]", "[2001:db8::7]", "bücher.example", "xn--bcher-kva.example", "Mixed.Case.Example",
    "host-with-dash.example", "h1.example",
]
OTHER_PORTS = ["8080", "8443", "3000", "5000", "1", "65535", "444", "81"]
PATH_SEGMENTS = [
    "twilio", "voice", "status", "gather", "myapp.php", "a", "b c", "café", "電話",
    "😀", "%20", "%2F", "%2f", "%C3%A9", "%c3%a9", "%E2%82%AC", "a%25b", "~user",
    "x.y", "-", "_", "!$&'()*+,=", "a;b", "@", ":", "..", "v1", "index.html",
]
QUERY_KEYS = ["a", "b", "flow", "v", "node", "attempt", "x", "é", "%C3%A9", "k%20k", "q+r", "empty"]
QUERY_VALUES = [
    "1", "2", "", "yes", "hello+there", "hello%20there", "%2B1555", "+1555", "a/b", "a?b",
    "é", "%C3%A9", "電話", "😀", "%", "%zz", "x=y", "http://h:443/", ":443", "0",
]


class FormParams:
    """The form as a web framework hands it over (Django's QueryDict): each name once,
    `getlist` for all of a name's values in arrival order."""

    def __init__(self, pairs):
        self.pairs = [tuple(p) for p in pairs]

    def __iter__(self):
        return iter(dict.fromkeys(k for k, _ in self.pairs))

    def __len__(self):
        return len(dict.fromkeys(k for k, _ in self.pairs))

    def getlist(self, name):
        return [v for k, v in self.pairs if k == name]


def hmac_sha1(token, data):
    mac = hmac.new(token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def utf16_order(s):
    # Big-endian UTF-16 bytes compare as JavaScript compares strings: by code unit.
    return s.encode("utf-16-be")


def python_join(pairs):
    """What RequestValidator.compute_signature appends to the URL (for comparison only)."""
    form = FormParams(pairs)
    return "".join(n + v for n in sorted(set(form)) for v in sorted(set(form.getlist(n))))


def node_join(pairs):
    """NOT the twilio package: twilio-node's getExpectedTwilioSignature as released before
    twilio/twilio-node#723, rewritten here. `Object.keys(params).sort()` orders names by
    UTF-16 code unit; toFormUrlEncodedParam appends each of a name's values in arrival
    order (the body parser's array), repeats kept."""
    names = sorted(dict.fromkeys(k for k, _ in pairs), key=utf16_order)
    return "".join(k + v for name in names for k, v in pairs if k == name)


def node_signature(token, url, pairs):
    """The twilio-node form (see node_join), signed like getExpectedTwilioSignature."""
    return hmac_sha1(token, url + node_join(pairs))


def python_verdict(validator, url, pairs, signature):
    """RequestValidator.validate's answer; None when it raises (a port that is not a number)."""
    try:
        return bool(validator.validate(url, FormParams(pairs), signature))
    except ValueError:
        return None


def why_python_accepts(url):
    """Why twilio-python accepts a URL that differs from the one signed."""
    parsed = urlparse(url)
    if parsed.geturl() != url:
        # urlparse lowercases the scheme and drops an empty query, fragment or `;`.
        return "python-normalises-url"
    try:
        port = parsed.port
    except ValueError:
        port = None
    if port and parsed.netloc.startswith("["):
        # remove_port keeps what precedes the first ':', "[" of an IPv6 literal.
        return "python-cuts-ipv6-host"
    if port and port != DEFAULT_PORTS.get(parsed.scheme):
        # remove_port drops any port, not only the default one.
        return "python-strips-any-port"
    return "unexplained"


class Generator:
    def __init__(self, rng):
        self.rng = rng

    def token(self):
        r = self.rng
        if r.random() < 0.9:
            return "".join(r.choice("0123456789abcdef") for _ in range(32))
        return "".join(r.choice(VALUE_CHARS) for _ in range(r.randint(1, 40)))

    def text(self, chars, lo, hi):
        return "".join(self.rng.choice(chars) for _ in range(self.rng.randint(lo, hi)))

    def name(self):
        r = self.rng
        name = r.choice(NAME_PARTS)
        if r.random() < 0.3:
            name += r.choice(NAME_PARTS)
        if r.random() < 0.2:
            name += str(r.randint(0, 99))
        return name

    def value(self):
        r = self.rng
        roll = r.random()
        if roll < 0.15:
            return ""
        if roll < 0.35:
            return "+1" + "".join(r.choice("0123456789") for _ in range(10))
        if roll < 0.45:
            return "CA" + "".join(r.choice("0123456789abcdef") for _ in range(32))
        return self.text(VALUE_CHARS, 1, 24)

    def params(self):
        """Form parameters in arrival order, and whether a name repeats."""
        r = self.rng
        pairs = [(self.name(), self.value()) for _ in range(r.randint(0, 8))]
        repeated = False
        if pairs and r.random() < 0.35:
            repeated = True
            for _ in range(r.randint(1, 3)):
                k, v = r.choice(pairs)
                roll = r.random()
                if roll < 0.4:
                    extra = (k, v)  # an identical repeat
                elif roll < 0.8:
                    extra = (k, self.value())  # another value
                else:
                    extra = (k, "")
                pairs.insert(r.randint(0, len(pairs)), extra)
        return pairs, repeated

    def query(self, safe):
        r = self.rng
        parts = []
        for _ in range(r.randint(1, 5)):
            if safe:
                key = self.text(QUERY_SAFE, 1, 6)
                value = self.text(QUERY_SAFE + "%", 0, 8).replace("%", "%2B")
            else:
                key = r.choice(QUERY_KEYS)
                value = r.choice(QUERY_VALUES)
            roll = r.random()
            parts.append(key if roll < 0.1 else key + "=" if roll < 0.25 else key + "=" + value)
        return "&".join(parts)

    def url(self):
        """A request URL that urlparse gives back unchanged, its host and its port kind."""
        r = self.rng
        while True:
            scheme = "https" if r.random() < 0.7 else "http"
            roll = r.random()
            if roll < 0.4:
                port, kind = "", "none"
            elif roll < 0.7:
                port, kind = ":" + str(DEFAULT_PORTS[scheme]), "default"
            else:
                other_scheme = "http" if scheme == "https" else "https"
                other = r.choice(OTHER_PORTS + [str(DEFAULT_PORTS[other_scheme])])
                port, kind = ":" + other, "other"
            path = "".join("/" + r.choice(PATH_SEGMENTS) for _ in range(r.randint(0, 4)))
            if path == "" and r.random() < 0.5:
                path = "/"
            query = "?" + self.query(safe=False) if r.random() < 0.6 else ""
            host = r.choice(HOSTS)
            url = scheme + "://" + host + port + path + query
            if urlparse(url).geturl() == url:
                return url, host, kind


def tamper_char(rng, s, pool, positions=None):
    """`s` with the character at one position replaced by a different one from `pool`."""
    positions = positions if positions is not None else range(len(s))
    i = rng.choice(positions)
    new = s[i]
    while new == s[i]:
        new = rng.choice(pool)
    return s[:i] + new + s[i + 1 :]


def tamperings(rng, case, url_positions, url_pool, param_pool, every_target):
    """Tampered copies of a request, one character changed in each: the signature, and
    the URL, a parameter's name and a parameter's value (every one of those, or one
    picked at random)."""
    url, pairs, sig = case["url"], case["params"], case["signature"]
    out = [{"target": "signature", "signature": tamper_char(rng, sig, BASE64)}]
    targets = ["url"]
    if pairs:
        targets.append("param-name")
    with_value = [j for j, (_, v) in enumerate(pairs) if v]
    if with_value:
        targets.append("param-value")
    for target in targets if every_target else [rng.choice(targets)]:
        if target == "url":
            out.append({"target": "url", "url": tamper_char(rng, url, url_pool, url_positions)})
        elif target == "param-name":
            i = rng.randrange(len(pairs))
            k, v = pairs[i]
            flipped = list(pairs)
            flipped[i] = (tamper_char(rng, k, param_pool), v)
            out.append({"target": "param-name", "params": flipped})
        else:
            j = rng.choice(with_value)
            k, v = pairs[j]
            flipped = list(pairs)
            flipped[j] = (k, tamper_char(rng, v, param_pool))
            out.append({"target": "param-value", "params": flipped})
    return out


def judge(validator, case, tampered):
    url = tampered.get("url", case["url"])
    pairs = tampered.get("params", case["params"])
    sig = tampered.get("signature", case["signature"])
    verdict = python_verdict(validator, url, pairs, sig)
    tampered["py_valid"] = verdict
    if verdict:
        tampered["py_note"] = why_python_accepts(url)
    return tampered


def random_cases(rng, count):
    gen = Generator(rng)
    for n in range(count):
        token = gen.token()
        validator = RequestValidator(token)
        url, host, port_kind = gen.url()
        method = "GET" if rng.random() < 0.25 else "POST"
        pairs, repeated = gen.params() if method == "POST" else ([], False)
        signed_url = url
        # remove_port cuts the netloc at its first ':', which for an IPv6 literal
        # leaves "[": such a URL is signed as it is.
        toggles = port_kind == "none" or (port_kind == "default" and not host.startswith("["))
        if toggles and rng.random() < 0.5:
            parsed = urlparse(url)
            signed_url = add_port(parsed) if port_kind == "none" else remove_port(parsed)
        form = "node" if repeated and rng.random() < 0.4 else "python"
        if form == "python":
            sig = validator.compute_signature(signed_url, FormParams(pairs))
        else:
            sig = node_signature(token, signed_url, pairs)
        case = {
            "kind": "case", "id": n, "group": form, "method": method, "token": token,
            "url": url, "signed_url": signed_url, "params": pairs, "signature": sig,
            "forms_coincide": python_join(pairs) == node_join(pairs),
            "py_valid": python_verdict(validator, url, pairs, sig),
        }
        tampered = tamperings(rng, case, None, TAMPER, TAMPER, every_target=False)
        case["tampered"] = [judge(validator, case, t) for t in tampered]
        yield case


def port_stripped_cases(rng, count, first_id):
    """Requests at a non-default port signed over the URL without it: twilio-python
    accepts them (remove_port drops any port), phonetree does not."""
    gen = Generator(rng)
    n = 0
    while n < count:
        url, host, port_kind = gen.url()
        if port_kind != "other" or host.startswith("["):
            continue
        token = gen.token()
        validator = RequestValidator(token)
        pairs, _ = gen.params()
        signed_url = remove_port(urlparse(url))
        sig = validator.compute_signature(signed_url, FormParams(pairs))
        yield {
            "kind": "case", "id": first_id + n, "group": "python-strips-any-port",
            "method": "POST", "token": token, "url": url, "signed_url": signed_url,
            "params": pairs, "signature": sig,
            "forms_coincide": python_join(pairs) == node_join(pairs),
            "py_valid": python_verdict(validator, url, pairs, sig), "tampered": [],
        }
        n += 1


def server_cases(rng, count, base, token):
    """Status callbacks to a running server: a CallSid, a query in characters an HTTP
    client leaves alone, and tampering with the query only (the path picks the route)."""
    gen = Generator(rng)
    validator = RequestValidator(token)
    for n in range(count):
        path = base.rstrip("/") + "/twilio/status"
        url = path + "?" + gen.query(safe=True)
        pairs, repeated = gen.params()
        # The handler reads the first CallSid: the only one is ours.
        pairs = [(k, v) for k, v in pairs if k != "CallSid"]
        sid = "CA" + "".join(rng.choice("0123456789abcdef") for _ in range(32))
        pairs.insert(rng.randint(0, len(pairs)), ("CallSid", sid))
        form = "node" if repeated and rng.random() < 0.4 else "python"
        if form == "python":
            sig = validator.compute_signature(url, FormParams(pairs))
        else:
            sig = node_signature(token, url, pairs)
        case = {
            "kind": "case", "id": n, "group": form, "method": "POST", "token": token,
            "url": url, "signed_url": url, "params": pairs, "signature": sig,
            "forms_coincide": python_join(pairs) == node_join(pairs),
            "py_valid": python_verdict(validator, url, pairs, sig),
        }
        query_positions = range(len(path) + 1, len(url))
        tampered = tamperings(rng, case, query_positions, QUERY_SAFE, TAMPER, every_target=True)
        case["tampered"] = [judge(validator, case, t) for t in tampered]
        yield case


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--cases", type=int, required=True)
    parser.add_argument("--port-stripped", type=int, default=0)
    parser.add_argument("--base")
    parser.add_argument("--token")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    meta = {
        "kind": "meta",
        "twilio": twilio.__version__,
        "python": sys.version.split()[0],
        "seed": args.seed,
    }
    out = sys.stdout
    out.write(json.dumps(meta) + "\n")
    if args.base:
        cases = server_cases(rng, args.cases, args.base, args.token)
    else:
        cases = random_cases(rng, args.cases)
    for case in cases:
        out.write(json.dumps(case) + "\n")
    if not args.base:
        for case in port_stripped_cases(rng, args.port_stripped, args.cases):
            out.write(json.dumps(case) + "\n")


if __name__ == "__main__":
    main()
