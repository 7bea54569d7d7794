// Passkeys in the browser (SPEC §7): the API speaks the W3C JSON forms; the browser's
// credentials API wants ArrayBuffers. Both directions convert base64url here, using the
// browser's own JSON helpers when it has them (WebAuthn Level 3).

export function supported() {
  return typeof window.PublicKeyCredential === "function" && !!navigator.credentials;
}

export function toBase64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromBase64url(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

function descriptors(list) {
  return (list || []).map((item) => ({ ...item, id: fromBase64url(item.id) }));
}

export function creationOptions(json) {
  if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function") {
    return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    user: { ...json.user, id: fromBase64url(json.user.id) },
    excludeCredentials: descriptors(json.excludeCredentials),
  };
}

export function requestOptions(json) {
  if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function") {
    return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  }
  return { ...json, challenge: fromBase64url(json.challenge), allowCredentials: descriptors(json.allowCredentials) };
}

function credentialJson(credential) {
  if (typeof credential.toJSON === "function") return credential.toJSON();
  const response = credential.response;
  const json = {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment || undefined,
    clientExtensionResults: credential.getClientExtensionResults(),
    response: { clientDataJSON: toBase64url(response.clientDataJSON) },
  };
  if (response.attestationObject) {
    json.response.attestationObject = toBase64url(response.attestationObject);
    if (typeof response.getTransports === "function") json.response.transports = response.getTransports();
  } else {
    json.response.authenticatorData = toBase64url(response.authenticatorData);
    json.response.signature = toBase64url(response.signature);
    if (response.userHandle) json.response.userHandle = toBase64url(response.userHandle);
  }
  return json;
}

// RegistrationResponseJSON for POST /users/{u}/passkeys.
export async function register(optionsJson) {
  const credential = await navigator.credentials.create({ publicKey: creationOptions(optionsJson) });
  if (!credential) throw new Error("no passkey was created");
  return credentialJson(credential);
}

// AuthenticationResponseJSON for passkeyCredentials or mfaCredentials.passkey.
export async function authenticate(optionsJson) {
  const credential = await navigator.credentials.get({ publicKey: requestOptions(optionsJson) });
  if (!credential) throw new Error("no passkey was chosen");
  return credentialJson(credential);
}

// The browser's own words for a cancelled or refused ceremony are technical; say it plainly.
export function ceremonyError(error) {
  if (error && error.name === "NotAllowedError") return "The passkey request was cancelled or timed out.";
  if (error && error.name === "InvalidStateError") return "This device already holds a passkey for your account.";
  return null;
}
