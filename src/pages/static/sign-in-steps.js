// Both steps of a sign-in (SPEC §3, §7), shared by the sign-in page and the identity
// provider's callback page: the first step's answer either signs in (a session cookie is
// set) or asks for a second factor, whose form (partials/mfa-form.html, in both pages) this
// module shows and posts.

import { $, ApiError, api, busy, errorText, goTo, nextPage, onSubmit, say } from "./api.js";
import * as webauthn from "./webauthn.js";

// POST /auth/sessions with `body`; a second factor, when the user has one, is asked next.
// Signed in, the browser goes to `next` (one of allowedNext's pages): by default where this
// page's ?next= says; the callback page passes the one its sign-in flow was started with.
export async function signInWith(body, out, next = nextPage()) {
  try {
    await api("POST", "auth/sessions", body);
    goTo(next);
  } catch (error) {
    const info = error instanceof ApiError ? error.info("MFA_REQUIRED") : null;
    if (!info) throw error;
    showSecondStep(info.metadata || {}, out, next);
  }
}

function showSecondStep(metadata, out, next) {
  const methods = String(metadata.methods || "").split(",");
  const challenge = metadata.mfaChallenge;
  for (const first of document.querySelectorAll("[data-first-step]")) first.hidden = true;
  // The password has done its part: it does not stay in the page while the code is asked
  // (the callback page has none).
  const password = document.querySelector("#password");
  if (password) password.value = "";
  const form = $("#mfa-form");
  form.hidden = false;
  $("#totp-field").hidden = !methods.includes("totp");
  $("#recovery-field").hidden = !methods.includes("recoveryCode");
  const passkeyButton = $("#mfa-passkey");
  passkeyButton.hidden = !(methods.includes("passkey") && webauthn.supported());
  say(out, "");
  const first = methods.includes("totp") ? $("#totp-code") : $("#recovery-code");
  first.focus();

  onSubmit(form, () => {
    const totpCode = $("#totp-code").value.trim();
    const recoveryCode = $("#recovery-code").value.trim();
    if (!totpCode && !recoveryCode) {
      say(out, "Enter the code from your authenticator app, or a recovery code.");
      return;
    }
    const mfaCredentials = { challenge };
    if (totpCode) mfaCredentials.totpCode = totpCode;
    else mfaCredentials.recoveryCode = recoveryCode;
    busy(form.querySelector("button[type=submit]"), out, async () => {
      await api("POST", "auth/sessions", { mfaCredentials });
      goTo(next);
    });
  });
  passkeyButton.onclick = () =>
    busy(passkeyButton, out, async () => {
      const { options } = await api("POST", "auth/passkeys/options", { mfaChallenge: challenge });
      let passkey;
      try {
        passkey = await webauthn.authenticate(options);
      } catch (error) {
        throw new Error(webauthn.ceremonyError(error) || errorText(error));
      }
      await api("POST", "auth/sessions", { mfaCredentials: { challenge, passkey } });
      goTo(next);
    });
}

// A passwordless sign-in with a discoverable passkey.
export async function signInWithPasskey(out) {
  const { options } = await api("POST", "auth/passkeys/options", {});
  let credential;
  try {
    credential = await webauthn.authenticate(options);
  } catch (error) {
    say(out, webauthn.ceremonyError(error) || errorText(error));
    return;
  }
  await signInWith({ passkeyCredentials: { credential } }, out);
}
