// Passkeys on keyway's pages (served as /passkeys.js, so the pages' CSP stays
// `script-src 'self'`). Every form marked data-passkey="create" (register a passkey) or
// data-passkey="get" (sign in with one) is shown when the browser has WebAuthn; its button:
//   1. POSTs the form's purpose, csrf and (after a password) ticket to data-options, which
//      answers {ceremony, publicKey} (binary fields base64url, as webauthn-rs writes them);
//   2. asks the authenticator (navigator.credentials.create or .get);
//   3. puts the ceremony and the answer (JSON, binary fields base64url) into the form's
//      passkey_ceremony and passkey_response fields and submits it: the server answers with
//      a page, as for a password.
'use strict';

(() => {
  const decode = (text) => {
    const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
    const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  };
  const encode = (buffer) => {
    let text = '';
    for (const byte of new Uint8Array(buffer)) {
      text += String.fromCharCode(byte);
    }
    return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };

  function creationOptions(options) {
    const publicKey = options.publicKey;
    publicKey.challenge = decode(publicKey.challenge);
    publicKey.user.id = decode(publicKey.user.id);
    for (const credential of publicKey.excludeCredentials || []) {
      credential.id = decode(credential.id);
    }
    return { publicKey };
  }

  function requestOptions(options) {
    const publicKey = options.publicKey;
    publicKey.challenge = decode(publicKey.challenge);
    for (const credential of publicKey.allowCredentials || []) {
      credential.id = decode(credential.id);
    }
    return { publicKey };
  }

  function registration(credential) {
    const response = credential.response;
    return {
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      response: {
        attestationObject: encode(response.attestationObject),
        clientDataJSON: encode(response.clientDataJSON),
        transports: response.getTransports ? response.getTransports() : undefined,
      },
      extensions: credential.getClientExtensionResults(),
    };
  }

  function assertion(credential) {
    const response = credential.response;
    return {
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      response: {
        authenticatorData: encode(response.authenticatorData),
        clientDataJSON: encode(response.clientDataJSON),
        signature: encode(response.signature),
        userHandle: response.userHandle ? encode(response.userHandle) : null,
      },
      extensions: credential.getClientExtensionResults(),
    };
  }

  // What a person reads when the browser or the hub says no.
  function message(error) {
    if (error && error.name === 'NotAllowedError') {
      return 'The passkey prompt was closed or timed out. Try again, or sign in another way.';
    }
    if (error && error.name === 'InvalidStateError') {
      return 'This authenticator already holds a passkey for your account here.';
    }
    // The page was opened at another address than the hub's issuer (e.g. 127.0.0.1 for
    // localhost): the browser refuses the RP ID.
    if (error && error.name === 'SecurityError' && rpId) {
      return `Passkeys here belong to ${rpId}, and this page is at ${location.hostname}: open ` +
        `the hub at its own address (its issuer) and try again.`;
    }
    return (error && error.message) || String(error);
  }

  // The RP ID of the last options, to explain a refusal.
  let rpId = '';

  async function run(form) {
    const fields = new URLSearchParams();
    fields.set('purpose', form.dataset.purpose);
    for (const name of ['csrf', 'ticket']) {
      if (form.elements[name]) {
        fields.set(name, form.elements[name].value);
      }
    }
    const reply = await fetch(form.dataset.options, {
      method: 'POST',
      body: fields,
      credentials: 'same-origin',
    });
    const options = await reply.json();
    if (!reply.ok) {
      throw new Error(options.error_description || `the hub answered ${reply.status}`);
    }
    rpId = options.publicKey.rpId || (options.publicKey.rp && options.publicKey.rp.id) || '';
    const answer =
      form.dataset.passkey === 'create'
        ? registration(await navigator.credentials.create(creationOptions(options)))
        : assertion(await navigator.credentials.get(requestOptions(options)));
    form.elements.passkey_ceremony.value = options.ceremony;
    form.elements.passkey_response.value = JSON.stringify(answer);
    form.submit();
  }

  for (const form of document.querySelectorAll('form[data-passkey]')) {
    if (!window.PublicKeyCredential) {
      continue;
    }
    form.hidden = false;
    const button = form.querySelector('button.passkey');
    const error = form.querySelector('.passkey-error');
    button.addEventListener('click', async () => {
      button.disabled = true;
      error.hidden = true;
      try {
        await run(form);
      } catch (failure) {
        error.textContent = message(failure);
        error.hidden = false;
        button.disabled = false;
      }
    });
  }
})();
