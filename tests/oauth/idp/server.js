// A real OpenID provider for the external identity provider tests: panva's oidc-provider on a free loopback
// port, with static clients, resource indicators (JWT access tokens whose aud is the resource asked for),
// client credentials, refresh tokens and introspection. Sign-in and consent finish by themselves: the person
// is the auth request's login_hint (default ada), so tests drive the code flow with plain HTTP.
// Prints {"issuer": …} on one line once it listens; stops on SIGTERM or when stdin closes.
import crypto from 'node:crypto';
import http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const SECRET = process.env.IDP_CLIENT_SECRET || 'test-client-secret-0123456789abcdef';
const ALG = process.env.IDP_ALG || 'RS256';
const REDIRECTS = (process.env.IDP_REDIRECT_URIS || 'http://127.0.0.1:8000/callback').split(' ');
const RESOURCE_SCOPES = 'polar:read polar:write polar:money other:scope';

function signingKey() {
  const kid = crypto.randomBytes(8).toString('hex');
  const pair = ALG.startsWith('ES')
    ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...pair.privateKey.export({ format: 'jwk' }), kid, alg: ALG, use: 'sig' };
}

function client(clientId, extra = {}) {
  return {
    client_id: clientId,
    client_secret: SECRET,
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    redirect_uris: REDIRECTS,
    token_endpoint_auth_method: 'client_secret_basic',
    ...extra,
  };
}

function account(accountId) {
  const name = accountId.replace(/^sub-/, '');
  return {
    accountId,
    claims: async () => ({ sub: accountId, preferred_username: name, email: `${name}@example.test` }),
  };
}

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [
      client('polar-mcp'), // this server itself: introspection and the console's sign-in
      client('agent'), // an MCP client: JWT access tokens
      client('agent-opaque'), // an MCP client whose access tokens are opaque (introspection)
      client('agent-short'), // JWT access tokens that expire after five seconds (checked once before, under load)
    ],
    jwks: { keys: [signingKey()] },
    findAccount: async (_ctx, id) => account(id),
    claims: { openid: ['sub'], profile: ['preferred_username'], email: ['email'] },
    scopes: ['openid', 'offline_access'],
    // The profile's claims in the ID token too, as Keycloak and Entra put them (the console reads its name there).
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => undefined,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resource, who) => {
          if (!resource.startsWith('http')) throw new errors.InvalidTarget();
          return {
            scope: RESOURCE_SCOPES,
            audience: resource,
            accessTokenFormat: who.clientId === 'agent-opaque' ? 'opaque' : 'jwt',
            jwt: { sign: { alg: ALG } },
          };
        },
      },
    },
    // What Keycloak and others put in their access tokens: the person's name beside the subject, and for a
    // client's own token (client credentials) its service account's name, as Keycloak does.
    extraTokenClaims: async (_ctx, token) =>
      token.accountId
        ? { preferred_username: token.accountId.replace(/^sub-/, '') }
        : { preferred_username: `service-account-${token.clientId}` },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: {
      AccessToken: (_ctx, token) => (token.clientId === 'agent-short' ? 5 : 300),
      ClientCredentials: (_ctx, token) => (token.clientId === 'agent-short' ? 5 : 300),
      IdToken: 300,
      Interaction: 600,
      Session: 3600,
      RefreshToken: 3600,
      Grant: 3600,
    },
  });
  provider.proxy = false;
  const callback = provider.callback();
  server.on('request', async (req, res) => {
    if (!req.url.startsWith('/interaction/')) return callback(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      const { prompt, params } = details;
      const accountId = details.session?.accountId || `sub-${params.login_hint || 'ada'}`;
      if (prompt.name === 'login') {
        await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
        return;
      }
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId, clientId: params.client_id });
      const missing = prompt.details;
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    } catch (err) {
      res.statusCode = 500;
      res.end(String(err));
    }
  });
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
