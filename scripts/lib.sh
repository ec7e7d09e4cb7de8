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

# Install Debian packages with apt-get, only those whose program is missing.
#   ensure_debian_packages PROGRAM:PACKAGE ...
ensure_debian_packages() {
    local missing=() pair
    for pair in "$@"; do
        local program="${pair%%:*}" package="${pair##*:}"
        if ! command -v "$program" >/dev/null 2>&1 && [ ! -x "/usr/bin/$program" ] && [ ! -x "/usr/sbin/$program" ]; then
            missing+=("$package")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return
    fi
    echo "== installing ${missing[*]} (apt-get)"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}

# What the tests need from Debian: Chromium for tests/browser (Playwright drives
# /usr/bin/chromium; its own browser download is never used), coturn for the TURN
# tests and `huddle turn`, iptables for tests/test_udp_blocked.py.
ensure_test_packages() {
    ensure_debian_packages chromium:chromium turnserver:coturn iptables:iptables
}
