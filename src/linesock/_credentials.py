"""TLS contexts and the shared token from files: the helpers the CLI and the API share.

Design notes
------------
``linesock serve --tls-cert ...`` and a program that builds its own
:class:`~linesock.Server` need the same thing: an ``ssl.SSLContext`` made
from PEM files, and a token read from a file or ``LINESOCK_TOKEN``, with
the same rules and the same errors.  Each helper here raises ``ValueError``
with one line that names the file (or the variable) and says what is wrong
with it, never a raw ``ssl.SSLError`` whose ``[PEM: NO_START_LINE]`` and
``(_ssl.c:4123)`` mean nothing to the person who gave the file.  The command
line prints that line and exits 1; a program can show it as it is.

A key that needs a passphrase is refused rather than prompted for: OpenSSL
would otherwise stop and read the terminal, and a server started by a script
or a service manager would hang.  The token never appears in a message.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Final, TypeAlias

__all__ = [
    "TOKEN_ENVIRONMENT_VARIABLE",
    "create_client_ssl_context",
    "create_server_ssl_context",
    "read_token",
]

#: The environment variable :func:`read_token` reads when it is given no file.
TOKEN_ENVIRONMENT_VARIABLE: Final = "LINESOCK_TOKEN"

#: A file name, as ``open()`` takes it.
FilePath: TypeAlias = str | os.PathLike[str]

# What the ssl module appends to its messages: the C source line.
_SSL_SOURCE_LINE: Final = re.compile(r"\s*\(_ssl\.c:\d+\)$")
# OpenSSL's "[LIBRARY: CODE]" prefix.
_SSL_CODE_PREFIX: Final = re.compile(r"^\[[^\]]*\]\s*")


def create_server_ssl_context(
    cert: FilePath, key: FilePath, client_ca: FilePath | None = None
) -> ssl.SSLContext:
    """A server-side TLS context for ``ssl_context=`` of a server, from PEM files.

    Args:
        cert: the server's certificate chain (PEM).
        key: its private key (PEM, unencrypted).
        client_ca: when given, every client must present a certificate signed
            by a CA in this file (PEM): mutual TLS.

    Raises:
        ValueError: a file cannot be read, the key is encrypted or does not
            belong to the certificate, or a file does not hold what it should;
            the one-line message names the file.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _load_certificate(context, cert, key)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        _check_readable("the CA file", client_ca)
        try:
            context.load_verify_locations(cafile=client_ca)
        except ssl.SSLError as exc:
            raise _authority_error(client_ca, exc) from exc
    return context


def create_client_ssl_context(
    ca: FilePath | None = None, cert: FilePath | None = None, key: FilePath | None = None
) -> ssl.SSLContext:
    """A client-side TLS context for ``ssl_context=`` of a client, from PEM files.

    The server's certificate and host name are checked, as
    ``ssl.create_default_context()`` does.

    Args:
        ca: trust only the CA certificates in this file (PEM); without it,
            the system's CAs.
        cert: a client certificate (PEM) to present, for a server that
            requires one (mutual TLS); needs *key*.
        key: the private key of *cert* (PEM, unencrypted).

    Raises:
        ValueError: *cert* without *key* or the reverse, a file that cannot be
            read, an encrypted key or one that does not belong to the
            certificate, or a file that does not hold what it should; the
            one-line message names the file.
    """
    if ca is None:
        context = ssl.create_default_context()
    else:
        _check_readable("the CA file", ca)
        try:
            context = ssl.create_default_context(cafile=ca)  # this CA file alone
        except ssl.SSLError as exc:
            raise _authority_error(ca, exc) from exc
    if cert is not None or key is not None:
        if cert is None or key is None:
            raise ValueError("cert and key go together: give both or neither")
        _load_certificate(context, cert, key)
    return context


def read_token(path: FilePath | None = None, environ: Mapping[str, str] = os.environ) -> str | None:
    """The shared token from the file *path*, else from ``LINESOCK_TOKEN`` in *environ*.

    Surrounding whitespace (a file's final newline, say) is dropped.  Returns
    ``None`` when no *path* is given and the variable is not set: no token.

    Raises:
        ValueError: the file cannot be read or is not UTF-8 text, or the token
            comes out empty or holds a space or a line break (for the variable
            too: one set but blank never means "no token", so a secret that
            failed to reach a script does not open the server).  The message
            names the file or the variable, never the token.
    """
    if path is not None:
        source = f"the token file {path}"
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read {source}: {_file_error_reason(exc)}") from exc
        except UnicodeDecodeError:
            raise ValueError(f"{source} is not UTF-8 text") from None
    else:
        variable = environ.get(TOKEN_ENVIRONMENT_VARIABLE)
        if variable is None:
            return None
        text, source = variable, TOKEN_ENVIRONMENT_VARIABLE
    token = text.strip()
    if not token:
        raise ValueError(f"{source} is empty")
    if any(character in token for character in " \r\n"):
        raise ValueError(f"the token in {source} holds a space or a line break")
    return token


class _EncryptedKey(Exception):
    """The private key wants a passphrase (raised instead of letting OpenSSL prompt)."""


def _refuse_passphrase() -> str:
    """The passphrase callback of ``load_cert_chain``: never prompt, fail instead."""
    raise _EncryptedKey


def _load_certificate(context: ssl.SSLContext, cert: FilePath, key: FilePath) -> None:
    """Load a certificate chain and its key into *context*, or raise a one-line ValueError."""
    _check_readable("the TLS certificate", cert)
    _check_readable("the TLS key", key)
    try:
        context.load_cert_chain(cert, key, password=_refuse_passphrase)
    except _EncryptedKey:
        raise ValueError(
            f"the TLS key {key} is encrypted; linesock reads only unencrypted keys"
        ) from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ValueError(
                f"the TLS key {key} does not belong to the certificate {cert}"
            ) from exc
        reason = _ssl_error_reason(exc)
        if reason == "PEM lib":  # OpenSSL's word for "not a PEM certificate or key"
            reason = "they are not a PEM certificate chain and its private key"
        raise ValueError(
            f"cannot load the TLS certificate {cert} with the key {key}: {reason}"
        ) from exc


def _authority_error(path: FilePath, exc: ssl.SSLError) -> ValueError:
    """The one-line error for a CA file that does not hold CA certificates."""
    return ValueError(f"cannot load CA certificates from {path}: {_ssl_error_reason(exc)}")


def _check_readable(what: str, path: FilePath) -> None:
    """Raise a one-line ValueError unless the file *path* can be opened for reading.

    OpenSSL reports a missing file as a generic load failure; opening the
    file first gives the real reason (no such file, permission denied).
    """
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ValueError(f"cannot read {what} {path}: {_file_error_reason(exc)}") from exc


def _file_error_reason(exc: OSError) -> str:
    """An ``OSError``'s reason alone, without the file name it carries."""
    return exc.strerror or str(exc)


def _ssl_error_reason(exc: ssl.SSLError) -> str:
    """An ``SSLError``'s message without its ``[LIBRARY: CODE]`` prefix and C source line."""
    text = _SSL_SOURCE_LINE.sub("", exc.strerror or str(exc))
    return _SSL_CODE_PREFIX.sub("", text)
