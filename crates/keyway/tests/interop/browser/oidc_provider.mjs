// node oidc-provider (panva) as an upstream OpenID Connect provider for keyway's upstream
// sign-in test: one confidential client (client_secret_basic, PKCE required), development
// login and consent pages that accept any login (its `sub` and preferred_username), ID tokens
// signed with the provider's development RS256 key. Prints "listening ISSUER" once ready.
// Test use only: the development interactions and keys are not for production.
//
// Environment: OIDC_PORT, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI.
import Provider from 'oidc-provider';

function env(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`set ${name}`);
  }
  return value;
}

const port = Number(env('OIDC_PORT'));
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: env('OIDC_CLIENT_ID'),
    client_secret: env('OIDC_CLIENT_SECRET'),
    redirect_uris: [env('OIDC_REDIRECT_URI')],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'] },
  // Scope claims in the ID token itself (keyway reads preferred_username there).
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  cookies: { keys: ['keyway-interop-test-only'] },
  findAccount: async (_ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, preferred_username: id, name: id }),
  }),
});
provider.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
