#!/usr/bin/env python3
"""Independent implementation of the docs/toki.md test vectors.

Stdlib hashlib/hmac for SHA-256, HMAC and HKDF; `cryptography` for Ed25519 and X25519 (when it
is installed; without it the handshake values are taken from the spec and only the symmetric
part is recomputed). Prints `name = "value"` lines in the same format as the Rust test
`tests::vectors::print_vectors`, so the two outputs can be diffed.
"""
import base64
import hashlib
import hmac
import struct

T0 = 1767225600000
LABEL = lambda s: ("keyway-toki v1 " + s).encode()


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def hkdf(salt, ikm, info, length=32):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    return hkdf_expand(prk, info, length)


def hkdf_expand(prk, info, length=32):
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def content_digest(body):
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def lp(b):
    return struct.pack(">H", len(b)) + b


def main():
    out = []
    caller_seed = bytes(range(0x00, 0x20))
    callee_seed = bytes(range(0x20, 0x40))
    alice = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    bob = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
    from cryptography.hazmat.primitives import serialization

    raw = dict(encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw)
    caller = ed25519.Ed25519PrivateKey.from_private_bytes(caller_seed)
    callee = ed25519.Ed25519PrivateKey.from_private_bytes(callee_seed)
    out.append(("caller_public", caller.public_key().public_bytes(**raw).hex()))
    out.append(("callee_public", callee.public_key().public_bytes(**raw).hex()))
    alice_key = x25519.X25519PrivateKey.from_private_bytes(alice)
    bob_key = x25519.X25519PrivateKey.from_private_bytes(bob)
    alice_pub = alice_key.public_key().public_bytes(**raw)
    bob_pub = bob_key.public_key().public_bytes(**raw)

    nonce = bytes(range(0xA0, 0xB0))
    hello_unsigned = (b"\x01" + lp(b"orders") + lp(b"ledger") + alice_pub
                      + struct.pack(">Q", T0) + nonce)
    hello_input = LABEL("hello") + b"\x00" + hello_unsigned
    hello_wire = hello_unsigned + caller.sign(hello_input)
    out.append(("hello_signature_input", hello_input.hex()))
    out.append(("hello_wire", hello_wire.hex()))

    session = bytes(range(0xB0, 0xC0))
    welcome_unsigned = b"\x01" + session + bob_pub
    welcome_input = LABEL("welcome") + b"\x00" + hello_wire + welcome_unsigned
    welcome_wire = welcome_unsigned + callee.sign(welcome_input)
    out.append(("welcome_signature_input", welcome_input.hex()))
    out.append(("welcome_wire", welcome_wire.hex()))

    shared = alice_key.exchange(x25519.X25519PublicKey.from_public_bytes(bob_pub))
    assert shared == bob_key.exchange(x25519.X25519PublicKey.from_public_bytes(alice_pub))
    assert shared.hex() == "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
    transcript = hashlib.sha256(LABEL("transcript") + b"\x00" + hello_wire + welcome_wire).digest()
    out.append(("transcript_hash", transcript.hex()))
    root0 = hkdf(transcript, shared, LABEL("session root"))
    out.append(("root_0", root0.hex()))
    epoch = lambda e: struct.pack(">I", e)
    req0 = hkdf_expand(root0, LABEL("request key") + epoch(0))
    resp0 = hkdf_expand(root0, LABEL("response key") + epoch(0))
    out.append(("request_key_0", req0.hex()))
    out.append(("response_key_0", resp0.hex()))

    sid = b64u(session)

    def request(key, ep, counter, created, flags, method, path, digest):
        canonical = "\n".join([
            "keyway-toki v1 request", "orders", "ledger", sid, str(ep), str(counter),
            str(created), str(flags), method, "ledger.internal:8443", path, digest])
        mac = hmac.new(key, canonical.encode(), hashlib.sha256).digest()
        return canonical, mac, f"v1.{sid}.{ep}.{counter}.{created}.{flags}.{b64u(mac)}"

    def response(key, ep, counter, request_mac, status, digest):
        canonical = "\n".join([
            "keyway-toki v1 response", "orders", "ledger", sid, str(ep), str(counter),
            b64u(request_mac), str(status), digest])
        mac = hmac.new(key, canonical.encode(), hashlib.sha256).digest()
        return canonical, mac, f"v1.{sid}.{ep}.{counter}.{b64u(mac)}"

    body1 = content_digest(b'{"amount":100}')
    out.append(("content_digest_1", body1))
    canon1, mac1, token1 = request(req0, 0, 1, T0 + 1000, 0, "POST", "/v1/entries?account=42", body1)
    out.append(("canonical_request_1", canon1))
    out.append(("request_token_1", token1))
    rcanon1, _, rtoken1 = response(resp0, 0, 1, mac1, 201, content_digest(b'{"id":7}'))
    out.append(("canonical_response_1", rcanon1))
    out.append(("response_token_1", rtoken1))

    empty = content_digest(b"")
    _, mac2, token2 = request(req0, 0, 2, T0 + 2000, 1, "GET", "/v1/entries/7", empty)
    out.append(("request_token_2", token2))
    _, rmac2, rtoken2 = response(resp0, 0, 2, mac2, 200, content_digest(b'{"id":7,"amount":100}'))
    out.append(("response_token_2", rtoken2))

    root1 = hkdf(mac2 + rmac2, root0, LABEL("ratchet") + epoch(1))
    out.append(("root_1", root1.hex()))
    req1 = hkdf_expand(root1, LABEL("request key") + epoch(1))
    out.append(("request_key_1", req1.hex()))
    _, _, token3 = request(req1, 1, 3, T0 + 3000, 0, "DELETE", "/v1/entries/7", empty)
    out.append(("request_token_3", token3))

    # A broker message (docs/toki.md, "Message token"): Ed25519 by the sender's toki key.
    message_body = b'{"id":7,"amount":100}'
    message_id = bytes(range(0xC0, 0xD0))
    created = T0 + 4000
    canonical_message = "\n".join([
        "keyway-toki v1 message", "orders", "amqp", "ledger.events", "entry.created",
        b64u(message_id), str(created), content_digest(message_body)])
    out.append(("canonical_message", canonical_message))
    message_signature = caller.sign(canonical_message.encode())
    message_token = f"m1.{b64u(message_id)}.{created}.{b64u(message_signature)}.orders"
    out.append(("message_token", message_token))
    # And verify it as a consumer would, from the token text and the public key alone.
    version, mid, created_text, sig_text, sender = message_token.split(".", 4)
    assert version == "m1" and sender == "orders"
    pad = lambda t: t + "=" * (-len(t) % 4)
    check = "\n".join([
        "keyway-toki v1 message", sender, "amqp", "ledger.events", "entry.created", mid,
        created_text, content_digest(message_body)])
    caller.public_key().verify(base64.urlsafe_b64decode(pad(sig_text)), check.encode())

    for name, value in out:
        print(f'{name} = "{value}"'.replace("\n", "\\n"))


if __name__ == "__main__":
    main()
