#!/usr/bin/env python3
"""Tiny OVTP server and client for bench/transfer/run.sh, on the PyPI `ovtp` package as it is.

    ovtp_bench.py setup  --dir DIR --port PORT      config files, RSA key pair, authorized_keys
    ovtp_bench.py server --dir DIR                  OvtpServer on 127.0.0.1:PORT (runs until killed)
    ovtp_bench.py push   --dir DIR SRC DEST          OvtpClient.send_file(SRC, DEST); DEST is a path
                                                    on the server (absolute: OVTP has no root)
    ovtp_bench.py pull   --dir DIR REMOTE LOCAL      OvtpClient.get_file(REMOTE, LOCAL)

Everything ovtp and its helpers (ovcfg, ovcrypt) would keep in /etc, /var/lib or ~ is kept in
DIR instead: ovcfg looks for its JSON configs in a list of directories (`config_paths`), which
this script points at DIR/etc before anything else is imported, and the configs it writes there
name key and authorized_keys paths under DIR. ovcrypt's fallback that downloads "master keys"
over HTTP when a client key is not in authorized_keys is pointed at 127.0.0.1:9 (discard, refused)
and never reached: `setup` puts the key in authorized_keys. Server and client run as the same
user on one machine and so share one RSA-2048 key pair, as OVTP peers on one host do.
"""

import argparse
import asyncio
import json
import os
import sys
import time


def configure(work, port=None):
    """Points ovcfg at WORK/etc and writes the three JSON configs there (before importing ovtp)."""
    work = os.path.abspath(work)
    etc = os.path.join(work, "etc")
    import ovcfg.ovcfg as ovcfg_mod

    for paths in ovcfg_mod.config_paths.values():
        if isinstance(paths, list):
            paths[:] = [etc]
    if port is not None:
        configs = {
            ("overengine", "ovcrypt.json"): {
                "rsa_server_public_key_file": os.path.join(work, "keys", "ov_public.pub"),
                "rsa_server_private_key_file": os.path.join(work, "keys", "ov_private.pem"),
                "key_size": 2048,
                "master_keys_url": "http://127.0.0.1:9/",
            },
            ("ovtp", "server.json"): {
                "server_ip": "127.0.0.1",
                "server_port": port,
                "auth_keys_dir": os.path.join(work, "auth_keys"),
                "new_message_timeout": 15,
            },
            ("ovtp", "client.json"): {"default_server_port": port, "local_ip": "127.0.0.1"},
        }
        for (sub, name), data in configs.items():
            os.makedirs(os.path.join(etc, sub), exist_ok=True)
            with open(os.path.join(etc, sub, name), "w", encoding="utf-8") as f:
                json.dump(data, f, indent=4)
    for sub, name in (("overengine", "ovcrypt.json"), ("ovtp", "server.json"), ("ovtp", "client.json")):
        if not os.path.isfile(os.path.join(etc, sub, name)):
            sys.exit(f"ovtp_bench: {etc}/{sub}/{name} missing: run `setup` first")
    with open(os.path.join(etc, "ovtp", "server.json"), encoding="utf-8") as f:
        return json.load(f)["server_port"]


def setup(args):
    configure(args.dir, args.port)
    import rsa
    import ovcrypt
    from ovtp.server import get_short_rsa_key

    cr = ovcrypt.OvCrypt()  # generates the RSA-2048 pair on first use
    auth_dir = os.path.join(os.path.abspath(args.dir), "auth_keys")
    os.makedirs(auth_dir, exist_ok=True)
    short = get_short_rsa_key(rsa.PublicKey.save_pkcs1(cr.public_key).replace(b"\n", b""))
    with open(os.path.join(auth_dir, "authorized_keys"), "wb") as f:
        f.write(short)
    print("ovtp setup done", file=sys.stderr)


def server(args):
    configure(args.dir)
    from ovtp.server import OvtpServer

    def callback(status, response):
        return "OK", "received"

    asyncio.run(OvtpServer(callback, verbose=False, debug=False).run_server())


def push(args):
    port = configure(args.dir)
    from ovtp.client import OvtpClient

    async def run():
        client = OvtpClient("127.0.0.1", port)
        t0 = time.monotonic()
        answer = await client.send_file(args.src, args.dest)
        t1 = time.monotonic()
        await client.close_connection()
        return answer, t1 - t0

    answer, seconds = asyncio.run(run())
    print(json.dumps({"answer": str(answer), "seconds": seconds}))
    if answer != "Sign ok":
        sys.exit(f"ovtp push: server answered {answer!r}")


def pull(args):
    port = configure(args.dir)
    from ovtp.client import OvtpClient

    async def run():
        client = OvtpClient("127.0.0.1", port)
        t0 = time.monotonic()
        ok = await client.get_file(args.remote, args.local)
        t1 = time.monotonic()
        await client.close_connection()
        return ok, t1 - t0

    ok, seconds = asyncio.run(run())
    print(json.dumps({"answer": ok, "seconds": seconds}))
    if ok is not True:
        sys.exit(f"ovtp pull: get_file returned {ok!r}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--dir", required=True)
    s.add_argument("--port", type=int, required=True)
    s.set_defaults(func=setup)
    s = sub.add_parser("server")
    s.add_argument("--dir", required=True)
    s.set_defaults(func=server)
    s = sub.add_parser("push")
    s.add_argument("--dir", required=True)
    s.add_argument("src")
    s.add_argument("dest")
    s.set_defaults(func=push)
    s = sub.add_parser("pull")
    s.add_argument("--dir", required=True)
    s.add_argument("remote")
    s.add_argument("local")
    s.set_defaults(func=pull)
    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
