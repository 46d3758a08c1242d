"""Connecting an instance through OAuth2 authorization code (RFC 6749 §4.1, PKCE RFC 7636).

`start_authorization` stores a pending authorization bound to the organization (its random
`state` only as a SHA-256, its PKCE verifier and the future instance encrypted) and builds
the vendor's authorize URL. `complete_authorization` is the callback: it spends the state
once, exchanges the code at the token endpoint (no transaction is held meanwhile) and
creates the instance with the tokens in its encrypted credentials. From then on an
`oauth2_refresh_token` instance runs on the element's refresh-token grant
(`vendor.oauth.RefreshTokenAuth`); a `bearer` or `api_key` instance presents the access
token as it is, stored in the config field its auth names (no refresh token needed).
"""

from interlink.services.oauth_connect.callback import callback_signed, complete_authorization
from interlink.services.oauth_connect.common import (
    CALLBACK_PATH,
    AuthorizationFailed,
    CompletedAuthorization,
)
from interlink.services.oauth_connect.start import (
    AuthorizationRequest,
    StartedAuthorization,
    pkce_challenge,
    request_from_query,
    start_authorization,
)
from interlink.services.oauth_connect.status import describe_authorization

__all__ = [
    "CALLBACK_PATH",
    "AuthorizationFailed",
    "AuthorizationRequest",
    "CompletedAuthorization",
    "StartedAuthorization",
    "callback_signed",
    "complete_authorization",
    "describe_authorization",
    "pkce_challenge",
    "request_from_query",
    "start_authorization",
]
