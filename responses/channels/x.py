"""Publishing on X (Twitter) through the v2 API with tweepy: ``POST /2/tweets``.

``config`` keys:

- ``handle`` — the account's @username, optional; post URLs then read
  ``https://x.com/<handle>/status/<id>`` instead of ``https://x.com/i/web/status/<id>``.

``credentials``, one of:

- OAuth 1.0a user context: ``consumer_key``, ``consumer_secret`` (the app's API key and
  secret), ``access_token``, ``access_token_secret`` (the posting account's, generated with
  read and write permission). These do not expire.
- OAuth 2.0 user context: ``access_token`` alone, from the Authorization Code flow with
  PKCE and the ``tweet.write`` scope. tweepy sends such a token as a bearer token with
  ``user_auth=False``; an *app-only* bearer token (the inbound adapter's) cannot post.
  These tokens expire after two hours and refreshing them is not done here, so a
  long-lived channel should use OAuth 1.0a.

The text is weighed as X weighs it (``text.x_weighted_length``: 280, URLs 23, most
non-Latin characters 2); a longer text becomes a numbered thread where each part replies
to the one before. X has no idempotency key: when an answer is lost (a timeout after X
received the post), the retry is refused as duplicate content, which is reported as
permanent with a message saying the post may already be out.

429 is retryable at ``x-rate-limit-reset`` (or at the 24-hour user/app reset when that
quota is the one used up); 5xx, timeouts and network failures are retryable; 400, 401,
403 (including duplicates and replies X does not allow) and 404 are permanent.
"""

from __future__ import annotations

import re
from typing import Any

import requests
import tweepy

from monitoring.sources import helpers
from monitoring.sources.x import describe_error
from responses.channels.base import (
    HTTP_TIMEOUT_SECONDS,
    ChannelAdapter,
    OutboundPost,
    PublishedPart,
    PublishError,
    PublishResult,
    compose_text,
    publish_thread,
)
from responses.channels.text import split_thread, x_weighted_length

HANDLE = re.compile(r"[A-Za-z0-9_]{1,15}")
TWEET_ID = re.compile(r"[0-9]{1,19}")
OAUTH1_KEYS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
OAUTH1_ACCESS_TOKEN = re.compile(r"[0-9]+-\S+")
# tweepy writes request headers to its DEBUG log; the real token is added by the session.
_TOKEN_KEPT_OUT_OF_TWEEPY = "set-by-the-session"


class _Session(requests.Session):
    """Every request gets a timeout (tweepy sets none), and an OAuth 2 token is added here
    so that it never appears in tweepy's debug log of the request headers."""

    def __init__(self, bearer_token: str | None = None):
        super().__init__()
        self._bearer_token = bearer_token

    def request(self, method, url, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", HTTP_TIMEOUT_SECONDS)
        if self._bearer_token:
            kwargs["headers"] = {**(kwargs.get("headers") or {}), "Authorization": f"Bearer {self._bearer_token}"}
        return super().request(method, url, **kwargs)


class XChannel(ChannelAdapter):
    kind = "x"
    label = "X"
    max_post_length = 280

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        config = helpers.require_mapping(config, "X channel configuration")
        helpers.reject_unknown_keys(config, {"handle"}, "X channel configuration")
        handle = config.get("handle") or ""
        if not isinstance(handle, str):
            raise ValueError("handle must be text.")
        handle = handle.strip().lstrip("@")
        if handle and not HANDLE.fullmatch(handle):
            raise ValueError(f"{handle[:40]!r} is not an X username (1–15 letters, digits or underscores).")
        return {"handle": handle}

    @classmethod
    def validate_credentials(cls, credentials: dict[str, Any]) -> dict[str, Any]:
        credentials = helpers.require_mapping(credentials, "X channel credentials")
        helpers.reject_unknown_keys(credentials, OAUTH1_KEYS, "X channel credentials")
        labels = {
            "consumer_key": "The API key (consumer key)",
            "consumer_secret": "The API key secret (consumer secret)",
            "access_token": "The access token",
            "access_token_secret": "The access token secret",
        }
        values = {key: helpers.clean_secret(credentials, key, required=False, label=labels[key]) for key in OAUTH1_KEYS}
        if any(values[key] for key in ("consumer_key", "consumer_secret", "access_token_secret")):
            missing = [labels[key] for key in OAUTH1_KEYS if not values[key]]
            if missing:
                raise ValueError(f"OAuth 1.0a needs all four keys; missing: {', '.join(missing)}.")
            return values
        if not values["access_token"]:
            raise ValueError(
                "Give the four OAuth 1.0a keys (consumer_key, consumer_secret, access_token, "
                "access_token_secret), or an OAuth 2.0 user access_token alone."
            )
        if OAUTH1_ACCESS_TOKEN.fullmatch(values["access_token"]):
            raise ValueError(
                "This access token is an OAuth 1.0a token: also give consumer_key, consumer_secret and "
                "access_token_secret."
            )
        return {"access_token": values["access_token"]}

    def split(self, post: OutboundPost) -> list[str]:
        return split_thread(compose_text(post), fits=lambda text: x_weighted_length(text) <= self.max_post_length)

    def publish(self, post: OutboundPost) -> PublishResult:
        config, credentials = self.checked_settings()
        parts = self.checked_parts(post)
        if post.in_reply_to and not TWEET_ID.fullmatch(post.in_reply_to):
            raise PublishError(f"{post.in_reply_to[:40]!r} is not an X post id to reply to.", retryable=False)
        oauth1 = "consumer_key" in credentials
        if oauth1:
            client = tweepy.Client(**credentials, return_type=requests.Response, wait_on_rate_limit=False)
            client.session = _Session()
        else:
            client = tweepy.Client(
                bearer_token=_TOKEN_KEPT_OUT_OF_TWEEPY, return_type=requests.Response, wait_on_rate_limit=False
            )
            client.session = _Session(bearer_token=credentials["access_token"])

        def send(index: int, text: str, previous: PublishedPart | None) -> PublishedPart:
            reply_to = previous.external_id if previous else post.in_reply_to
            tweet_id = _create_tweet(client, text=text, reply_to=reply_to or None, user_auth=oauth1, part=(index, len(parts)))
            return PublishedPart(external_id=tweet_id, url=post_url(config, tweet_id))

        return publish_thread(parts, resume_after=post.resume_after, send=send)


def post_url(config: dict[str, Any], tweet_id: str) -> str:
    if config.get("handle"):
        return f"https://x.com/{config['handle']}/status/{tweet_id}"
    return f"https://x.com/i/web/status/{tweet_id}"


def _create_tweet(client: tweepy.Client, *, text: str, reply_to: str | None, user_auth: bool, part: tuple[int, int]) -> str:
    index, total = part
    what = f"part {index + 1} of {total}" if total > 1 else "the post"
    try:
        response = client.create_tweet(text=text, in_reply_to_tweet_id=reply_to, user_auth=user_auth)
    except tweepy.TooManyRequests as error:
        raise PublishError(
            f"X rate limit reached while sending {what}; will retry.", retryable=True, retry_at=_rate_limit_reset(error.response)
        ) from None
    except tweepy.Unauthorized as error:
        raise PublishError(
            f"X refused the credentials (401): {describe_error(error)}. Reconnect the X account.", retryable=False
        ) from None
    except tweepy.Forbidden as error:
        detail = describe_error(error)
        if "duplicate" in detail.lower():
            raise PublishError(
                f"X refused {what} as a duplicate of a post already on the account (403). It may have gone out on an "
                "earlier attempt: check the account before publishing again.",
                retryable=False,
            ) from None
        raise PublishError(f"X refused {what} (403): {detail}", retryable=False) from None
    except (tweepy.BadRequest, tweepy.NotFound) as error:
        raise PublishError(f"X refused {what} ({error.response.status_code}): {describe_error(error)}", retryable=False) from None
    except tweepy.TwitterServerError as error:
        raise PublishError(f"X is failing ({error.response.status_code}); will retry.", retryable=True) from None
    except tweepy.HTTPException as error:
        status = getattr(error.response, "status_code", 0)
        retryable = status in (408, 409, 425)
        raise PublishError(
            f"X answered {status} to {what}: {describe_error(error)}" + ("; will retry." if retryable else ""), retryable=retryable
        ) from None
    except requests.Timeout:
        raise PublishError(f"X did not answer in time while sending {what}; will retry.", retryable=True) from None
    except requests.RequestException as error:
        raise PublishError(f"Could not reach X ({type(error).__name__}); will retry.", retryable=True) from None

    try:
        body = response.json()
    except ValueError:
        body = None
    data = body.get("data") if isinstance(body, dict) else None
    tweet_id = str(data.get("id") or "") if isinstance(data, dict) else ""
    if not TWEET_ID.fullmatch(tweet_id):
        # X took the post (2xx) but did not say its id: retrying could post it twice.
        raise PublishError(
            f"X accepted {what} ({response.status_code}) without saying its id; check the account.", retryable=False
        )
    return tweet_id


def _rate_limit_reset(response: Any):
    """When to come back: the endpoint's window, or a 24-hour posting quota when that is
    the one used up (X then still sends the short window's reset)."""
    headers = getattr(response, "headers", None) or {}
    resets = [helpers.epoch_to_datetime(headers.get("x-rate-limit-reset"))]
    for quota in ("x-user-limit-24hour", "x-app-limit-24hour"):
        if str(headers.get(f"{quota}-remaining", "")).strip() == "0":
            resets.append(helpers.epoch_to_datetime(headers.get(f"{quota}-reset")))
    known = [reset for reset in resets if reset is not None]
    return max(known) if known else None
