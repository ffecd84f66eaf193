"""The approval console's one script: times in the viewer's time zone, enrol a passkey, and approve with one.
Served by the console itself."""

from __future__ import annotations

# Byte conversions are written out (not PublicKeyCredential.parse*FromJSON / toJSON) so that browsers from
# before those helpers work too. Nothing here decides anything: the server checks every answer.
PASSKEY_JS = r"""
"use strict";
(function () {
  function bytes(text) {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(b64 + "===".slice((b64.length + 3) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }
  function b64url(buffer) {
    let raw = "";
    for (const b of new Uint8Array(buffer)) raw += String.fromCharCode(b);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function say(form, text) {
    const line = form.querySelector(".passkey-status");
    if (line) { line.textContent = text; line.hidden = false; }
  }
  function unsupported(form) {
    if (window.PublicKeyCredential && navigator.credentials) return false;
    say(form, "This browser cannot use passkeys here.");
    return true;
  }

  // Times in the viewer's own zone, UTC beside; the server's rendering stays where this cannot run.
  const utcZone = /^(Etc\/)?(UTC|GMT|Universal|Zulu)$/;
  for (const t of document.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (isNaN(d.getTime())) continue;
    try {
      const local = new Intl.DateTimeFormat("en-GB", {
        weekday: "short", day: "2-digit", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
        hourCycle: "h23", timeZoneName: "short",
      }).format(d);
      const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
      const utc = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", hourCycle: "h23",
        timeZone: "UTC" }).format(d);
      t.textContent = utcZone.test(zone) ? local : local + " (" + utc + " UTC)";
      t.title = "in your browser's time zone" + (zone ? " (" + zone + ")" : "");
    } catch (error) { /* the server's rendering stays */ }
  }

  const enrol = document.querySelector("form[data-passkey-enrol]");
  if (enrol) enrol.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (unsupported(enrol)) return;
    const o = JSON.parse(enrol.dataset.options);
    const publicKey = Object.assign({}, o, {
      challenge: bytes(o.challenge),
      user: Object.assign({}, o.user, { id: bytes(o.user.id) }),
      excludeCredentials: (o.excludeCredentials || []).map((c) => Object.assign({}, c, { id: bytes(c.id) })),
    });
    try {
      const made = await navigator.credentials.create({ publicKey });
      enrol.elements.credential.value = JSON.stringify({
        id: made.id, rawId: b64url(made.rawId), type: made.type,
        response: {
          clientDataJSON: b64url(made.response.clientDataJSON),
          attestationObject: b64url(made.response.attestationObject),
          transports: made.response.getTransports ? made.response.getTransports() : [],
        },
        clientExtensionResults: made.getClientExtensionResults(),
      });
      enrol.submit();
    } catch (error) {
      say(enrol, "No passkey was added: " + error.message);
    }
  });

  const approve = document.querySelector("form[data-passkey-approve]");
  if (approve) approve.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (unsupported(approve)) return;
    const d = approve.dataset;
    try {
      const got = await navigator.credentials.get({ publicKey: {
        challenge: bytes(d.challenge),
        rpId: d.rpId,
        allowCredentials: d.credentials.split(" ").filter(Boolean).map((id) => ({ type: "public-key", id: bytes(id) })),
        userVerification: "required",
        timeout: 120000,
      } });
      approve.elements.assertion.value = JSON.stringify({
        id: got.id, rawId: b64url(got.rawId), type: got.type,
        response: {
          clientDataJSON: b64url(got.response.clientDataJSON),
          authenticatorData: b64url(got.response.authenticatorData),
          signature: b64url(got.response.signature),
          userHandle: got.response.userHandle ? b64url(got.response.userHandle) : null,
        },
        clientExtensionResults: got.getClientExtensionResults(),
      });
      approve.submit();
    } catch (error) {
      say(approve, "Not approved: your passkey did not answer (" + error.message + ").");
    }
  });
})();
"""
