// /account/callback: where an identity provider sends the browser back (SPEC §8).

import { $, api, enc, errorText, goTo, say } from "./api.js";
import { finishFlow } from "./providers.js";
import { signInWith } from "./sign-in-steps.js";

const out = $("#error");
const status = $("#status");

try {
  const flow = finishFlow(window.location.search);
  // The code is single-use: keep it out of the address bar and the history.
  window.history.replaceState(null, "", window.location.pathname);
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
  $("#retry").hidden = false;
}
