# shellcheck shell=bash
# Sourced by ./doit and the do_* scripts after they cd to the repository root.
# Runs ./do_install only when .venv is missing or was installed from another
# pyproject.toml or constraints/dev.txt than the current ones: ./do_install
# writes the sha256 of both into .venv/.linesock-stamp.

if [[ ! -x .venv/bin/python || ! -f .venv/.linesock-stamp ]] \
    || [[ "$(cat .venv/.linesock-stamp)" != "$(sha256sum pyproject.toml constraints/dev.txt)" ]]; then
    echo "ensure_venv: .venv is missing or older than pyproject.toml or constraints/dev.txt;" \
        "running ./do_install" >&2
    ./do_install
fi
