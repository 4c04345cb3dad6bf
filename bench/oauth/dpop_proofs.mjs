// Writes COUNT DPoP proofs (RFC 9449), one per line, for POST HTU, all by one Ed25519 key, each
// with its own jti, so that wrk can send each once (bench/oauth/post.lua, BENCH_PROOFS).
//
//   node dpop_proofs.mjs COUNT HTU FILE [IAT]
//
// IAT (Unix seconds) defaults to now + 25: the hub accepts iat within 60 s of its clock, so
// proofs made before a run stay good through a warm-up and a measured run of up to a minute.
import { generateKeyPairSync, sign, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";

const [count, htu, file, iatArg] = process.argv.slice(2);
if (!count || !htu || !file) {
  console.error("usage: node dpop_proofs.mjs COUNT HTU FILE [IAT]");
  process.exit(2);
}
const iat = iatArg ? Number(iatArg) : Math.floor(Date.now() / 1000) + 25;
const { privateKey, publicKey } = generateKeyPairSync("ed25519");
const jwk = publicKey.export({ format: "jwk" });
const b64 = (value) => Buffer.from(value).toString("base64url");
const header = b64(JSON.stringify({ typ: "dpop+jwt", alg: "EdDSA", jwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x } }));
const prefix = randomBytes(8).toString("hex");
const out = createWriteStream(file);
for (let i = 0; i < Number(count); i++) {
  const payload = b64(JSON.stringify({ htm: "POST", htu, iat, jti: `${prefix}-${i}` }));
  const input = `${header}.${payload}`;
  const line = `${input}.${b64(sign(null, Buffer.from(input), privateKey))}\n`;
  if (!out.write(line)) await new Promise((resolve) => out.once("drain", resolve));
}
await new Promise((resolve) => out.end(resolve));
