// The OpenID provider jitgate's single sign-on tests run against: `oidc-provider`, a certified
// implementation, configured with two public clients (device flow, code flow with PKCE), test
// accounts whose groups the test can change, and one signing key whose id is chosen at start
// (restarting with another id is a key rotation).
//
// Environment: PORT (required), KID (signing key id, default "k1"), ACCOUNTS (JSON object
// account -> list of groups).
//
// What a person would do in a browser the test does over HTTP: the login page is replaced by
// `GET /interaction/UID?account=NAME`, which logs that account in (there are no passwords);
// consent is implied for these first-party clients. Test-only routes live under /test/:
//   POST /test/groups {"account", "groups"}  changes an account's groups (seen at next refresh)
//   POST /test/sign   {"claims"}             signs claims with the provider's current key, so
//                                            that a test can present a token that is expired
//                                            or otherwise wrong yet correctly signed.
import http from 'node:http';
import Provider from 'oidc-provider';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

const port = Number(process.env.PORT);
if (!port) {
  console.error('PORT is required');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const kid = process.env.KID || 'k1';
const accounts = new Map(Object.entries(JSON.parse(process.env.ACCOUNTS || '{}')));

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };

const publicClient = (clientId, callback = '/callback') => ({
  client_id: clientId,
  application_type: 'native',
  token_endpoint_auth_method: 'none',
  grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
  response_types: ['code'],
  // Native clients may use any port on loopback (RFC 8252 §7.3).
  redirect_uris: [`http://127.0.0.1${callback}`],
});

const provider = new Provider(issuer, {
  // The web console signs in on the gateway's own address (the tests' gateways listen on
  // loopback), at its callback.
  clients: [publicClient('jitgate-cli'), publicClient('other-app'),
    publicClient('jitgate-console', '/login/oidc/callback')],
  jwks: { keys: [jwk] },
  cookies: { keys: ['jitgate-test-cookie-key'] },
  scopes: ['openid', 'offline_access', 'email', 'profile'],
  claims: {
    // Groups travel with the openid scope, as IdPs configured for jitgate put them into every
    // ID token (Keycloak's group mapper, Okta's groups claim, Entra ID's groups claim).
    openid: ['sub', 'groups'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
  },
  // Put the claims of the granted scopes into the ID token, as jitgate reads them from there.
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    deviceFlow: {
      enabled: true,
      userCodeInputSource: async (ctx, form) => {
        ctx.body = `<!DOCTYPE html><html><body>${form}</body></html>`;
      },
      userCodeConfirmSource: async (ctx, form, client, deviceInfo, userCode) => {
        ctx.body = `<!DOCTYPE html><html><body><p>${userCode}</p>${form}</body></html>`;
      },
      successSource: async (ctx) => {
        ctx.body = '<!DOCTYPE html><html><body>device login complete</body></html>';
      },
    },
    revocation: { enabled: true },
  },
  pkce: { required: () => true },
  ttl: {
    AccessToken: 3600, IdToken: 3600, RefreshToken: 86400, DeviceCode: 600, Interaction: 600, Session: 3600, Grant: 86400,
  },
  // Refresh tokens for every client allowed to refresh, offline_access or not.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  // First-party clients: consent to every requested scope is implied.
  loadExistingGrant: async (ctx) => {
    const { client, session } = ctx.oidc;
    const existing = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
    if (existing) {
      const found = await ctx.oidc.provider.Grant.find(existing);
      if (found) return found;
    }
    const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
    grant.addOIDCScope('openid offline_access email profile');
    await grant.save();
    return grant;
  },
  findAccount: async (ctx, id) => {
    if (!accounts.has(id)) return undefined;
    return {
      accountId: id,
      // Read at each token issue, so a changed group shows in the next refreshed ID token.
      claims: async () => ({
        sub: id,
        preferred_username: id,
        email: `${id}@example.com`,
        email_verified: true,
        groups: accounts.get(id) || [],
      }),
    };
  },
});
provider.proxy = false;
const handle = provider.callback();

function readJson(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      try { resolve(JSON.parse(body || '{}')); } catch (e) { reject(e); }
    });
  });
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function interaction(req, res, url) {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name !== 'login') {
    // Consent is implied (loadExistingGrant); anything else is not expected here.
    return provider.interactionFinished(req, res, { consent: {} }, { mergeWithLastSubmission: true });
  }
  const account = url.searchParams.get('account');
  if (!account || !accounts.has(account)) {
    return send(res, 400, { error: `unknown account ${account}` });
  }
  return provider.interactionFinished(req, res, { login: { accountId: account } }, { mergeWithLastSubmission: false });
}

async function test(req, res, url) {
  const body = await readJson(req);
  if (url.pathname === '/test/groups') {
    accounts.set(body.account, body.groups);
    return send(res, 200, { account: body.account, groups: body.groups });
  }
  if (url.pathname === '/test/sign') {
    const token = await new SignJWT(body.claims)
      .setProtectedHeader({ alg: 'RS256', kid })
      .sign(privateKey);
    return send(res, 200, { token });
  }
  return send(res, 404, { error: 'no such test route' });
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, issuer);
  let work;
  if (url.pathname.startsWith('/interaction/')) {
    work = interaction(req, res, url);
  } else if (url.pathname.startsWith('/test/') && req.method === 'POST') {
    work = test(req, res, url);
  } else {
    return handle(req, res);
  }
  work.catch((e) => {
    console.error(e);
    if (!res.headersSent) send(res, 500, { error: String(e) });
  });
  return undefined;
});
server.listen(port, '127.0.0.1', () => console.log(`oidc provider ${issuer} ready (key ${kid})`));
