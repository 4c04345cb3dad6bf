// node oidc-provider configured as close to keyway's hub as it goes, for bench/oauth/run.sh.
//
// - one confidential client, client_credentials only, client_secret_basic, scopes "read write";
// - access tokens are RFC 9068 JWTs (typ at+jwt) signed with EdDSA (Ed25519), 900 s TTL
//   (keyway's default), audience = a default resource (keyway: its issuer);
// - token and introspection at keyway's paths (/oauth2/token, /oauth2/introspect);
// - in-memory adapter (the default), single process, NODE_ENV=production.
//
// oidc-provider refuses to introspect structured (JWT) tokens ("Structured JWT Tokens cannot be
// introspected via the introspection_endpoint"), so a second resource indicator,
// OPAQUE_RESOURCE, yields opaque tokens that run.sh uses for the introspection benchmark.
//
// Environment: PORT (required), CLIENT_ID, CLIENT_SECRET.
import { generateKeyPairSync } from 'node:crypto';

import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error('PORT is required');
  process.exit(2);
}
const host = '127.0.0.1';
const issuer = `http://${host}:${port}`;
const clientId = process.env.CLIENT_ID ?? 'bench';
const clientSecret = process.env.CLIENT_SECRET ?? 'bench-secret-bench-secret-bench-secret';

const JWT_RESOURCE = 'urn:keyway-bench:api';
const OPAQUE_RESOURCE = 'urn:keyway-bench:opaque';
const SCOPE = 'read write';
const TTL = 900;

const { privateKey } = generateKeyPairSync('ed25519');
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-ed25519', use: 'sig', alg: 'EdDSA' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: SCOPE,
  }],
  clientDefaults: {
    grant_types: ['client_credentials'],
    response_types: [],
    id_token_signed_response_alg: 'EdDSA',
    token_endpoint_auth_method: 'client_secret_basic',
  },
  jwks: { keys: [signingKey] },
  scopes: ['read', 'write'],
  routes: {
    token: '/oauth2/token',
    introspection: '/oauth2/introspect',
    jwks: '/oauth2/jwks',
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // Any authenticated confidential client may introspect (keyway's rule).
      allowedPolicy: async (ctx, client) => client.clientAuthMethod !== 'none',
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => JWT_RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resourceIndicator) => {
        if (resourceIndicator === OPAQUE_RESOURCE) {
          return { scope: SCOPE, audience: OPAQUE_RESOURCE, accessTokenTTL: TTL, accessTokenFormat: 'opaque' };
        }
        if (resourceIndicator === JWT_RESOURCE) {
          return {
            scope: SCOPE,
            audience: JWT_RESOURCE,
            accessTokenTTL: TTL,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'EdDSA' } },
          };
        }
        throw new Provider.errors.InvalidTarget();
      },
    },
  },
  ttl: {
    ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? TTL,
  },
  // Client-credentials tokens only: no accounts, no interactions.
  findAccount: async () => undefined,
});
provider.proxy = false;

const server = provider.listen(port, host, () => {
  console.log(`oidc-provider listening on ${issuer} (NODE_ENV=${process.env.NODE_ENV})`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
