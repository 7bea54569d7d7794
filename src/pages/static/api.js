// The account pages' one way to the API (SPEC §3, §7, §8): same origin, the session cookie,
// JSON both ways. No token is ever kept by a page: the cookie is HttpOnly.

// This module lives at <base>/account/static/<version>/api.js; the API is <base>/api/v1/,
// whatever stage or custom-domain base path <base> is.
const API_ROOT = new URL("../../../api/v1/", import.meta.url);
const PAGES_ROOT = new URL("../../", import.meta.url);

export function pageUrl(name) {
  return new URL(name, PAGES_ROOT);
}

export class ApiError extends Error {
  constructor(status, body, headers) {
    const message = (body && typeof body.message === "string" && body.message) || `request failed (${status})`;
    super(message);
    this.status = status;
    this.code = body && body.code;
    this.details = (body && Array.isArray(body.details) && body.details) || [];
    // RFC 9470: the API wants a fresh sign-in before this change.
    this.reauth = status === 401 && /insufficient_user_authentication/.test(headers.get("www-authenticate") || "");
  }

  // The ErrorInfo of a google.rpc.Status answer with this reason, if any.
  info(reason) {
    return this.details.find((detail) => detail && detail.reason === reason) || null;
  }
}

export async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(new URL(path.replace(/^\//, ""), API_ROOT), init);
  } catch {
    throw new ApiError(0, { message: "the server could not be reached; check your connection and try again" }, new Headers());
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    throw new ApiError(response.status, parsed, response.headers);
  }
  return parsed;
}

export const enc = encodeURIComponent;

// -- the page ---------------------------------------------------------------------------

export function $(selector, root = document) {
  return root.querySelector(selector);
}

// An element with text children only: nothing a person typed is ever parsed as HTML.
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Shows `message` (an error's or a notice) in the element, or hides it when empty.
export function say(target, message, kind = "error") {
  target.textContent = message || "";
  target.className = kind;
  target.hidden = !message;
}

export function errorText(error) {
  if (error instanceof ApiError && error.reauth) {
    return "For your security, sign in again before making this change (your last sign-in is too old).";
  }
  return error && error.message ? error.message : String(error);
}

// Every form ships with method="post" and its submit buttons disabled (tested): before its
// page's module has run (a slow network, a module that failed to load) an Enter or a password
// manager's auto-submit then submits nothing, and never a GET that would put what was typed,
// a password or a code, in the address bar and the history. This attaches the form's one
// handler, the browser's own submission cancelled, and only then enables its buttons.
export function onSubmit(form, handler) {
  form.onsubmit = (event) => {
    event.preventDefault();
    handler(event);
  };
  for (const button of form.querySelectorAll("button[type=submit]")) button.disabled = false;
}

// Runs `action` with the button disabled; its errors go to `out`.
export async function busy(button, out, action) {
  if (out) say(out, "");
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (error) {
    if (out) say(out, errorText(error));
    if (error instanceof ApiError && error.reauth) offerSignInAgain(out);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

// A link to the sign-in page that signs in again, rather than passing on to the account
// (signin without ?next= sends someone still signed in straight back).
export function offerSignInAgain(out) {
  if (!out) return;
  const link = el("a", { href: pageUrl("signin?next=account").href, text: "Sign in again" });
  out.append(" ", link);
}

export function when(value) {
  if (!value) return "never";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

export async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  } catch {
    button.textContent = "Select and copy it";
  }
}

// The signed-in user, or null (the session cookie is missing or ended).
export async function currentUser() {
  try {
    return (await api("GET", "auth/sessions/current")).user;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

export function goTo(name) {
  window.location.assign(pageUrl(name).href);
}

// Only our own pages are places to go back to after signing in: `next` if it names one.
export function allowedNext(next) {
  return next === "admin" ? "admin" : "./";
}

// Where this page's `?next=` says to go after signing in.
export function nextPage() {
  return allowedNext(new URLSearchParams(window.location.search).get("next"));
}
