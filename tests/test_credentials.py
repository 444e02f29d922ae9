"""The TLS and token helpers the CLI and the API share: what they build, and how they refuse.

TLS handshakes run in memory (``ssl.MemoryBIO``): no socket, no thread.
"""

from __future__ import annotations

import dataclasses
import ssl
from pathlib import Path

import pytest
import trustme

import linesock
from linesock import create_client_ssl_context, create_server_ssl_context, read_token

TOKEN = "rig-42-Secret"


@dataclasses.dataclass(frozen=True)
class TLSFiles:
    """PEM files of a throwaway CA, a server and a client certificate, and bad files."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_ca: Path
    encrypted_key: Path
    missing: Path


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """Certificates for 127.0.0.1 and for a client, written to files."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    directory = tmp_path_factory.mktemp("credentials")
    authority = trustme.CA()
    server = authority.issue_cert("127.0.0.1", "localhost")
    client = authority.issue_cert("bench-7@lab.example")
    files = TLSFiles(
        *(
            directory / name
            for name in (
                "ca.pem",
                "server.pem",
                "server.key",
                "client.pem",
                "client.key",
                "stranger-ca.pem",
                "encrypted.key",
                "missing.pem",
            )
        )
    )
    authority.cert_pem.write_to_path(str(files.ca))
    server.cert_chain_pems[0].write_to_path(str(files.server_cert))
    server.private_key_pem.write_to_path(str(files.server_key))
    client.cert_chain_pems[0].write_to_path(str(files.client_cert))
    client.private_key_pem.write_to_path(str(files.client_key))
    trustme.CA().cert_pem.write_to_path(str(files.stranger_ca))
    key = serialization.load_pem_private_key(files.server_key.read_bytes(), password=None)
    files.encrypted_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    return files


def handshake(
    server_context: ssl.SSLContext,
    client_context: ssl.SSLContext,
    server_hostname: str = "127.0.0.1",
) -> ssl.SSLObject:
    """Run a TLS handshake between the two contexts in memory; return the server's side."""
    server_in, server_out, client_in, client_out = (ssl.MemoryBIO() for _ in range(4))
    server = server_context.wrap_bio(server_in, server_out, server_side=True)
    client = client_context.wrap_bio(client_in, client_out, server_hostname=server_hostname)
    for _ in range(10):
        finished = 0
        for side in (client, server):
            try:
                side.do_handshake()
                finished += 1
            except ssl.SSLWantReadError:
                pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
        if finished == 2:
            return server
    raise AssertionError("the handshake did not finish in 10 rounds")


# -- create_server_ssl_context and create_client_ssl_context ------------------------


@pytest.mark.srs("SRS-158", "SRS-159")
def test_the_helpers_are_part_of_the_public_api() -> None:
    """``linesock`` exports the three helpers."""
    for name in ("create_server_ssl_context", "create_client_ssl_context", "read_token"):
        assert name in linesock.__all__
        assert getattr(linesock, name).__doc__


@pytest.mark.srs("SRS-158")
def test_a_server_context_and_a_client_context_trusting_its_ca_shake_hands(tls: TLSFiles) -> None:
    """The server presents its certificate; the client checks it against the CA file."""
    server = create_server_ssl_context(tls.server_cert, tls.server_key)
    client = create_client_ssl_context(ca=tls.ca)
    assert (client.verify_mode, client.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert handshake(server, client).getpeercert() is None  # no client certificate asked for
    handshake(server, create_client_ssl_context(ca=str(tls.ca)), server_hostname="localhost")


@pytest.mark.parametrize(
    ("ca", "server_hostname", "reason"),
    [
        ("stranger_ca", "127.0.0.1", "unable to get local issuer certificate"),
        (None, "127.0.0.1", "unable to get local issuer certificate"),
        ("ca", "rig.example", "Hostname mismatch"),
    ],
    ids=["stranger-ca", "system-cas", "wrong-name"],
)
@pytest.mark.srs("SRS-158")
def test_a_client_context_refuses_a_server_it_cannot_verify(
    tls: TLSFiles, ca: str | None, server_hostname: str, reason: str
) -> None:
    """Another CA, the system's CAs or another name: the handshake fails on the client's side."""
    server = create_server_ssl_context(tls.server_cert, tls.server_key)
    client = create_client_ssl_context(ca=None if ca is None else getattr(tls, ca))
    with pytest.raises(ssl.SSLCertVerificationError, match=reason):
        handshake(server, client, server_hostname)


@pytest.mark.srs("SRS-158")
def test_a_server_context_with_a_client_ca_requires_a_client_certificate(tls: TLSFiles) -> None:
    """Mutual TLS: a client without a certificate fails; one with a certificate of the CA passes."""
    server = create_server_ssl_context(tls.server_cert, tls.server_key, client_ca=tls.ca)
    assert server.verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(ssl.SSLError):
        handshake(server, create_client_ssl_context(ca=tls.ca))
    client = create_client_ssl_context(ca=tls.ca, cert=tls.client_cert, key=tls.client_key)
    peer = handshake(server, client).getpeercert()
    assert peer is not None
    assert ("email", "bench-7@lab.example") in peer["subjectAltName"]


@pytest.mark.parametrize(
    ("cert", "key", "message"),
    [
        ("server_cert", "missing", "cannot read the TLS key {missing}: No such file or directory"),
        (
            "missing",
            "server_key",
            "cannot read the TLS certificate {missing}: No such file or directory",
        ),
        (
            "server_cert",
            "client_key",
            "the TLS key {client_key} does not belong to the certificate {server_cert}",
        ),
        (
            "ca",
            "ca",
            "cannot load the TLS certificate {ca} with the key {ca}: "
            "they are not a PEM certificate chain and its private key",
        ),
        (
            "server_cert",
            "encrypted_key",
            "the TLS key {encrypted_key} is encrypted; linesock reads only unencrypted keys",
        ),
    ],
    ids=["missing-key", "missing-cert", "mismatched-key", "not-a-key", "encrypted-key"],
)
@pytest.mark.srs("SRS-158")
@pytest.mark.parametrize("side", ["server", "client"])
def test_an_unusable_certificate_or_key_is_a_one_line_value_error(
    tls: TLSFiles, side: str, cert: str, key: str, message: str
) -> None:
    """Both helpers name the file and say what is wrong with it, on one line; none prompts."""
    names = {field: str(value) for field, value in dataclasses.asdict(tls).items()}
    cert_path, key_path = getattr(tls, cert), getattr(tls, key)
    with pytest.raises(ValueError, match=r"^[^\n]*$") as failure:
        if side == "server":
            create_server_ssl_context(cert_path, key_path)
        else:
            create_client_ssl_context(ca=tls.ca, cert=cert_path, key=key_path)
    assert str(failure.value) == message.format(**names)


@pytest.mark.parametrize(
    ("ca", "message"),
    [
        ("missing", "cannot read the CA file {missing}: No such file or directory"),
        (
            "server_key",
            "cannot load CA certificates from {server_key}: no certificate or crl found",
        ),
    ],
    ids=["missing", "not-a-certificate"],
)
@pytest.mark.srs("SRS-158")
@pytest.mark.parametrize("side", ["server", "client"])
def test_an_unusable_ca_file_is_a_one_line_value_error(
    tls: TLSFiles, side: str, ca: str, message: str
) -> None:
    """A CA file that cannot be read or holds no certificate is named in the error."""
    names = {field: str(value) for field, value in dataclasses.asdict(tls).items()}
    with pytest.raises(ValueError) as failure:
        if side == "server":
            create_server_ssl_context(tls.server_cert, tls.server_key, client_ca=getattr(tls, ca))
        else:
            create_client_ssl_context(ca=getattr(tls, ca))
    assert str(failure.value) == message.format(**names)


@pytest.mark.srs("SRS-158")
@pytest.mark.parametrize("given", ["cert", "key"])
def test_a_client_certificate_and_its_key_go_together(tls: TLSFiles, given: str) -> None:
    """The client helper refuses a certificate without its key, and the reverse."""
    files = {"cert": tls.client_cert} if given == "cert" else {"key": tls.client_key}
    with pytest.raises(ValueError, match=r"^cert and key go together: give both or neither$"):
        create_client_ssl_context(ca=tls.ca, **files)


# -- read_token ----------------------------------------------------------------------


def write(path: Path, content: str | bytes) -> Path:
    """Write *content* to *path* and return it."""
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


@pytest.mark.srs("SRS-159")
def test_the_token_comes_from_the_file_without_surrounding_whitespace(tmp_path: Path) -> None:
    """A token file as an editor leaves it (a final newline) gives the token alone."""
    assert read_token(write(tmp_path / "token", f"  {TOKEN}\n"), environ={}) == TOKEN
    assert read_token(str(tmp_path / "token"), environ={}) == TOKEN


@pytest.mark.srs("SRS-159")
def test_the_file_takes_precedence_over_the_environment(tmp_path: Path) -> None:
    """Given a file, ``LINESOCK_TOKEN`` is ignored."""
    environ = {"LINESOCK_TOKEN": "from-the-environment"}
    assert read_token(write(tmp_path / "token", TOKEN), environ=environ) == TOKEN


@pytest.mark.srs("SRS-159")
def test_without_a_file_the_token_comes_from_the_environment() -> None:
    """No file: ``LINESOCK_TOKEN``, stripped; neither: no token."""
    assert read_token(environ={"LINESOCK_TOKEN": f" {TOKEN}\n"}) == TOKEN
    assert read_token(environ={}) is None


@pytest.mark.srs("SRS-159")
def test_the_default_environment_is_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without ``environ=``, ``os.environ`` is read when the function is called."""
    monkeypatch.setenv("LINESOCK_TOKEN", TOKEN)
    assert read_token() == TOKEN
    monkeypatch.delenv("LINESOCK_TOKEN")
    assert read_token() is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (" \n", "the token file {path} is empty"),
        ("two words\n", "the token in the token file {path} holds a space or a line break"),
        (
            "line one\nline two\n",
            "the token in the token file {path} holds a space or a line break",
        ),
        (b"\xff\xfe\n", "the token file {path} is not UTF-8 text"),
        (None, "cannot read the token file {path}: No such file or directory"),
    ],
    ids=["empty", "space", "two-lines", "not-utf-8", "missing"],
)
@pytest.mark.srs("SRS-159")
def test_an_unusable_token_file_is_a_one_line_value_error(
    tmp_path: Path, content: str | bytes | None, message: str
) -> None:
    """An empty, multi-word, undecodable or missing file is refused, never taken as no token."""
    path = tmp_path / "token"
    if content is not None:
        write(path, content)
    with pytest.raises(ValueError) as failure:
        read_token(path, environ={"LINESOCK_TOKEN": TOKEN})
    assert str(failure.value) == message.format(path=path)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("  ", "LINESOCK_TOKEN is empty"),
        (f"{TOKEN} {TOKEN}", "the token in LINESOCK_TOKEN holds a space or a line break"),
    ],
    ids=["blank", "two-words"],
)
@pytest.mark.srs("SRS-159")
def test_an_unusable_token_variable_is_an_error_not_no_token(value: str, message: str) -> None:
    """``LINESOCK_TOKEN`` set but blank (or two words) fails; the message never shows the token."""
    with pytest.raises(ValueError) as failure:
        read_token(environ={"LINESOCK_TOKEN": value})
    assert str(failure.value) == message
    assert TOKEN not in str(failure.value)
