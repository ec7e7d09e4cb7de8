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
