"""Access tokens: minting, verification and each way a token can be refused."""

from __future__ import annotations

import subprocess
import sys
import time

import jwt
import pytest

from signalling.config import Config, ConfigError
from signalling.tokens import ApiKeys, Grants, TokenError, mint_token, verify_token

KEY, SECRET = "key-a", "a" * 40
KEYS = ApiKeys({KEY: SECRET})


def test_a_minted_token_verifies_with_its_claims():
    grants = Grants(publish=frozenset({"microphone"}), data=False, admin=True)
    token = mint_token(KEY, SECRET, "ann", "standup", name="Ann", grants=grants, ttl=60)
    access = verify_token(token, KEYS)
    assert (access.identity, access.room, access.name, access.api_key) == ("ann", "standup", "Ann", KEY)
    assert access.grants == grants
    assert time.time() + 50 < access.expires_at <= time.time() + 61
    assert access.revocation_id != verify_token(mint_token(KEY, SECRET, "ann", "standup"), KEYS).revocation_id


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: mint_token(KEY, SECRET, "ann", "r", ttl=-60), "token_expired"),
        (lambda: mint_token(KEY, SECRET, "ann", "r", not_before=time.time() + 600), "token_not_yet_valid"),
        (lambda: mint_token(KEY, "b" * 40, "ann", "r"), "token_invalid"),  # wrong secret
        (lambda: mint_token("retired", SECRET, "ann", "r"), "token_invalid"),  # unknown key
        (lambda: "not.a.jwt", "token_invalid"),
        (lambda: mint_token(KEY, SECRET, "ann", "r")[:-4] + "AAAA", "token_invalid"),  # tampered
        (
            lambda: jwt.encode({"iss": KEY, "sub": "ann"}, SECRET, algorithm="HS256"),
            "token_invalid",
        ),  # no exp
        (
            lambda: jwt.encode(
                {"iss": KEY, "sub": "ann", "exp": time.time() + 60}, SECRET * 2, algorithm="HS512"
            ),
            "token_invalid",
        ),
        (
            lambda: jwt.encode(
                {"iss": KEY, "sub": "ann", "exp": time.time() + 60, "grants": {"publish": ["tv"]}},
                SECRET,
                algorithm="HS256",
            ),
            "token_invalid",
        ),
        (
            lambda: jwt.encode(
                {"iss": KEY, "sub": "x" * 65, "exp": time.time() + 60}, SECRET, algorithm="HS256"
            ),
            "token_invalid",
        ),
    ],
)
def test_bad_tokens_are_refused_with_a_precise_code(make, code):
    with pytest.raises(TokenError) as refused:
        verify_token(make(), KEYS)
    assert refused.value.code == code and refused.value.message


def test_unsigned_alg_none_token_is_refused():
    token = jwt.encode({"iss": KEY, "sub": "ann", "exp": time.time() + 60}, None, algorithm="none")
    with pytest.raises(TokenError, match="not valid"):
        verify_token(token, KEYS)


def test_rotation_old_and_new_keys_both_verify_until_the_old_one_is_removed():
    old = mint_token("old", "o" * 40, "ann", "r")
    new = mint_token("new", "n" * 40, "ann", "r")
    both = ApiKeys.parse("old: " + "o" * 40 + "\nnew: " + "n" * 40)
    assert verify_token(old, both).api_key == "old" and verify_token(new, both).api_key == "new"
    rotated = ApiKeys.parse("new: " + "n" * 40)
    assert verify_token(new, rotated).identity == "ann"
    with pytest.raises(TokenError) as refused:
        verify_token(old, rotated)
    assert refused.value.code == "token_invalid"


def test_missing_grants_mean_nothing_is_granted():
    token = jwt.encode({"iss": KEY, "sub": "ann", "exp": time.time() + 60, "room": "r"}, SECRET, "HS256")
    grants = verify_token(token, KEYS).grants
    assert not (grants.join or grants.publish or grants.subscribe or grants.data or grants.admin)


def test_api_keys_parse_refuses_short_secrets_and_hides_them():
    with pytest.raises(ValueError, match="shorter than 32"):
        ApiKeys.parse("k: short")
    with pytest.raises(ValueError, match="KEY: SECRET"):
        ApiKeys.parse("no-separator")
    keys = ApiKeys.parse("# a comment\nk1: " + "s" * 40 + "\nk2:" + "t" * 40)
    assert sorted(keys.secrets) == ["k1", "k2"]
    assert "s" * 40 not in repr(keys) and "s" * 40 not in repr(Config(api_keys=keys))


def test_dev_door_opens_only_on_loopback_without_keys():
    loopback = Config(host="127.0.0.1")
    loopback.open_dev_door()
    assert loopback.dev_tokens and loopback.api_keys
    keyed = Config(host="127.0.0.1", api_keys=KEYS)
    keyed.open_dev_door()
    assert not keyed.dev_tokens and keyed.api_keys is KEYS
    exposed = Config(host="0.0.0.0")
    with pytest.raises(ConfigError, match="needs API keys"):
        exposed.open_dev_door()
    assert not exposed.dev_tokens


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "signalling.cli", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


def test_huddle_serve_refuses_an_exposed_address_without_keys_or_tls():
    result = run_cli("serve", "--host", "0.0.0.0", "--port", "1", "--behind-proxy")
    assert result.returncode != 0
    assert "needs API keys" in result.stderr
    plain = run_cli("serve", "--host", "0.0.0.0", "--port", "1", env={"HUDDLE_API_KEYS": "k:" + "s" * 40})
    assert plain.returncode != 0
    assert "refusing plain HTTP on 0.0.0.0" in plain.stderr


def test_huddle_keys_and_huddle_token_mint_a_token_the_server_accepts():
    pair = run_cli("keys")
    assert pair.returncode == 0, pair.stderr
    keys = ApiKeys.parse(pair.stdout)
    (key,) = keys.secrets
    result = run_cli(
        "token",
        "--room",
        "standup",
        "--identity",
        "ann",
        "--name",
        "Ann",
        "--publish",
        "microphone",
        "--no-data",
        "--ttl",
        "120",
        env={"HUDDLE_API_KEYS": pair.stdout.strip()},
    )
    assert result.returncode == 0, result.stderr
    access = verify_token(result.stdout.strip(), keys)
    assert (access.identity, access.room, access.name) == ("ann", "standup", "Ann")
    assert access.grants.publish == {"microphone"} and not access.grants.data and access.grants.subscribe
    assert keys.secrets[key] not in result.stdout + result.stderr
    no_keys = run_cli("token", "--room", "r", "--identity", "ann")
    assert no_keys.returncode != 0 and "no API keys" in no_keys.stderr
    no_room = run_cli("token", "--identity", "ann", env={"HUDDLE_API_KEYS": pair.stdout.strip()})
    assert no_room.returncode != 0 and "--room is required" in no_room.stderr


@pytest.mark.parametrize("identity", ["a/b", "has space", "", "tab\t", "ümlaut"])
def test_identities_that_cannot_be_addressed_are_refused(identity):
    token = jwt.encode({"iss": KEY, "sub": identity, "exp": time.time() + 60}, SECRET, algorithm="HS256")
    with pytest.raises(TokenError) as refused:
        verify_token(token, KEYS)
    assert refused.value.code == "token_invalid"


def test_email_like_identities_are_fine():
    assert verify_token(mint_token(KEY, SECRET, "ada@example.com", "r"), KEYS).identity == "ada@example.com"
