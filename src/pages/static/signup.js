// /account/signup: a new account, then signed in with a session straight away.

import { $, api, busy } from "./api.js";
import { signInWith } from "./sign-in-steps.js";

const out = $("#error");

$("#signup-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const username = $("#username").value.trim();
  const password = $("#password").value;
  busy(form.querySelector("button[type=submit]"), out, async () => {
    await api("POST", "users", { user: { username, password } });
    await signInWith({ passwordCredentials: { username, password } }, out);
  });
});
