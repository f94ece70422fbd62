"""Subscriber auth against the real binary: JWTs signed here with PyJWT (independent of the
relay's jwt-kit), delegated auth against a small Python app over TCP and a Unix socket,
CORS, and the loopback / allow-anonymous start-up rule."""

import base64
import hashlib
import hmac
import http.server
import json
import os
import signal
import socket
import socketserver
import threading
import time
import urllib.parse

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from conftest import assert_json_error, free_port, wait_until

SECRET = "integration-test-secret-0123456789"


def token(sub="alice", topics=None, exp_in=60, key=SECRET, alg="HS256", kid=None, **claims):
    payload = {"sub": sub, "exp": int(time.time()) + exp_in, **claims}
    if topics is not None:
        payload["topics"] = topics
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid} if kid else None)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return str(path)


@pytest.fixture
def jwt_relay(relay, tmp_path):
    secret = write(tmp_path / "jwt.secret", SECRET + "\n")

    def start(*flags, env=None, keys=None):
        full = {"SSE_RELAY_AUTH_MODE": "jwt", "SSE_RELAY_AUTH_JWT_KEYS": keys or f"HS256:{secret}"}
        full.update(env or {})
        return relay(*flags, env=full)
    return start


def pem_public(private_key) -> str:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


# --------------------------------------------------------------------------------------
# JWT


def test_token_from_header_query_or_cookie_opens_the_stream(jwt_relay):
    r = jwt_relay(env={"SSE_RELAY_AUTH_TOKEN_COOKIE": "sse_token"})
    t = token(topics=["news"])
    a = r.open_stream("alice", topics=["news"], headers={"Authorization": f"Bearer {t}"})
    b = r.open_stream("alice", path=f"/events/alice?topic=news&token={t}")
    c = r.open_stream("alice", topics=["news"], headers={"Cookie": f"theme=dark; sse_token={t}"})
    r.publish_topic("news", "hello")
    for s in (a, b, c):
        assert s.next_event(timeout=5).data == "hello"
    assert t not in r.stderr_text(), "the token must never be logged"


def test_missing_or_bad_token_is_401_with_www_authenticate(jwt_relay):
    r = jwt_relay()
    missing = r.stream("alice")
    assert_json_error(missing.status, missing.headers, missing.body, 401, "unauthenticated")
    assert missing.headers.get("WWW-Authenticate", "").startswith("Bearer")
    forged = r.stream("alice", headers={"Authorization": "Bearer " + token(key="some-other-secret-of-length-0123456")})
    assert_json_error(forged.status, forged.headers, forged.body, 401, "invalid_token")
    expired = r.stream("alice", headers={"Authorization": "Bearer " + token(exp_in=-120)})
    assert_json_error(expired.status, expired.headers, expired.body, 401, "invalid_token")
    garbage = r.stream("alice", headers={"Authorization": "Bearer not-a-jwt"})
    assert_json_error(garbage.status, garbage.headers, garbage.body, 401, "invalid_token")
    wait_until(lambda: "stream refused" in r.stderr_text() and "unauthenticated" in r.stderr_text(), 5,
               message="refusal logged with its reason")
    assert r.connection_count("alice") == 0


def test_token_for_another_client_or_topic_is_403_without_leaking(jwt_relay):
    r = jwt_relay()
    other = r.stream("alice", headers={"Authorization": "Bearer " + token(sub="bob-the-other")})
    doc = assert_json_error(other.status, other.headers, other.body, 403, "forbidden")
    assert "bob-the-other" not in json.dumps(doc)
    topic = r.stream("alice", topics=["secret"], headers={"Authorization": "Bearer " + token(topics=["news", "room.*"])})
    assert_json_error(topic.status, topic.headers, topic.body, 403, "forbidden")
    ok = r.open_stream("alice", topics=["room.7"], headers={"Authorization": "Bearer " + token(topics=["room.*"])})
    ok.close()


def test_audience_and_issuer_when_configured(jwt_relay):
    r = jwt_relay(env={"SSE_RELAY_AUTH_JWT_AUDIENCE": "relay", "SSE_RELAY_AUTH_JWT_ISSUER": "https://app.example"})
    bad = r.stream("alice", headers={"Authorization": "Bearer " + token(aud="other", iss="https://app.example")})
    assert_json_error(bad.status, bad.headers, bad.body, 401, "invalid_token")
    good = token(aud=["relay", "x"], iss="https://app.example")
    r.open_stream("alice", headers={"Authorization": f"Bearer {good}"}).close()


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_public_key_algorithms(jwt_relay, tmp_path, alg):
    private = {"RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
               "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
               "EdDSA": ed25519.Ed25519PrivateKey.generate}[alg]()
    pem = write(tmp_path / "key.pem", pem_public(private))
    r = jwt_relay(keys=f"k1={alg}:{pem}")
    t = token(key=private, alg=alg, kid="k1")
    s = r.open_stream("alice", headers={"Authorization": f"Bearer {t}"})
    r.publish("alice", alg)
    assert s.next_event(timeout=5).data == alg
    # An HMAC token keyed with the public key's PEM text must not pass (algorithm confusion).
    confused = hs256_raw({"sub": "alice", "exp": int(time.time()) + 60}, open(pem, "rb").read(), kid="k1")
    resp = r.stream("alice", headers={"Authorization": f"Bearer {confused}"})
    assert_json_error(resp.status, resp.headers, resp.body, 401, "invalid_token")


def hs256_raw(payload, key: bytes, kid: str) -> str:
    """A token built by hand, for the attack PyJWT rightly refuses to sign."""
    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")
    signing = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode()) + b"." + b64(json.dumps(payload).encode())
    return (signing + b"." + b64(hmac.new(key, signing, hashlib.sha256).digest())).decode()


def test_kid_rotation_with_sighup_and_a_bad_key_file_keeps_the_old_keys(relay, tmp_path):
    old = write(tmp_path / "old.secret", SECRET)
    new_secret = "the-rotated-secret-9876543210-abcdef"
    new = write(tmp_path / "new.secret", new_secret)
    config = tmp_path / "config.yaml"
    config.write_text(f"auth:\n  mode: jwt\n  jwt:\n    keys: old=HS256:{old}\n")
    r = relay("--config", str(config))
    new_token = token(key=new_secret, kid="new")
    assert r.stream("alice", headers={"Authorization": f"Bearer {new_token}"}).status == 401
    held = r.open_stream("alice", headers={"Authorization": "Bearer " + token(kid="old")})

    config.write_text(f"auth:\n  mode: jwt\n  jwt:\n    keys: old=HS256:{old}, new=HS256:{new}\n")
    r.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "subscriber auth keys reloaded" in r.stderr_text(), 10, message="keys reloaded")
    r.open_stream("alice", headers={"Authorization": f"Bearer {new_token}"}).close()

    # A broken key file: the reload is refused, both running keys still verify.
    broken = write(tmp_path / "broken.pem", "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    config.write_text(f"auth:\n  mode: jwt\n  jwt:\n    keys: new=HS256:{new}, x=ES256:{broken}\n")
    r.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload refused" in r.stderr_text(), 10, message="bad key reload refused")
    assert "auth.jwt.keys" in r.stderr_text()
    r.open_stream("alice", headers={"Authorization": "Bearer " + token(kid="old")}).close()
    r.open_stream("alice", headers={"Authorization": f"Bearer {new_token}"}).close()

    # Dropping the old key: its tokens stop opening streams.
    config.write_text(f"auth:\n  mode: jwt\n  jwt:\n    keys: new=HS256:{new}\n")
    r.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: r.stderr_text().count("subscriber auth keys reloaded") >= 2, 10, message="second reload")
    assert r.stream("alice", headers={"Authorization": "Bearer " + token(kid="old")}).status == 401
    assert r.connection_count("alice") == 1, "a reload does not drop open streams"
    held.close()


def test_expired_token_closes_the_stream_and_replay_resumes(jwt_relay):
    r = jwt_relay(env={"SSE_RELAY_AUTH_JWT_LEEWAY": "0s"})
    s = r.open_stream("alice", headers={"Authorization": "Bearer " + token(exp_in=2)})
    r.publish("alice", "before")
    last = s.next_event(timeout=5)
    assert last.data == "before"
    assert s.wait_ended(8) == "clean"
    wait_until(lambda: "token_expired" in r.stderr_text(), 5, message="close reason logged")
    r.publish("alice", "while away")
    again = r.open_stream("alice", last_event_id=last.id, headers={"Authorization": "Bearer " + token(exp_in=60)})
    assert again.next_event(timeout=5).data == "while away"


def test_jwt_mode_needs_keys_and_names_the_key(relay):
    bad = relay(env={"SSE_RELAY_AUTH_MODE": "jwt"}, wait_ready=False)
    assert bad.wait_exit() != 0
    assert "auth.jwt.keys" in bad.stderr_text()


# --------------------------------------------------------------------------------------
# delegated auth


class AuthApp:
    """A tiny application: cookie session=alice admits alice (topics news, room.*),
    session=mallory is 403, no cookie 401, session=slow never answers in time."""

    def __init__(self, unix_path=None):
        self.requests = []
        app = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def address_string(self):
                return "app"

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                app.requests.append((dict(self.headers), body))
                cookie = self.headers.get("Cookie", "")
                if "session=slow" in cookie:
                    time.sleep(3)
                if "session=alice" in cookie:
                    self._answer(200, {"client_id": "alice", "topics": ["news", "room.*"]})
                elif "session=mallory" in cookie:
                    self._answer(403, {})
                elif "session=broken" in cookie:
                    self._answer(500, {})
                else:
                    self._answer(401, {})

            def _answer(self, status, doc):
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        if unix_path:
            class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
                daemon_threads = True
            self.server = Server(unix_path, Handler)
            self.url = f"unix:{unix_path}:/auth/sse"
        else:
            class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
                daemon_threads = True
            self.server = Server(("127.0.0.1", 0), Handler)
            self.url = f"http://127.0.0.1:{self.server.server_address[1]}/auth/sse"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(params=["tcp", "unix"])
def auth_app(request, tmpdir_short):
    app = AuthApp(os.path.join(tmpdir_short, "app.sock") if request.param == "unix" else None)
    yield app
    app.close()


def test_delegate_admits_refuses_and_checks_the_answer(relay, auth_app):
    r = relay(env={"SSE_RELAY_AUTH_MODE": "delegate", "SSE_RELAY_AUTH_DELEGATE_URL": auth_app.url,
                   "SSE_RELAY_AUTH_DELEGATE_CACHE_TTL": "0s", "SSE_RELAY_AUTH_DELEGATE_TIMEOUT": "1s"})
    s = r.open_stream("alice", topics=["room.1"], headers={"Cookie": "session=alice"})
    r.publish("alice", "via delegate")
    assert s.next_event(timeout=5).data == "via delegate"
    headers, body = auth_app.requests[-1]
    assert body == {"client_id": "alice", "topics": ["room.1"], "remote_address": "127.0.0.1"}
    assert headers.get("Cookie") == "session=alice"

    cases = [("alice", ["sports"], "session=alice", 403, "forbidden"),  # topic outside the answer
             ("bob", [], "session=alice", 403, "forbidden"),  # the answer names another client
             ("alice", [], "session=mallory", 403, "forbidden"),
             ("alice", [], "", 401, "unauthenticated"),
             ("alice", [], "session=broken", 503, "auth_unavailable"),
             ("alice", [], "session=slow", 503, "auth_unavailable")]
    for client, topics, cookie, status, code in cases:
        resp = r.stream(client, topics=topics, headers={"Cookie": cookie} if cookie else {})
        assert_json_error(resp.status, resp.headers, resp.body, status, code)
        if status == 503:
            assert resp.headers.get("Retry-After")


def test_delegate_answers_are_cached_briefly(relay, auth_app):
    r = relay(env={"SSE_RELAY_AUTH_MODE": "delegate", "SSE_RELAY_AUTH_DELEGATE_URL": auth_app.url,
                   "SSE_RELAY_AUTH_DELEGATE_CACHE_TTL": "1s"})
    for _ in range(3):
        r.open_stream("alice", headers={"Cookie": "session=alice"}).close()
    assert len(auth_app.requests) == 1, "same credentials, id and topics within the TTL: asked once"
    r.open_stream("alice", topics=["news"], headers={"Cookie": "session=alice"}).close()
    assert len(auth_app.requests) == 2, "other topics: asked again"

    def admitted_after_asking_again():
        s = r.stream("alice", headers={"Cookie": "session=alice"})
        s.close()
        return s.status == 200 and len(auth_app.requests) >= 3
    wait_until(admitted_after_asking_again, 5, message="asked again after the TTL")


def test_delegate_down_fails_closed(relay):
    port = free_port()
    r = relay(env={"SSE_RELAY_AUTH_MODE": "delegate", "SSE_RELAY_AUTH_DELEGATE_URL": f"http://127.0.0.1:{port}/auth"})
    for _ in range(3):
        resp = r.stream("alice", headers={"Cookie": "session=alice"})
        assert_json_error(resp.status, resp.headers, resp.body, 503, "auth_unavailable")
    assert r.health()["status"] == "ok" and r.proc.poll() is None, "the relay survives a dead delegate"


# --------------------------------------------------------------------------------------
# start-up rule


def test_non_loopback_without_auth_is_a_configuration_error(relay):
    port = free_port()
    bad = relay("--listen", f"0.0.0.0:{port}", default_listen=False, port=port, wait_ready=False)
    assert bad.wait_exit() != 0
    assert "auth.mode" in bad.stderr_text() and "allow-anonymous" in bad.stderr_text()


def test_allow_anonymous_starts_anywhere_and_warns(relay):
    for _ in range(5):  # a port free on 127.0.0.1 can be taken on another address: try again
        port = free_port()
        r = relay("--listen", f"0.0.0.0:{port}", "--allow-anonymous", "true", default_listen=False, port=port,
                  wait_ready=False)
        try:
            r.wait_ready()
            break
        except AssertionError:
            if "Address already in use" not in r.stderr_text():
                raise
    r.open_stream("anyone").close()
    assert "subscriber auth is off" in r.stderr_text()


def test_loopback_without_auth_starts_and_warns(relay):
    r = relay()
    assert "subscriber auth is off" in r.stderr_text()


# --------------------------------------------------------------------------------------
# CORS


def test_cors_allowlist_wildcards_credentials_and_preflight(relay):
    r = relay("--allow-origin", "https://app.example, https://*.example.org",
              env={"SSE_RELAY_CORS_ALLOW_CREDENTIALS": "true"})
    for origin in ("https://app.example", "https://a.example.org"):
        s = r.open_stream("c", headers={"Origin": origin})
        assert s.headers.get("Access-Control-Allow-Origin") == origin
        assert s.headers.get("Access-Control-Allow-Credentials") == "true"
        assert "Origin" in s.headers.get("Vary", "")
        s.close()
    evil = r.open_stream("c", headers={"Origin": "https://evil.example"})
    assert evil.headers.get("Access-Control-Allow-Origin") is None
    assert evil.headers.get("Access-Control-Allow-Credentials") is None
    evil.close()
    pre = r.http("OPTIONS", "/events/c", headers={"Origin": "https://b.example.org",
                                                  "Access-Control-Request-Method": "GET",
                                                  "Access-Control-Request-Headers": "authorization, last-event-id"})
    assert pre.status == 204
    assert pre.headers.get("Access-Control-Allow-Origin") == "https://b.example.org"
    allowed = pre.headers.get("Access-Control-Allow-Headers", "").lower()
    assert all(h in allowed for h in ("authorization", "last-event-id", "cache-control"))
    assert "GET" in pre.headers.get("Access-Control-Allow-Methods", "")
    # Errors carry CORS headers too, so the page can read why.
    bad = r.stream("bad%20id", headers={"Origin": "https://app.example"})
    assert bad.status == 400 and bad.headers.get("Access-Control-Allow-Origin") == "https://app.example"


def test_star_with_credentials_is_refused_and_star_alone_still_works(relay):
    bad = relay("--allow-origin", "*", env={"SSE_RELAY_CORS_ALLOW_CREDENTIALS": "true"}, wait_ready=False)
    assert bad.wait_exit() != 0 and "cors.allow-credentials" in bad.stderr_text()
    r = relay("--allow-origin", "*")
    s = r.open_stream("c", headers={"Origin": "https://anything.example"})
    assert s.headers.get("Access-Control-Allow-Origin") == "*"


# --------------------------------------------------------------------------------------
# cluster mode: the same admission, and replay from the shared history after expiry


def test_cluster_jwt_expiry_then_replay_on_another_node(relay, tmp_path):
    from servers import RabbitMQ, Redis
    redis, broker = Redis().start(), RabbitMQ().start()
    try:
        secret = write(tmp_path / "jwt.secret", SECRET)
        env = {"SSE_RELAY_AUTH_MODE": "jwt", "SSE_RELAY_AUTH_JWT_KEYS": f"HS256:{secret}",
               "SSE_RELAY_AUTH_JWT_LEEWAY": "0s"}
        common = ["--redis", redis.url, "--amqp", broker.url, "--redis-key-prefix", "authtest:",
                  "--heartbeat", "300ms", "--registry-ttl", "1500ms"]
        a = relay(*common, env=env, node_id="node-a")
        b = relay(*common, env=env, node_id="node-b")
        refused = a.stream("alice")
        assert_json_error(refused.status, refused.headers, refused.body, 401, "unauthenticated")
        s = a.open_stream("alice", headers={"Authorization": "Bearer " + token(exp_in=2)})
        b.publish("alice", "cross-node")
        last = s.next_event(timeout=10)
        assert last.data == "cross-node"
        assert s.wait_ended(8) == "clean"
        wait_until(lambda: "token_expired" in a.stderr_text(), 5, message="close reason logged")
        b.publish("alice", "while away")  # not connected anywhere: stored in the shared history
        again = b.open_stream("alice", last_event_id=last.id, headers={"Authorization": "Bearer " + token()})
        assert again.next_event(timeout=10).data == "while away"
    finally:
        redis.cleanup()
        broker.cleanup()
