// panva's openid-client against a hub over native TLS, with no allowInsecureRequests: the
// hub's certificate comes from a private CA given to Node with NODE_EXTRA_CA_CERTS.
// Discovery, client_secret_basic and the client_credentials grant, introspection.
//
// Environment: KEYWAY_HUB_URL (https://…), KEYWAY_CLIENT_ID, KEYWAY_CLIENT_SECRET (a
// client_credentials client with scope "read").
import * as client from 'openid-client';

import { check, env } from './common.mjs';

const hub = env('KEYWAY_HUB_URL').replace(/\/$/, '');
const config = await client.discovery(
  new URL(hub),
  env('KEYWAY_CLIENT_ID'),
  undefined,
  client.ClientSecretBasic(env('KEYWAY_CLIENT_SECRET')),
);
check(config.serverMetadata().issuer === hub, `issuer ${config.serverMetadata().issuer}`);
console.log('  - discovery over https');

const tokens = await client.clientCredentialsGrant(config, { scope: 'read' });
check(typeof tokens.access_token === 'string', 'no access token');
console.log('  - client_credentials with client_secret_basic');

const seen = await client.tokenIntrospection(config, tokens.access_token);
check(seen.active === true, `introspection ${JSON.stringify(seen)}`);
console.log('  - introspection');
