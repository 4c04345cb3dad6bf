#!/usr/bin/env bash
# Installs what keyway's interop tests (crates/keyway/tests/it) need beyond the Rust toolchain:
#   - Python: authlib, requests, pyjwt[crypto], jwcrypto, python-odata (pinned), only if not
#     importable;
#   - Chromium at /usr/bin/chromium (Debian package), only if missing;
#   - Node, playwright-core, openid-client and oidc-provider for the browser and OAuth client
#     tests, odata-csdl (OASIS's CSDL schemas) and ajv for the $metadata test, and odata-query for
#     the second OData client test (npm ci), only if
#     one of the modules is missing; xmllint (libxml2-utils) to validate against them;
#   - schemathesis (pinned) in its own virtualenv, only if that venv lacks it;
#   - scim2-tester and scim2-client (pinned, over httpx2) in their own virtualenv, likewise;
#   - curl and jq for the README tour test, only if missing;
#   - HAProxy (Debian package) for the cluster test, only if missing (its service is not
#     started: the test runs its own instance);
#   - systemd-analyze (Debian package systemd) to check deploy/keyway.service, only if missing.
# Safe to rerun: every step checks first and does nothing when its dependency is there.
#
# Environment: KEYWAY_PYTHON (default python3), KEYWAY_CHROMIUM (default /usr/bin/chromium),
# KEYWAY_SCHEMATHESIS_VENV (default /var/tmp/keyway-schemathesis: outside the clone, so a fresh
# clone reuses it), KEYWAY_SCIM_VENV (default /var/tmp/keyway-scim, likewise).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BROWSER_DIR="$ROOT/crates/keyway/tests/interop/browser"
PYTHON="${KEYWAY_PYTHON:-python3}"
CHROMIUM="${KEYWAY_CHROMIUM:-/usr/bin/chromium}"
ST_VENV="${KEYWAY_SCHEMATHESIS_VENV:-/var/tmp/keyway-schemathesis}"
ST_VERSION="4.32.5"
SCIM_VENV="${KEYWAY_SCIM_VENV:-/var/tmp/keyway-scim}"
SCIM_PINS=(
    "scim2-tester==0.5.2"
    "scim2-client[httpx2]==0.13.2"
    "httpx2==2.16.2"
)

PY_MODULES="authlib, requests, jwt, jwcrypto, cryptography, odata, pyodata"
PY_PINS=(
    "authlib==1.9.10"
    "requests==2.34.2"
    "pyjwt[crypto]==2.15.1"
    "jwcrypto==1.6.1"
    # An OData V4 client that builds itself from $metadata (tests/interop/python/odata_v4.py).
    "python-odata==0.8.1"
    # SAP's OData V2 client, against /api/v2/ (tests/interop/python/odata_v2.py).
    "pyodata==1.12.1"
)

say() { printf 'install-test-deps: %s\n' "$*"; }
die() { printf 'install-test-deps: error: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 && SUDO="sudo"
fi

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install $* by hand"
    if [ "$APT_UPDATED" = 0 ]; then
        say "apt-get update"
        $SUDO apt-get update -qq >/dev/null
        APT_UPDATED=1
    fi
    say "apt-get install $*"
    $SUDO env DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes apt-get install -y -qq "$@" >/dev/null
}

# --- The README tour's tools -----------------------------------------------------------------
missing_tools=()
for tool in curl jq; do
    command -v "$tool" >/dev/null 2>&1 || missing_tools+=("$tool")
done
if [ "${#missing_tools[@]}" -gt 0 ]; then
    apt_install "${missing_tools[@]}"
else
    say "curl and jq present"
fi

# --- xmllint (the CSDL XML of $metadata is validated against OASIS's schemas) ---------------
if command -v xmllint >/dev/null 2>&1; then
    say "xmllint present"
else
    apt_install libxml2-utils
fi

# --- Python ----------------------------------------------------------------------------------
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    apt_install python3 python3-pip
    PYTHON=python3
fi
if "$PYTHON" -c "import ${PY_MODULES}" >/dev/null 2>&1; then
    say "python modules present ($PYTHON)"
else
    if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
        apt_install python3-pip
    fi
    say "pip install ${PY_PINS[*]}"
    pip_args=(install --quiet --disable-pip-version-check --no-input "${PY_PINS[@]}")
    if ! out="$("$PYTHON" -m pip "${pip_args[@]}" 2>&1)"; then
        if grep -q externally-managed <<<"$out"; then
            # A distribution Python (PEP 668): these test-only packages go in anyway.
            "$PYTHON" -m pip "${pip_args[@]}" --break-system-packages
        else
            printf '%s\n' "$out" >&2
            die "pip install failed"
        fi
    fi
    "$PYTHON" -c "import ${PY_MODULES}" || die "python modules still not importable"
fi

# --- Chromium --------------------------------------------------------------------------------
if [ -x "$CHROMIUM" ]; then
    say "chromium present ($CHROMIUM)"
else
    apt_install chromium
    [ -x "$CHROMIUM" ] || die "chromium installed but $CHROMIUM is missing"
fi

# --- HAProxy ---------------------------------------------------------------------------------
if command -v haproxy >/dev/null 2>&1; then
    say "haproxy present ($(haproxy -v | head -1 | cut -d' ' -f3))"
else
    apt_install haproxy
    command -v haproxy >/dev/null 2>&1 || die "haproxy installed but not on PATH"
fi

# --- systemd-analyze (checks deploy/keyway.service) ----------------------------------------------
if command -v systemd-analyze >/dev/null 2>&1; then
    say "systemd-analyze present"
else
    apt_install systemd
fi

# --- Node and playwright-core ----------------------------------------------------------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
fi
if [ -d "$BROWSER_DIR/node_modules/playwright-core" ] && [ -d "$BROWSER_DIR/node_modules/openid-client" ] \
    && [ -d "$BROWSER_DIR/node_modules/oidc-provider" ] && [ -d "$BROWSER_DIR/node_modules/odata-csdl" ] \
    && [ -d "$BROWSER_DIR/node_modules/ajv" ] && [ -d "$BROWSER_DIR/node_modules/odata-query" ]; then
    say "playwright-core, openid-client, oidc-provider, odata-csdl, ajv and odata-query present ($BROWSER_DIR/node_modules)"
else
    say "npm ci in $BROWSER_DIR"
    # playwright-core never downloads browsers; the test uses the system Chromium.
    (cd "$BROWSER_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# --- schemathesis (own venv: its dependencies must not move the pinned ones above) ----------
if [ "$("$ST_VENV/bin/st" --version 2>/dev/null)" = "st, version $ST_VERSION" ]; then
    say "schemathesis $ST_VERSION present ($ST_VENV)"
else
    if ! "$PYTHON" -m venv --help >/dev/null 2>&1; then
        apt_install python3-venv
    fi
    say "schemathesis $ST_VERSION into $ST_VENV"
    rm -rf "$ST_VENV"
    "$PYTHON" -m venv "$ST_VENV"
    "$ST_VENV/bin/pip" install --quiet --disable-pip-version-check --no-input "schemathesis==$ST_VERSION"
    "$ST_VENV/bin/st" --version >/dev/null || die "schemathesis did not install"
fi

# --- SCIM interop: scim2-tester and scim2-client (own venv, like schemathesis) --------------
scim_ready() {
    "$SCIM_VENV/bin/python" - <<'PY' >/dev/null 2>&1
from importlib.metadata import version
import scim2_tester, scim2_client, httpx2
assert version("scim2-tester") == "0.5.2" and version("scim2-client") == "0.13.2"
PY
}
if scim_ready; then
    say "scim2-tester and scim2-client present ($SCIM_VENV)"
else
    if ! "$PYTHON" -m venv --help >/dev/null 2>&1; then
        apt_install python3-venv
    fi
    say "scim2-tester and scim2-client into $SCIM_VENV"
    rm -rf "$SCIM_VENV"
    "$PYTHON" -m venv "$SCIM_VENV"
    "$SCIM_VENV/bin/pip" install --quiet --disable-pip-version-check --no-input "${SCIM_PINS[@]}"
    scim_ready || die "scim2-tester did not install"
fi

say "done"
