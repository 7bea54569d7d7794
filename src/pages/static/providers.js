// Identity providers (SPEC §8) from the browser: the authorization-code flow with PKCE
// (RFC 7636), a state and, for OpenID Connect, a nonce. What the callback page needs to
// finish is kept in sessionStorage for this tab only: no token, just the flow's own values.

import { allowedNext, api, pageUrl } from "./api.js";
import { toBase64url } from "./webauthn.js";

const FLOW_KEY = "memos-auth.sso-flow";

function random(bytes = 32) {
  return toBase64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function s256(text) {
  return toBase64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

export async function listProviders() {
  try {
    return (await api("GET", "identity-providers")).identityProviders || [];
  } catch {
    // No providers (or none offered by this server): the page just shows none.
    return [];
  }
}

export function providerTitle(provider) {
  return provider.title || provider.name;
}

// The authorization endpoint: OAuth 2.0 providers name it; an OpenID Connect provider
// whose answer names one (from its discovery document) is used the same way.
function authUrl(provider) {
  const config = provider.config || {};
  const oauth2 = config.oauth2Config || {};
  const oidc = config.oidcConfig || {};
  return oauth2.authUrl || oidc.authUrl || oidc.authorizationEndpoint || "";
}

function settings(provider) {
  const config = provider.config || {};
  return config.oauth2Config || config.oidcConfig || {};
}

// Sends the browser to the provider. `purpose` is "signin" or "link".
export async function startFlow(provider, purpose, next = "") {
  const endpoint = authUrl(provider);
  if (!endpoint) throw new Error(`${providerTitle(provider)} cannot be used from this page: it names no authorization URL`);
  const conf = settings(provider);
  const flow = {
    idpName: provider.name,
    state: random(),
    codeVerifier: random(48),
    nonce: random(),
    redirectUri: pageUrl("callback").href,
    purpose,
    next,
  };
  sessionStorage.setItem(FLOW_KEY, JSON.stringify(flow));
  const url = new URL(endpoint);
  const query = url.searchParams;
  query.set("response_type", "code");
  query.set("client_id", conf.clientId || "");
  query.set("redirect_uri", flow.redirectUri);
  const scopes = conf.scopes || [];
  if (scopes.length) query.set("scope", scopes.join(" "));
  query.set("state", flow.state);
  query.set("code_challenge", await s256(flow.codeVerifier));
  query.set("code_challenge_method", "S256");
  if (provider.type === "OIDC" || scopes.includes("openid")) query.set("nonce", flow.nonce);
  window.location.assign(url.href);
}

// The flow the provider sent the browser back from, checked against the state it carries;
// used once (taken out of storage whatever happens).
export function finishFlow(search) {
  const raw = sessionStorage.getItem(FLOW_KEY);
  sessionStorage.removeItem(FLOW_KEY);
  const params = new URLSearchParams(search);
  // Anyone can link to this page, with an error and words of their own: nothing in the
  // address is believed, or shown, before it is known to answer this tab's flow.
  if (!raw) throw new Error("this sign-in was not started from this browser tab; start again");
  const flow = JSON.parse(raw);
  if (!params.get("state") || params.get("state") !== flow.state) {
    throw new Error("the identity provider's answer does not match this sign-in; start again");
  }
  const providerError = params.get("error");
  if (providerError) {
    // RFC 6749 §4.1.2.1: `error` is a code from a fixed list, shown when it looks like one;
    // `error_description` is free text, and the page says nothing it did not write itself.
    const shown = /^[a-z_]{1,64}$/.test(providerError) ? ` (${providerError})` : "";
    throw new Error(`the identity provider refused the sign-in${shown}; start again`);
  }
  const code = params.get("code");
  if (!code) throw new Error("the identity provider sent no code; start again");
  return {
    purpose: flow.purpose,
    next: allowedNext(flow.next),
    ssoCredentials: {
      idpName: flow.idpName,
      code,
      redirectUri: flow.redirectUri,
      codeVerifier: flow.codeVerifier,
      nonce: flow.nonce,
    },
  };
}
