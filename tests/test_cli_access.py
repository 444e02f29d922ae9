"""The command line's access control: TLS (``--tls-*``) and the shared token (``--token-file``).

Servers and clients run as real processes on loopback, each started with
the helpers of ``test_cli`` (every wait bounded, no sleeps).
"""

from __future__ import annotations

import dataclasses
import re
import ssl
import subprocess
from pathlib import Path

import pytest
import trustme

import linesock
from cli_fixtures import cli_handler
from linesock.cli import EXIT_ERROR, EXIT_USAGE, main
from test_cli import (
    Finished,
    background_server,
    cli_environment,
    connect,
    read_until_closed,
    run_cli,
    serving,
    unused_port,
)

TOKEN = "rig-42-Secret"
# What a server logs (at WARNING, so without -v too) when it refuses a client.
REFUSED = (
    "WARNING linesock: a client failed to authenticate: connection closed "
    "(further failures are counted and logged at most once a minute)"
)


@dataclasses.dataclass(frozen=True)
class TLSFiles:
    """PEM files of a throwaway CA, a server certificate, a client certificate and a stranger CA."""

    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    stranger_ca: str
    authority: trustme.CA


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """Certificates for 127.0.0.1 and a client, written to files as the flags want them."""
    directory = tmp_path_factory.mktemp("tls")
    authority = trustme.CA()
    server = authority.issue_cert("127.0.0.1", "localhost")
    client = authority.issue_cert("bench-7@lab.example")
    files = TLSFiles(
        ca=str(directory / "ca.pem"),
        server_cert=str(directory / "server.pem"),
        server_key=str(directory / "server.key"),
        client_cert=str(directory / "client.pem"),
        client_key=str(directory / "client.key"),
        stranger_ca=str(directory / "stranger-ca.pem"),
        authority=authority,
    )
    authority.cert_pem.write_to_path(files.ca)
    server.cert_chain_pems[0].write_to_path(files.server_cert)
    server.private_key_pem.write_to_path(files.server_key)
    client.cert_chain_pems[0].write_to_path(files.client_cert)
    client.private_key_pem.write_to_path(files.client_key)
    trustme.CA().cert_pem.write_to_path(files.stranger_ca)
    return files


def trusting_context(tls: TLSFiles) -> ssl.SSLContext:
    """A client context that trusts the test CA."""
    context = ssl.create_default_context()
    tls.authority.configure_trust(context)
    return context


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a finished command (asserting there is exactly one)."""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.endswith("\n"), result.stderr
    return result.stderr


def log_messages(stderr: str) -> list[str]:
    """The log lines in *stderr* without their timestamps."""
    return [
        re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", "", line) for line in stderr.splitlines()
    ]


# -- TLS -----------------------------------------------------------------------


@pytest.mark.srs("SRS-127")
def test_serve_with_a_certificate_serves_tls_clients_only(tls: TLSFiles) -> None:
    """--tls-cert/--tls-key: a client trusting the CA is served, a plain one is not."""
    flags = ("--tls-cert", tls.server_cert, "--tls-key", tls.server_key)
    with serving("cli_handler:handler", "--port", "0", *flags) as server:
        with linesock.Client(port=server.port, ssl_context=trusting_context(tls)) as client:
            assert client.request("echo over tls") == ["over tls"]
        plain = run_cli("send", "--port", str(server.port), "echo plain")
        assert (plain.returncode, plain.stdout) == (EXIT_ERROR, "")
        assert one_error_line(plain).startswith(
            f"linesock: the server at 127.0.0.1:{server.port} did not answer ping: "
        )
        shut = run_cli("send", "--port", str(server.port), "--tls-ca", tls.ca, "shutdown")
        assert (shut.returncode, shut.stdout, shut.stderr) == (0, "", "")
        assert server.finish() == Finished(0, "", "")


@pytest.mark.srs("SRS-127")
def test_serve_with_a_client_ca_requires_a_client_certificate(tls: TLSFiles) -> None:
    """--tls-client-ca: a client without a certificate is refused, one with a certificate served."""
    flags = ("--tls-cert", tls.server_cert, "--tls-key", tls.server_key)
    with serving("cli_handler:handler", "--port", "0", *flags, "--tls-client-ca", tls.ca) as server:
        port = str(server.port)
        anonymous = run_cli("send", "--port", port, "--tls-ca", tls.ca, "echo anonymous")
        assert (anonymous.returncode, anonymous.stdout) == (EXIT_ERROR, "")
        where = re.escape(f"127.0.0.1:{port}")
        assert re.fullmatch(
            rf"linesock: (TLS handshake with {where} failed|"
            rf"the server at {where} did not answer ping): .+\n",
            one_error_line(anonymous),
        )
        mutual = ("--tls-ca", tls.ca, "--tls-cert", tls.client_cert, "--tls-key", tls.client_key)
        known = run_cli("send", "--port", port, *mutual, "echo known", "shutdown")
        assert (known.returncode, known.stdout, known.stderr) == (0, "known\n", "")
        assert server.finish() == Finished(0, "", "")


@pytest.mark.srs("SRS-127")
def test_send_verifies_the_server_with_its_ca(tls: TLSFiles) -> None:
    """``send --tls-ca`` talks TLS to a server whose certificate that CA signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.server_cert, tls.server_key)
    with background_server(cli_handler.handler, ssl_context=context) as server:
        result = run_cli("send", "--port", server.port, "--tls-ca", tls.ca, "echo trusted", "ping")
        assert (result.returncode, result.stdout, result.stderr) == (0, "trusted\npong\n", "")
        localhost = run_cli(
            "send",
            "--port",
            server.port,
            "--tls-ca",
            tls.ca,
            "--server-hostname",
            "localhost",
            "echo by name",
        )
        assert (localhost.returncode, localhost.stdout, localhost.stderr) == (0, "by name\n", "")


@pytest.mark.srs("SRS-127")
@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (["--tls-ca", "{stranger_ca}"], "certificate verify failed: unable to get local issuer"),
        (["--tls"], "certificate verify failed: unable to get local issuer"),
        (
            ["--tls-ca", "{ca}", "--server-hostname", "rig.example"],
            "certificate verify failed: Hostname mismatch, certificate is not valid for "
            "'rig.example'.",
        ),
    ],
    ids=["stranger-ca", "system-cas", "wrong-name"],
)
def test_send_refuses_a_server_it_cannot_verify(
    tls: TLSFiles, flags: list[str], reason: str
) -> None:
    """A certificate from another CA, or for another name, fails the handshake: exit 1, one line."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.server_cert, tls.server_key)
    arguments = [flag.format(**dataclasses.asdict(tls)) for flag in flags]
    with background_server(cli_handler.handler, ssl_context=context) as server:
        result = run_cli("send", "--port", server.port, *arguments, "echo never")
    assert (result.returncode, result.stdout) == (EXIT_ERROR, "")
    assert one_error_line(result).startswith(
        f"linesock: TLS handshake with 127.0.0.1:{server.port} failed: "
        f"[SSL: CERTIFICATE_VERIFY_FAILED] {reason}"
    )


@pytest.mark.srs("SRS-117", "SRS-127")
@pytest.mark.parametrize(
    ("flags", "code", "message"),
    [
        (
            ["--tls-cert", "{server_cert}"],
            EXIT_USAGE,
            "--tls-cert and --tls-key go together: give both or neither",
        ),
        (
            ["--tls-key", "{server_key}"],
            EXIT_USAGE,
            "--tls-cert and --tls-key go together: give both or neither",
        ),
        (["--tls-client-ca", "{ca}"], EXIT_USAGE, "--tls-client-ca needs --tls-cert and --tls-key"),
        (
            ["--tls-cert", "{server_cert}", "--tls-key", "{missing}"],
            EXIT_ERROR,
            "cannot read the TLS key {missing}: No such file or directory",
        ),
        (
            ["--tls-cert", "{missing}", "--tls-key", "{server_key}"],
            EXIT_ERROR,
            "cannot read the TLS certificate {missing}: No such file or directory",
        ),
        (
            ["--tls-cert", "{server_cert}", "--tls-key", "{client_key}"],
            EXIT_ERROR,
            "the TLS key {client_key} does not belong to the certificate {server_cert}",
        ),
        (
            ["--tls-cert", "{ca_as_key}", "--tls-key", "{ca_as_key}"],
            EXIT_ERROR,
            "cannot load the TLS certificate {ca_as_key} with the key {ca_as_key}: "
            "they are not a PEM certificate chain and its private key",
        ),
        (
            [
                "--tls-cert",
                "{server_cert}",
                "--tls-key",
                "{server_key}",
                "--tls-client-ca",
                "{server_key}",
            ],
            EXIT_ERROR,
            "cannot load CA certificates from {server_key}: no certificate or crl found",
        ),
    ],
    ids=[
        "cert-alone",
        "key-alone",
        "client-ca-alone",
        "missing-key",
        "missing-cert",
        "mismatched-key",
        "not-a-key",
        "client-ca-not-a-certificate",
    ],
)
def test_serve_with_unusable_tls_files_fails_with_one_line(
    tls: TLSFiles,
    tmp_path: Path,
    flags: list[str],
    code: int,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A missing, mismatched or malformed TLS file: exit 1 (or 2 for a flag alone), one line."""
    names = {**dataclasses.asdict(tls), "missing": str(tmp_path / "missing.pem")}
    names["ca_as_key"] = tls.ca  # a certificate with no key in it
    arguments = [flag.format(**names) for flag in flags]
    assert main(["serve", "--port", str(unused_port()), *arguments]) == code
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", f"linesock: {message.format(**names)}\n")


@pytest.mark.srs("SRS-127")
def test_serve_refuses_an_encrypted_key_instead_of_prompting(
    tls: TLSFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key that needs a passphrase fails at once with one line; nothing prompts for it."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    key = serialization.load_pem_private_key(Path(tls.server_key).read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    argv = ["serve", "--port", "0", "--tls-cert", tls.server_cert, "--tls-key", str(encrypted)]
    assert main(argv) == EXIT_ERROR
    assert capsys.readouterr().err == (
        f"linesock: the TLS key {encrypted} is encrypted; linesock reads only unencrypted keys\n"
    )


# -- the token -------------------------------------------------------------------


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    """A token file as an editor leaves it: the token and a final newline."""
    path = tmp_path / "token"
    path.write_text(f"{TOKEN}\n")
    return path


@pytest.mark.srs("SRS-128")
def test_serve_with_a_token_file_requires_auth_and_send_gives_it(token_file: Path) -> None:
    """--token-file: ``send --token-file`` is served; no token or a wrong one is refused."""
    with serving(
        "cli_handler:handler", "--port", "0", "--token-file", str(token_file), "-vv"
    ) as server:
        port = str(server.port)
        with connect(server.port) as sock:
            sock.sendall(b"echo sneaky\n")
            assert read_until_closed(sock) == b"unauthorized\n"
        served = run_cli("send", "--port", port, "--token-file", str(token_file), "echo in")
        assert (served.returncode, served.stdout, served.stderr) == (0, "in\n", "")
        anonymous = run_cli("send", "--port", port, "echo anonymous")
        assert (anonymous.returncode, anonymous.stdout, anonymous.stderr) == (
            EXIT_ERROR,
            "",
            f"linesock: the server at 127.0.0.1:{port} answered ping with 'unauthorized'\n",
        )
        wrong = run_cli(
            "send", "--port", port, "echo wrong", environment=cli_environment(LINESOCK_TOKEN="nope")
        )
        assert (wrong.returncode, wrong.stdout, wrong.stderr) == (
            EXIT_ERROR,
            "",
            f"linesock: the server at 127.0.0.1:{port} refused the token (unauthorized)\n",
        )
        shell = run_cli(
            "shell", "--port", port, "--token-file", str(token_file), stdin="echo shell\nshutdown\n"
        )
        assert (shell.returncode, shell.stdout, shell.stderr) == (0, "shell\n", "")
        finished = server.finish()
    assert finished.returncode == 0
    assert "a client failed to authenticate" in finished.stderr  # -vv really logged
    for output in (finished.stdout, finished.stderr, served.stdout, served.stderr):
        assert TOKEN not in output


@pytest.mark.srs("SRS-128")
def test_the_token_file_takes_precedence_over_the_environment(token_file: Path) -> None:
    """Given both, ``serve`` and ``send`` use --token-file; else LINESOCK_TOKEN applies."""
    environment = cli_environment(LINESOCK_TOKEN="from-the-environment")
    with serving(
        "cli_handler:handler",
        "--port",
        "0",
        "--token-file",
        str(token_file),
        environment=environment,
    ) as server:
        port = str(server.port)
        with connect(server.port) as sock:
            sock.sendall(b"auth from-the-environment\n")
            assert read_until_closed(sock) == b"unauthorized\n"
        both = run_cli(
            "send",
            "--port",
            port,
            "--token-file",
            str(token_file),
            "echo file wins",
            environment=environment,
        )
        assert (both.returncode, both.stdout, both.stderr) == (0, "file wins\n", "")
        alone = run_cli(
            "send",
            "--port",
            port,
            "echo from env",
            "shutdown",
            environment=cli_environment(LINESOCK_TOKEN=f" {TOKEN}\n"),
        )
        assert (alone.returncode, alone.stdout, alone.stderr) == (0, "from env\n", "")
        finished = server.finish()
    assert (finished.returncode, finished.stdout) == (0, "")
    assert log_messages(finished.stderr) == [REFUSED]


@pytest.mark.srs("SRS-128")
def test_serve_reads_the_token_from_the_environment() -> None:
    """Without --token-file, ``serve`` requires the token in LINESOCK_TOKEN."""
    environment = cli_environment(LINESOCK_TOKEN=TOKEN)
    with serving("cli_handler:handler", "--port", "0", environment=environment) as server:
        with connect(server.port) as sock:
            sock.sendall(b"ping\n")
            assert read_until_closed(sock) == b"unauthorized\n"
        with connect(server.port) as sock:
            sock.sendall(f"auth {TOKEN}\necho env\nshutdown\n".encode())
            assert read_until_closed(sock) == b"ok\nenv\n"
        finished = server.finish()
    assert (finished.returncode, finished.stdout) == (0, "")
    assert log_messages(finished.stderr) == [REFUSED]


@pytest.mark.srs("SRS-117", "SRS-128")
@pytest.mark.parametrize("command", ["serve", "send"])
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (" \n", "the token file {path} is empty"),
        ("two words\n", "the token in the token file {path} holds a space or a line break"),
        (
            "line one\nline two\n",
            "the token in the token file {path} holds a space or a line break",
        ),
        (None, "cannot read the token file {path}: No such file or directory"),
    ],
    ids=["empty", "space", "two-lines", "missing"],
)
def test_an_unusable_token_file_fails_with_one_line(
    command: str,
    content: str | None,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An empty, multi-word or missing token file ends ``serve`` and ``send`` with exit 1."""
    monkeypatch.delenv("LINESOCK_TOKEN", raising=False)
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    argv = [command, "--port", str(unused_port()), "--token-file", str(path)]
    assert main([*argv, "ping"] if command == "send" else argv) == EXIT_ERROR
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", f"linesock: {message.format(path=path)}\n")


@pytest.mark.srs("SRS-128")
@pytest.mark.parametrize("command", ["serve", "send"])
def test_an_empty_token_variable_is_an_error_not_no_token(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """LINESOCK_TOKEN set but blank fails (exit 1) rather than serving or connecting without one."""
    monkeypatch.setenv("LINESOCK_TOKEN", "  ")
    argv = [command, "--port", str(unused_port())]
    assert main([*argv, "ping"] if command == "send" else argv) == EXIT_ERROR
    assert capsys.readouterr().err == "linesock: LINESOCK_TOKEN is empty\n"
