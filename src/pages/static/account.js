// /account/: the signed-in user's own security settings (SPEC §10).

import { $, ApiError, api, busy, copy, currentUser, el, enc, errorText, goTo, onSubmit, say, when } from "./api.js";
import { listProviders, providerTitle, startFlow } from "./providers.js";
import * as webauthn from "./webauthn.js";

const me = await currentUser().catch((error) => {
  say($("#page-error"), errorText(error));
  $("#account").hidden = false;
  return undefined;
});
if (me === null) goTo("signin");
if (me) start(me);

function start(user) {
  const base = `users/${enc(user.username)}`;
  $("#who").textContent = `Signed in as ${user.username}`;
  $("#admin-link").hidden = user.role !== "ADMIN";
  $("#account").hidden = false;

  $("#sign-out").addEventListener("click", (event) =>
    busy(event.currentTarget, $("#page-error"), async () => {
      await api("POST", "auth/signout");
      goTo("signin?signedOut=1");
    }),
  );

  // A credential that ended meanwhile (revoked here or elsewhere) sends the person to sign in.
  function signedOutMeanwhile(error) {
    if (error instanceof ApiError && error.status === 401 && !error.reauth) {
      goTo("signin");
      return true;
    }
    return false;
  }

  // -- sessions and sign-ins ------------------------------------------------------------

  const logins = $("#logins");
  async function loadLogins() {
    const out = $("#logins-error");
    try {
      const { sessions } = await api("GET", `${base}/sessions`);
      logins.replaceChildren(...sessions.map(loginRow));
      if (!sessions.length) logins.append(el("li", { class: "muted", text: "No other sign-ins." }));
    } catch (error) {
      if (!signedOutMeanwhile(error)) say(out, errorText(error));
    }
  }
  function loginRow(login) {
    const info = login.clientInfo || {};
    const kind = login.kind === "session" ? "Browser session" : "App sign-in";
    const device = [info.browser, info.os, info.device].filter(Boolean).join(" · ") || "Unknown device";
    const revoke = el("button", { type: "button", class: "danger", text: "Revoke" });
    revoke.addEventListener("click", () =>
      busy(revoke, $("#logins-error"), async () => {
        await api("DELETE", `${base}/sessions/${enc(login.id)}`);
        // Revoking this very session signs this browser out.
        if (!(await currentUser())) return goTo("signin?signedOut=1");
        return loadLogins();
      }),
    );
    return el(
      "li",
      { "data-login": login.id },
      el(
        "div",
        { class: "what" },
        el("strong", { text: device }),
        el("span", { class: "muted", text: `${kind} from ${info.ipAddress || "an unknown address"}, last active ${when(login.lastAccessedAt)}` }),
      ),
      el("div", { class: "actions" }, revoke),
    );
  }

  // -- password -------------------------------------------------------------------------

  onSubmit($("#password-form"), (event) => {
    const form = event.currentTarget;
    const out = $("#password-error");
    busy(form.querySelector("button[type=submit]"), out, async () => {
      await api("PATCH", base, { password: $("#new-password").value, currentPassword: $("#current-password").value });
      form.reset();
      say(out, "Password changed. Your other sessions and sign-ins were ended.", "notice");
      await loadLogins();
    });
  });

  // -- two-factor authentication ----------------------------------------------------------

  const totpOut = $("#totp-error");
  async function loadTotp() {
    try {
      const status = await api("GET", `${base}/totp`);
      $("#totp-status").textContent = status.enabled
        ? `Two-factor authentication is on. Recovery codes left: ${status.recoveryCodesLeft}.`
        : "Two-factor authentication is off. Turn it on to ask for a code from your authenticator app at every sign-in.";
      $("#totp-enable").hidden = status.enabled;
      $("#totp-manage").hidden = !status.enabled;
      if (status.enabled) $("#totp-enrol").hidden = true;
    } catch (error) {
      if (!signedOutMeanwhile(error)) say(totpOut, errorText(error));
    }
  }
  $("#totp-enable").addEventListener("click", (event) =>
    busy(event.currentTarget, totpOut, async () => {
      const enrolment = await api("POST", `${base}/totp`);
      $("#totp-secret").textContent = enrolment.secret;
      const qr = $("#totp-qr");
      qr.hidden = !enrolment.qrCode;
      if (enrolment.qrCode) qr.src = enrolment.qrCode;
      $("#recovery").hidden = true;
      $("#totp-enrol").hidden = false;
      $("#totp-code").focus();
    }),
  );
  $("#totp-secret-copy").addEventListener("click", (event) => copy($("#totp-secret").textContent, event.currentTarget));
  onSubmit($("#totp-confirm-form"), (event) => {
    const form = event.currentTarget;
    busy(form.querySelector("button[type=submit]"), totpOut, async () => {
      const code = $("#totp-code").value.replace(/\s+/g, "");
      const { recoveryCodes } = await api("POST", `${base}/totp/confirm`, { code });
      form.reset();
      $("#totp-secret").textContent = "";
      $("#totp-qr").removeAttribute("src");
      showRecoveryCodes(recoveryCodes);
      await loadTotp();
    });
  });
  function showRecoveryCodes(codes) {
    $("#recovery-codes").textContent = codes.join("\n");
    $("#recovery").hidden = false;
  }
  $("#recovery-copy").addEventListener("click", (event) => copy($("#recovery-codes").textContent, event.currentTarget));
  $("#recovery-regenerate").addEventListener("click", (event) =>
    busy(event.currentTarget, totpOut, async () => {
      const { recoveryCodes } = await api("POST", `${base}/recoveryCodes`);
      showRecoveryCodes(recoveryCodes);
      await loadTotp();
    }),
  );
  $("#totp-disable").addEventListener("click", (event) =>
    busy(event.currentTarget, totpOut, async () => {
      await api("DELETE", `${base}/totp`);
      $("#recovery").hidden = true;
      $("#recovery-codes").textContent = "";
      say(totpOut, "Two-factor authentication is off.", "notice");
      await loadTotp();
    }),
  );

  // -- passkeys -------------------------------------------------------------------------

  const passkeysOut = $("#passkeys-error");
  async function loadPasskeys() {
    try {
      const { passkeys } = await api("GET", `${base}/passkeys`);
      $("#passkeys").replaceChildren(...passkeys.map(passkeyRow));
      if (!passkeys.length) $("#passkeys").append(el("li", { class: "muted", text: "No passkeys yet." }));
    } catch (error) {
      if (signedOutMeanwhile(error)) return;
      if (error instanceof ApiError && error.status === 404) {
        $("#passkey-form").hidden = true;
        say(passkeysOut, "Passkeys are not available on this server.", "muted");
        return;
      }
      say(passkeysOut, errorText(error));
    }
  }
  function passkeyRow(passkey) {
    const remove = el("button", { type: "button", class: "danger", text: "Remove" });
    remove.addEventListener("click", () =>
      busy(remove, passkeysOut, async () => {
        await api("DELETE", `${base}/passkeys/${enc(passkey.id)}`);
        await loadPasskeys();
      }),
    );
    return el(
      "li",
      { "data-passkey": passkey.id },
      el(
        "div",
        { class: "what" },
        el("strong", { text: passkey.displayName || "Passkey" }),
        el("span", { class: "muted", text: `Added ${when(passkey.createdAt)}, last used ${when(passkey.lastUsedAt)}` }),
      ),
      el("div", { class: "actions" }, remove),
    );
  }
  if (!webauthn.supported()) $("#passkey-form").hidden = true;
  onSubmit($("#passkey-form"), (event) => {
    const form = event.currentTarget;
    busy(form.querySelector("button[type=submit]"), passkeysOut, async () => {
      const { options } = await api("POST", `${base}/passkeys/registration`);
      let credential;
      try {
        credential = await webauthn.register(options);
      } catch (error) {
        throw new Error(webauthn.ceremonyError(error) || errorText(error));
      }
      await api("POST", `${base}/passkeys`, { credential, displayName: $("#passkey-name").value.trim() });
      form.reset();
      await loadPasskeys();
    });
  });

  // -- personal access tokens -------------------------------------------------------------

  const tokensOut = $("#tokens-error");
  async function loadTokens() {
    try {
      const { personalAccessTokens } = await api("GET", `${base}/personalAccessTokens`);
      $("#tokens").replaceChildren(...personalAccessTokens.map(tokenRow));
    } catch (error) {
      if (!signedOutMeanwhile(error)) say(tokensOut, errorText(error));
    }
  }
  function tokenRow(token) {
    const tokenId = token.name.split("/").pop();
    const revoke = el("button", { type: "button", class: "danger", text: "Revoke" });
    revoke.addEventListener("click", () =>
      busy(revoke, tokensOut, async () => {
        await api("DELETE", `${base}/personalAccessTokens/${enc(tokenId)}`);
        await loadTokens();
      }),
    );
    const expiry = token.expiresAt ? `expires ${when(token.expiresAt)}` : "never expires";
    return el(
      "li",
      { "data-token": tokenId },
      el(
        "div",
        { class: "what" },
        el("strong", { text: token.description || "(no description)" }),
        el("span", { class: "muted", text: `Created ${when(token.createdAt)}, ${expiry}, last used ${when(token.lastUsedAt)}` }),
      ),
      el("div", { class: "actions" }, revoke),
    );
  }
  onSubmit($("#token-form"), (event) => {
    const form = event.currentTarget;
    busy(form.querySelector("button[type=submit]"), tokensOut, async () => {
      const body = { description: $("#token-description").value.trim(), expiresInDays: Number($("#token-expiry").value) };
      const created = await api("POST", `${base}/personalAccessTokens`, body);
      $("#new-token").textContent = created.token;
      $("#new-token-box").hidden = false;
      form.reset();
      await loadTokens();
    });
  });
  $("#new-token-copy").addEventListener("click", (event) => copy($("#new-token").textContent, event.currentTarget));

  // -- linked identities ------------------------------------------------------------------

  const identitiesOut = $("#identities-error");
  let providers = [];
  async function loadIdentities() {
    try {
      const { linkedIdentities } = await api("GET", `${base}/linkedIdentities`);
      const titles = new Map(providers.map((provider) => [provider.name, providerTitle(provider)]));
      $("#identities").replaceChildren(...linkedIdentities.map((identity) => identityRow(identity, titles)));
      if (!linkedIdentities.length) $("#identities").append(el("li", { class: "muted", text: "No linked identities." }));
    } catch (error) {
      if (signedOutMeanwhile(error)) return;
      if (error instanceof ApiError && error.status === 404) {
        say(identitiesOut, "Identity providers are not available on this server.", "muted");
        return;
      }
      say(identitiesOut, errorText(error));
    }
  }
  function identityRow(identity, titles) {
    const id = identity.name.split("/").pop();
    const remove = el("button", { type: "button", class: "danger", text: "Remove" });
    remove.addEventListener("click", () =>
      busy(remove, identitiesOut, async () => {
        await api("DELETE", `${base}/linkedIdentities/${enc(id)}`);
        await loadIdentities();
      }),
    );
    return el(
      "li",
      { "data-identity": id },
      el(
        "div",
        { class: "what" },
        el("strong", { text: titles.get(identity.idpName) || identity.idpName }),
        el("span", { class: "muted", text: `${identity.externUid}, linked ${when(identity.createTime)}` }),
      ),
      el("div", { class: "actions" }, remove),
    );
  }
  async function loadProviders() {
    providers = await listProviders();
    const box = $("#link-providers");
    box.replaceChildren(
      ...providers.map((provider) => {
        const button = el("button", { type: "button", class: "secondary", text: `Link ${providerTitle(provider)}` });
        button.addEventListener("click", () => busy(button, identitiesOut, () => startFlow(provider, "link")));
        return button;
      }),
    );
  }

  loadLogins();
  loadTotp();
  loadPasskeys();
  loadTokens();
  loadProviders().then(loadIdentities);
}
