"""
oidc_issuer.py -- a local OpenID Connect issuer over HTTPS on loopback, for
tests: its discovery document, its JWKS, and tokens signed with its keys.

One server serves any number of issuers, each under a path of its own:
the issuer NAME is https://localhost:PORT/NAME, its discovery document
https://localhost:PORT/NAME/.well-known/openid-configuration, its keys
https://localhost:PORT/NAME/jwks.  The server's certificate is issued by a
CA made here (ca.pem in the directory given), for DNS:localhost only: a
client that trusts that CA reaches https://localhost:PORT, and is refused
at https://127.0.0.1:PORT (a name the certificate does not hold).

In a test (pytest or any Python code):

    iss = OidcIssuer(tmp_path)            # the CA, the server certificate, a signing key
    iss.start()
    iss.add("corp", cache_control="max-age=300")
    url = iss.issuer("corp")              # the token's "iss"
    token = iss.token("corp", {"sub": "alice", "aud": "sts.amazonaws.com"})
    iss.count("/corp/jwks")               # requests seen for that path
    iss.stop()

As a program (the C test tests/unit/oidc_remote_net_test.c runs it):

    python3 oidc_issuer.py DIR

makes DIR/ca.pem, serves the built-in issuers of `scenarios()`, writes one
line per request ("GET /path") to DIR/requests.log before answering it,
writes the port to DIR/port once listening, and runs until SIGTERM.
Needs python3-cryptography (Debian).
"""

import base64
import datetime
import http.server
import json
import os
import signal
import ssl
import sys
import threading
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(n):
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def make_ca_and_server(d, name="localhost"):
    """(ca.pem, server.pem, server.key) in d: an EC P-256 CA, and a server
    certificate it issued for DNS:<name> only.  Returns their paths."""
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tresor test OIDC CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = d / "ca.pem", d / "server.pem", d / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(paths[2], 0o600)
    return paths


class SigningKey:
    """An RSA key of the issuer: its JWK, and RS256 tokens signed with it."""

    def __init__(self, kid, bits=2048):
        self.kid = kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=bits)

    def jwk(self):
        pub = self.key.public_key().public_numbers()
        return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid, "n": _uint(pub.n), "e": _uint(pub.e)}

    def sign(self, claims, header=None):
        h = {"alg": "RS256", "typ": "JWT", "kid": self.kid, **(header or {})}
        signing_input = (b64url(json.dumps(h, separators=(",", ":")).encode()) + "." +
                         b64url(json.dumps(claims, separators=(",", ":")).encode()))
        sig = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(sig)


class Issuer:
    """What one issuer path serves; every field may be changed between
    requests.  discovery_issuer / jwks_uri: None for the right ones;
    discovery_status / jwks_status: an HTTP status other than 200;
    jwks_body: bytes served instead of the JWKS document; jwks_redirect:
    a Location answered with 302 instead of the keys."""

    def __init__(self, name, keys, cache_control=None):
        self.name = name
        self.keys = keys
        self.cache_control = cache_control
        self.discovery_issuer = None
        self.jwks_uri = None
        self.discovery_status = 200
        self.jwks_status = 200
        self.jwks_body = None
        self.jwks_redirect = None


class OidcIssuer:
    def __init__(self, d, host="localhost"):
        self.dir = Path(d)
        self.host = host
        self.ca_pem, self.cert, self.key = make_ca_and_server(self.dir, host)
        self.issuers = {}
        self.requests = []
        self.lock = threading.Lock()
        self.log_path = None
        self.server = None
        self.thread = None
        self.port = None
        self.default_key = SigningKey("key-1")

    # ---- issuers and tokens ----

    def add(self, name, cache_control="max-age=300", keys=None):
        iss = Issuer(name, keys if keys is not None else [self.default_key], cache_control)
        self.issuers[name] = iss
        return iss

    def base(self, host=None):
        return f"https://{host or self.host}:{self.port}"

    def issuer(self, name, host=None):
        return f"{self.base(host)}/{name}"

    def token(self, name, claims, key=None, lifetime=3600):
        now = int(time.time())
        c = {"iss": self.issuer(name), "iat": now, "exp": now + lifetime, **claims}
        return (key or self.issuers[name].keys[0]).sign(c)

    def count(self, path):
        with self.lock:
            return sum(1 for p in self.requests if p == path)

    # ---- the server ----

    def _record(self, path):
        with self.lock:
            self.requests.append(path)
            if self.log_path:
                with open(self.log_path, "a") as f:
                    f.write(f"GET {path}\n")

    def _answer(self, path):
        """(status, headers, body) for a GET of path."""
        name, _, rest = path.lstrip("/").partition("/")
        iss = self.issuers.get(name)
        if iss is None:
            return 404, {}, b'{"error": "no such issuer"}'
        if rest == ".well-known/openid-configuration":
            if iss.discovery_status != 200:
                return iss.discovery_status, {}, b"{}"
            doc = {"issuer": iss.discovery_issuer or self.issuer(name),
                   "jwks_uri": iss.jwks_uri or f"{self.issuer(name)}/jwks",
                   "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
                   "id_token_signing_alg_values_supported": ["RS256"]}
            return 200, {"Content-Type": "application/json"}, json.dumps(doc).encode()
        if rest == "jwks":
            if iss.jwks_redirect:
                return 302, {"Location": iss.jwks_redirect}, b""
            if iss.jwks_status != 200:
                return iss.jwks_status, {}, b"{}"
            body = iss.jwks_body if iss.jwks_body is not None else \
                json.dumps({"keys": [k.jwk() for k in iss.keys]}).encode()
            h = {"Content-Type": "application/json"}
            if iss.cache_control:
                h["Cache-Control"] = iss.cache_control
            return 200, h, body
        return 404, {}, b"{}"

    def start(self, port=0):
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                owner._record(self.path)
                status, headers, body = owner._answer(self.path)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (OSError, ssl.SSLError):
                    pass            # the client stopped reading (a body over its cap)

            def log_message(self, *a):
                pass

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def scenarios(o):
    """The issuers of tests/unit/oidc_remote_net_test.c, one per case."""
    o.add("ok", cache_control="max-age=300")
    o.add("slash", cache_control="public, max-age=300").discovery_issuer = o.issuer("slash") + "/"
    o.add("mismatch").discovery_issuer = o.issuer("someone-else")
    o.add("httpjwks").jwks_uri = f"http://{o.host}:{o.port}/httpjwks/jwks"
    o.add("redirect").jwks_redirect = f"http://{o.host}:{o.port}/ok/jwks"
    o.add("missing").discovery_status = 404
    o.add("big").jwks_body = json.dumps({"keys": [], "pad": "x" * (1024 * 1024)}).encode()
    o.add("notjson").jwks_body = b"this is not JSON"
    o.add("nokeys").jwks_body = b'{"nokeys": []}'
    o.add("nostore", cache_control="no-store")
    o.add("nocc", cache_control=None)
    # --oidc-allowed-issuers localhost:PORT: 127.0.0.1 is another host (whose
    # name the certificate does not hold either: only the list's refusal
    # names the list)
    o.add("jwksaway").jwks_uri = f"https://127.0.0.1:{o.port}/ok/jwks"
    o.add("redirectaway").jwks_redirect = f"https://127.0.0.1:{o.port}/ok/jwks"
    o.add("redirectok").jwks_redirect = f"https://{o.host}:{o.port}/ok/jwks"
    o.add("redirectloop").jwks_redirect = f"https://{o.host}:{o.port}/redirectloop/jwks"


def main(argv):
    if len(argv) != 2:
        print("usage: oidc_issuer.py DIR", file=sys.stderr)
        return 2
    d = Path(argv[1])
    o = OidcIssuer(d)
    o.log_path = d / "requests.log"
    o.log_path.write_text("")
    o.start()
    scenarios(o)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    tmp = d / "port.tmp"
    tmp.write_text(str(o.port))
    os.rename(tmp, d / "port")
    while not stop.wait(0.2):
        pass
    o.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
