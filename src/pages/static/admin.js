// /account/admin: users, instance switches and identity providers (SPEC §3, §8).

import { $, ApiError, api, busy, currentUser, el, enc, errorText, goTo, onSubmit, say, when } from "./api.js";

const me = await currentUser().catch((error) => {
  say($("#page-error"), errorText(error));
  return undefined;
});
if (me === null) goTo("signin?next=admin");
else if (me && me.role !== "ADMIN") goTo("./");
else if (me) start(me);

function start(admin) {
  $("#who").textContent = `Signed in as ${admin.username}`;
  $("#admin").hidden = false;
  $("#sign-out").addEventListener("click", (event) =>
    busy(event.currentTarget, $("#page-error"), async () => {
      await api("POST", "auth/signout");
      goTo("signin?signedOut=1");
    }),
  );

  // -- users ----------------------------------------------------------------------------

  const usersOut = $("#users-error");
  const usersList = $("#users");
  const more = $("#users-more");
  let nextPageToken = "";

  async function loadUsers(reset) {
    const query = new URLSearchParams({ pageSize: "50" });
    if (!reset && nextPageToken) query.set("pageToken", nextPageToken);
    const page = await api("GET", `users?${query}`);
    const rows = page.users.map(userRow);
    if (reset) usersList.replaceChildren(...rows);
    else usersList.append(...rows);
    nextPageToken = page.nextPageToken || "";
    more.hidden = !nextPageToken;
  }
  more.addEventListener("click", () => busy(more, usersOut, () => loadUsers(false)));

  function userRow(user) {
    const row = el("li", { "data-user": user.username });
    const render = (current) => {
      const archived = current.state === "ARCHIVED";
      const isAdmin = current.role === "ADMIN";
      const self = current.username === admin.username;
      const role = el("button", { type: "button", class: "secondary", text: isAdmin ? "Make user" : "Make admin", disabled: self });
      const state = el("button", { type: "button", class: archived ? "secondary" : "danger", text: archived ? "Restore" : "Archive", disabled: self });
      const change = (button, patch) =>
        busy(button, usersOut, async () => {
          render(await api("PATCH", `users/${enc(current.username)}`, patch));
        });
      role.addEventListener("click", () => change(role, { role: isAdmin ? "USER" : "ADMIN" }));
      state.addEventListener("click", () => change(state, { state: archived ? "NORMAL" : "ARCHIVED" }));
      const facts = [isAdmin ? "Admin" : "User", archived ? "archived" : "active", `joined ${when(current.createTime)}`];
      row.replaceChildren(
        el(
          "div",
          { class: "what" },
          el("strong", { text: current.displayName ? `${current.username} (${current.displayName})` : current.username }),
          el("span", { class: "muted", "data-facts": "", text: facts.join(", ") }),
        ),
        el("div", { class: "actions" }, role, state),
      );
    };
    render(user);
    return row;
  }

  // -- instance settings ----------------------------------------------------------------

  const settingsOut = $("#settings-error");
  async function loadSettings() {
    const settings = await api("GET", "instance/settings");
    $("#disallow-registration").checked = !!settings.disallowUserRegistration;
    $("#disallow-password").checked = !!settings.disallowPasswordAuth;
  }
  onSubmit($("#settings-form"), (event) => {
    busy(event.currentTarget.querySelector("button[type=submit]"), settingsOut, async () => {
      await api("PATCH", "instance/settings", {
        disallowUserRegistration: $("#disallow-registration").checked,
        disallowPasswordAuth: $("#disallow-password").checked,
      });
      await loadSettings();
      say(settingsOut, "Settings saved.", "notice");
    });
  });

  // -- identity providers ---------------------------------------------------------------

  const idpsOut = $("#idps-error");
  const form = $("#idp-form");
  let editing = null;

  const fields = {
    title: $("#idp-title"),
    type: $("#idp-type"),
    clientId: $("#idp-client-id"),
    clientSecret: $("#idp-client-secret"),
    authStyle: $("#idp-auth-style"),
    authUrl: $("#idp-auth-url"),
    tokenUrl: $("#idp-token-url"),
    userInfoUrl: $("#idp-userinfo-url"),
    issuer: $("#idp-issuer"),
    scopes: $("#idp-scopes"),
    filter: $("#idp-filter"),
    identifier: $("#idp-map-identifier"),
    displayName: $("#idp-map-name"),
    email: $("#idp-map-email"),
    avatarUrl: $("#idp-map-avatar"),
  };
  function showTypeFields() {
    const oidc = fields.type.value === "OIDC";
    $("#oauth2-fields").hidden = oidc;
    $("#oidc-fields").hidden = !oidc;
  }
  fields.type.addEventListener("change", showTypeFields);

  function resource() {
    const fieldMapping = {
      identifier: fields.identifier.value.trim(),
      displayName: fields.displayName.value.trim(),
      email: fields.email.value.trim(),
      avatarUrl: fields.avatarUrl.value.trim(),
    };
    const common = {
      clientId: fields.clientId.value.trim(),
      clientSecret: fields.clientSecret.value,
      scopes: fields.scopes.value.split(/[\s,]+/).filter(Boolean),
      fieldMapping,
      authStyle: fields.authStyle.value,
    };
    const config =
      fields.type.value === "OIDC"
        ? { oidcConfig: { ...common, issuer: fields.issuer.value.trim() } }
        : {
            oauth2Config: {
              ...common,
              authUrl: fields.authUrl.value.trim(),
              tokenUrl: fields.tokenUrl.value.trim(),
              userInfoUrl: fields.userInfoUrl.value.trim(),
            },
          };
    return { type: fields.type.value, title: fields.title.value.trim(), identifierFilter: fields.filter.value.trim(), config };
  }

  function edit(provider) {
    editing = provider;
    const config = provider.config || {};
    const conf = config.oauth2Config || config.oidcConfig || {};
    const mapping = conf.fieldMapping || {};
    fields.title.value = provider.title || "";
    fields.type.value = provider.type || "OAUTH2";
    fields.clientId.value = conf.clientId || "";
    fields.clientSecret.value = "";
    fields.authStyle.value = conf.authStyle || "client_secret_post";
    fields.authUrl.value = conf.authUrl || "";
    fields.tokenUrl.value = conf.tokenUrl || "";
    fields.userInfoUrl.value = conf.userInfoUrl || "";
    fields.issuer.value = conf.issuer || "";
    fields.scopes.value = (conf.scopes || []).join(" ");
    fields.filter.value = provider.identifierFilter || "";
    fields.identifier.value = mapping.identifier || "";
    fields.displayName.value = mapping.displayName || "";
    fields.email.value = mapping.email || "";
    fields.avatarUrl.value = mapping.avatarUrl || "";
    showTypeFields();
    $("#idp-form-title").textContent = `Edit ${provider.title || provider.name}`;
    $("#idp-save").textContent = "Save identity provider";
    $("#idp-cancel").hidden = false;
    fields.title.focus();
  }
  function stopEditing() {
    editing = null;
    form.reset();
    showTypeFields();
    $("#idp-form-title").textContent = "Add an identity provider";
    $("#idp-save").textContent = "Add identity provider";
    $("#idp-cancel").hidden = true;
  }
  $("#idp-cancel").addEventListener("click", stopEditing);

  async function loadProviders() {
    try {
      const { identityProviders } = await api("GET", "identity-providers");
      $("#idps").replaceChildren(...identityProviders.map(providerRow));
      if (!identityProviders.length) $("#idps").append(el("li", { class: "muted", text: "No identity providers." }));
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        form.hidden = true;
        say(idpsOut, "Identity providers are not available on this server.", "muted");
        return;
      }
      say(idpsOut, errorText(error));
    }
  }
  function providerRow(provider) {
    const id = provider.name.split("/").pop();
    const editButton = el("button", { type: "button", class: "secondary", text: "Edit" });
    editButton.addEventListener("click", () => edit(provider));
    const remove = el("button", { type: "button", class: "danger", text: "Delete" });
    remove.addEventListener("click", () =>
      busy(remove, idpsOut, async () => {
        await api("DELETE", `identity-providers/${enc(id)}`);
        if (editing && editing.name === provider.name) stopEditing();
        await loadProviders();
      }),
    );
    const config = provider.config || {};
    const where = (config.oauth2Config && config.oauth2Config.authUrl) || (config.oidcConfig && config.oidcConfig.issuer) || "";
    return el(
      "li",
      { "data-idp": id },
      el(
        "div",
        { class: "what" },
        el("strong", { text: provider.title || provider.name }),
        el("span", { class: "muted", text: `${provider.type === "OIDC" ? "OpenID Connect" : "OAuth 2.0"} · ${where}` }),
      ),
      el("div", { class: "actions" }, editButton, remove),
    );
  }
  onSubmit(form, (event) => {
    busy($("#idp-save"), idpsOut, async () => {
      const body = resource();
      if (editing) {
        await api("PATCH", `identity-providers/${enc(editing.name.split("/").pop())}`, body);
      } else {
        await api("POST", "identity-providers", body);
      }
      stopEditing();
      await loadProviders();
      say(idpsOut, "Identity provider saved.", "notice");
    });
  });

  busy(null, usersOut, () => loadUsers(true));
  busy(null, settingsOut, loadSettings);
  loadProviders();
}
