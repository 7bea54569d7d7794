// /account/signup: a new account, then signed in with a session straight away.

import { $, api, busy, onSubmit } from "./api.js";
import { signInWith } from "./sign-in-steps.js";

const out = $("#error");

onSubmit($("#signup-form"), (event) => {
  const form = event.currentTarget;
  const username = $("#username").value.trim();
  const password = $("#password").value;
  busy(form.querySelector("button[type=submit]"), out, async () => {
    await api("POST", "users", { user: { username, password } });
    await signInWith({ passwordCredentials: { username, password } }, out);
  });
});
