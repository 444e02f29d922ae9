# shellcheck shell=bash
# Sourced by ./doit, ./do_ver and ./do_lint after they cd to the repository root.
# Runs ./do_install only when .venv is missing or was installed from another
# pyproject.toml than the current one: ./do_install writes the sha256 of the
# pyproject.toml it installed from into .venv/.linesock-stamp.

if [[ ! -x .venv/bin/python || ! -f .venv/.linesock-stamp ]] \
    || [[ "$(cat .venv/.linesock-stamp)" != "$(sha256sum pyproject.toml | cut -d' ' -f1)" ]]; then
    echo "ensure_venv: .venv is missing or older than pyproject.toml; running ./do_install" >&2
    ./do_install
fi
