# Shared set-up steps for scripts/serve and scripts/test.

ensure_python() {
    if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "Huddle needs Python 3.11 or newer (python3 is $(python3 --version 2>&1))" >&2
        exit 1
    fi
}

# pip-install the project (editable) with the given extras, quietly; a no-op when satisfied.
install_python_packages() {
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e "$1"
}

# Debian's Chromium for the browser tests (tests/browser/), which Playwright drives at
# /usr/bin/chromium. Installed only when missing; Playwright's own browser download
# (`playwright install`) is never used.
ensure_chromium() {
    if [ -x /usr/bin/chromium ]; then
        return
    fi
    echo "== installing chromium (apt-get)"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
}

# Debian's coturn for the TURN tests (tests/test_turn.py) and `huddle turn`.
# Installed only when turnserver is missing.
ensure_coturn() {
    if command -v turnserver >/dev/null 2>&1 || [ -x /usr/bin/turnserver ]; then
        return
    fi
    echo "== installing coturn (apt-get)"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y coturn
}

# Debian's iptables for tests/test_udp_blocked.py, which drops UDP inside a network
# namespace it creates. Installed only when iptables is missing.
ensure_iptables() {
    if command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ]; then
        return
    fi
    echo "== installing iptables (apt-get)"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y iptables
}
