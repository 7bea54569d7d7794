// /account/signin: a password, a passkey or an identity provider, then a second factor.

import { $, busy, currentUser, el, goTo, nextPage, onSubmit, say } from "./api.js";
import { listProviders, providerTitle, startFlow } from "./providers.js";
import { signInWith, signInWithPasskey } from "./sign-in-steps.js";
import * as webauthn from "./webauthn.js";

const out = $("#error");

onSubmit($("#password-form"), (event) => {
  const form = event.currentTarget;
  const passwordCredentials = { username: $("#username").value.trim(), password: $("#password").value };
  busy(form.querySelector("button[type=submit]"), out, () => signInWith({ passwordCredentials }, out));
});

const passkeyButton = $("#passkey-signin");
if (webauthn.supported()) {
  passkeyButton.hidden = false;
  passkeyButton.addEventListener("click", () => busy(passkeyButton, out, () => signInWithPasskey(out)));
}

async function showProviders() {
  const providers = await listProviders();
  const list = $("#providers");
  for (const provider of providers) {
    const button = el("button", { type: "button", class: "secondary", text: `Sign in with ${providerTitle(provider)}` });
    button.addEventListener("click", () => busy(button, out, () => startFlow(provider, "signin", nextPage())));
    list.append(button);
  }
  list.hidden = providers.length === 0;
}

const params = new URLSearchParams(window.location.search);
if (params.get("signedOut") === "1") say(out, "You are signed out.", "notice");

// Someone already signed in goes straight on, unless they came to sign in again.
if (params.get("next") === null && (await currentUser().catch(() => null))) {
  goTo("./");
} else {
  showProviders();
}
