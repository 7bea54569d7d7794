// /account/callback: where an identity provider sends the browser back (SPEC §8).

import { $, ApiError, api, enc, errorText, goTo, offerSignInAgain, say } from "./api.js";
import { finishFlow } from "./providers.js";
import { signInWith } from "./sign-in-steps.js";

const out = $("#error");
const status = $("#status");

// The code is single-use: keep it out of the address bar and the history, whether or not
// it answers this tab's flow (read first, then gone).
const answer = window.location.search;
window.history.replaceState(null, "", window.location.pathname);

try {
  const flow = finishFlow(answer);
  if (flow.purpose === "link") {
    const me = (await api("GET", "auth/sessions/current")).user;
    await api("POST", `users/${enc(me.username)}/linkedIdentities`, flow.ssoCredentials);
    goTo("./");
  } else {
    // Where the sign-in page that started the flow was told to go (signin?next=…).
    await signInWith({ ssoCredentials: flow.ssoCredentials }, out, flow.next);
  }
} catch (error) {
  status.hidden = true;
  say(out, errorText(error));
  // A link refused for a sign-in too old (RFC 9470): "Back to sign in" would land on the
  // account page again, the person still signed in; they must sign in anew first.
  if (error instanceof ApiError && error.reauth) offerSignInAgain(out);
  else $("#retry").hidden = false;
}
