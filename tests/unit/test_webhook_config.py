"""The `feedback.webhooks` config: subscriber URLs on the allow-list, secrets in whsec_ form, known events."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from imperium_desk.config import ConfigError, config_from_mapping
from imperium_desk.feedback.webhooks.allowlist import UrlRefused, check_url
from imperium_desk.feedback.webhooks.config import WebhooksConfig
from imperium_desk.feedback.webhooks.signing import generate_secret

SECRET = generate_secret()
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def webhooks(**fields: Any) -> WebhooksConfig:
    return WebhooksConfig.model_validate(fields)


def test_defaults_allow_loopback_only_and_have_no_subscribers() -> None:
    config = WebhooksConfig()
    assert config.allow_hosts == LOOPBACK and config.subscribers == ()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/h", "https://localhost/h", "http://[::1]:8080/h",
                                 "http://LOCALHOST:1/h"])
def test_loopback_urls_pass_the_default_allow_list(url: str) -> None:
    assert check_url(url, LOOPBACK) == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://10.0.0.5/h", "not on the allow-list"),
        ("http://example.com/h", "not on the allow-list"),
        ("ftp://127.0.0.1/h", "scheme must be http or https"),
        ("127.0.0.1:9000/h", "scheme must be http or https"),
        ("http://user:pw@127.0.0.1/h", "credentials"),
        ("http://127.0.0.1:99999/h", "not a valid URL"),
        ("http:///h", "names no host"),
    ],
)
def test_bad_urls_are_refused_saying_why(url: str, says: str) -> None:
    with pytest.raises(UrlRefused, match=says):
        check_url(url, LOOPBACK)


def test_a_widened_allow_list_admits_its_host() -> None:
    config = webhooks(allow_hosts=["hooks.internal"], subscribers=[{"url": "https://hooks.internal/x",
                                                                    "secret": SECRET}])
    assert config.subscribers[0].url == "https://hooks.internal/x"


def test_subscriber_outside_the_allow_list_fails_the_config_with_its_path() -> None:
    with pytest.raises(ConfigError) as refused:
        config_from_mapping(
            {"feedback": {"webhooks": {"subscribers": [{"url": "http://203.0.113.9/h", "secret": SECRET}]}}}, "t"
        )
    assert "subscribers.0.url" in str(refused.value) and "203.0.113.9" in str(refused.value)


def test_malformed_secret_fails_with_the_field_path() -> None:
    with pytest.raises(ValidationError) as refused:
        webhooks(subscribers=[{"url": "http://127.0.0.1/h", "secret": "hunter2"}])
    [error] = refused.value.errors()
    assert error["loc"] == ("subscribers", 0, "secret") and "whsec_" in error["msg"]


def test_unknown_event_name_fails_naming_it() -> None:
    with pytest.raises(ValidationError) as refused:
        webhooks(subscribers=[{"url": "http://127.0.0.1/h", "secret": SECRET, "events": ["fil"]}])
    [error] = refused.value.errors()
    assert error["loc"] == ("subscribers", 0, "events") and "'fil'" in error["msg"]


def test_same_url_twice_is_refused() -> None:
    sub = {"url": "http://127.0.0.1/h", "secret": SECRET}
    with pytest.raises(ValidationError, match="listed twice"):
        webhooks(subscribers=[sub, sub])


def test_backoff_cap_below_its_base_is_refused() -> None:
    with pytest.raises(ValidationError, match="backoff_max_s"):
        webhooks(backoff_base_s=10, backoff_max_s=1)
