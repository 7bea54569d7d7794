// A real OpenID Connect provider for the tests (panva's oidc-provider, OpenID Certified),
// on 127.0.0.1 at the port given: `node server.mjs <port> [<redirect URI>,...]` (the
// browser tests add the account pages' callback). Prints "ready <issuer>" once
// it listens. Test-only: the dev interactions (a login form taking any account id and a
// consent form) are driven over plain HTTP by tests/support/oidc_provider/__init__.py.
//
// Clients: memos-post (client_secret_post), memos-basic (client_secret_basic) and
// other-app (another audience), each with the secret "<client id>-secret" and the redirect
// URI below. PKCE (S256) is accepted, not required, so tests can show both.
// POST /test/accounts {"id", "claims"} sets the claims an account id signs in with.
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node server.mjs <port>');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
export const REDIRECT_URI = 'https://client.example/callback';
const redirectUris = [REDIRECT_URI, ...(process.argv[3] ?? '').split(',').filter(Boolean)];
const accounts = new Map();

const client = (id, method) => ({
  client_id: id,
  client_secret: `${id}-secret`,
  redirect_uris: redirectUris,
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: method,
});

const provider = new Provider(issuer, {
  clients: [
    client('memos-post', 'client_secret_post'),
    client('memos-basic', 'client_secret_basic'),
    client('other-app', 'client_secret_post'),
  ],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username', 'picture'],
  },
  pkce: { required: () => false },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['memos-auth-test-provider-cookie-key'] },
  async findAccount(ctx, id) {
    const claims = accounts.get(id) ?? {};
    return { accountId: id, async claims() { return { ...claims, sub: id }; } };
  },
});

provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && ctx.path === '/test/accounts') {
    let raw = '';
    for await (const chunk of ctx.req) raw += chunk;
    const { id, claims } = JSON.parse(raw);
    accounts.set(String(id), claims ?? {});
    ctx.status = 204;
    return;
  }
  await next();
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
