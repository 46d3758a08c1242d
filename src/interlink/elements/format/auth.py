"""How an element authenticates: API keys, bearer, basic, OAuth2 flows."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import (
    Field,
    model_validator,
)

from interlink.elements.format.base import (
    _CONFIG_NAME,
    ConfigTemplate,
    Strict,
    invalid,
)
from interlink.elements.templates import placeholders

# --- authentication ---------------------------------------------------------------------


class AuthMethod(Strict):
    # The fields holding credentials: every config field they use must be `secret: true`,
    # or the credential would be stored unencrypted and returned by the API.
    secret_templates: ClassVar[tuple[str, ...]] = ()


class ApiKeyAuth(AuthMethod):
    secret_templates = ("value",)

    type: Literal["api_key"]
    location: Literal["header", "query"] = Field(default="header", alias="in")
    name: str
    value: ConfigTemplate = Field(description="template, e.g. '{config.api_key}'")


class BearerAuth(AuthMethod):
    secret_templates = ("token",)

    type: Literal["bearer"]
    token: ConfigTemplate


class BasicAuth(AuthMethod):
    secret_templates = ("password",)

    type: Literal["basic"]
    username: ConfigTemplate
    password: ConfigTemplate


class OAuth2ClientCredentials(AuthMethod):
    secret_templates = ("client_secret",)

    type: Literal["oauth2_client_credentials"]
    token_url: ConfigTemplate
    client_id: ConfigTemplate
    client_secret: ConfigTemplate
    scope: str | None = None
    client_auth: Literal["body", "basic"] = "body"


class OAuth2Authorize(Strict):
    """How an organization connects through the vendor's consent screen (RFC 6749 §4.1).

    The hub sends the browser to `url` and exchanges the code it gets back at the token
    endpoint of the surrounding `oauth2_refresh_token` section; from then on the instance
    runs on the refresh-token grant. `client_id`/`client_secret` come from the instance
    config or, for built-in elements, from `INTERLINK_OAUTH_<ELEMENT>_CLIENT_ID/_SECRET`.
    """

    url: ConfigTemplate = Field(description="the vendor's authorization endpoint (template)")
    scopes: list[str] = Field(default_factory=list, description="scopes asked for")
    scope_separator: str = Field(default=" ", min_length=1, max_length=3)
    pkce: bool = Field(
        default=False, description="the vendor supports PKCE (RFC 7636): send an S256 challenge"
    )
    params: dict[str, ConfigTemplate] = Field(
        default_factory=dict,
        description="extra query parameters of the authorize URL, e.g. access_type: offline",
    )

    @model_validator(mode="after")
    def _params_leave_the_protocol_alone(self) -> OAuth2Authorize:
        for name in self.params:
            if name in _AUTHORIZE_PROTOCOL_PARAMS:
                raise invalid(
                    ("params", name), f"{name!r} is set by Interlink itself", self.params[name]
                )
        return self


# The parameters of the authorization request that Interlink sets itself.
_AUTHORIZE_PROTOCOL_PARAMS = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
    }
)


class OAuth2RefreshToken(AuthMethod):
    """Refresh-token grant; the refreshed tokens are persisted with the instance.

    With `authorize`, instances can also be created through the authorization-code flow
    (`/v1/oauth/{element}/authorize`), which fills the refresh token and the first access
    token in.
    """

    secret_templates = ("client_secret", "refresh_token")

    type: Literal["oauth2_refresh_token"]
    token_url: ConfigTemplate
    client_id: ConfigTemplate
    client_secret: ConfigTemplate
    refresh_token: ConfigTemplate
    client_auth: Literal["body", "basic"] = "body"
    access_token_field: str = Field(
        default="access_token",
        pattern=_CONFIG_NAME,
        description=(
            "the instance credential where the refreshed access token is stored (encrypted) "
            "and read back, so a still-valid token spares a refresh"
        ),
    )
    expires_at_field: str = Field(
        default="token_expires_at",
        pattern=_CONFIG_NAME,
        description=(
            "the instance credential where the access token's expiry is stored, in unix "
            "seconds (RFC 3339 is read as well)"
        ),
    )

    authorize: OAuth2Authorize | None = Field(
        default=None,
        description="the authorization-code flow that creates instances through consent",
    )

    @model_validator(mode="after")
    def _authorized_tokens_have_a_place(self) -> OAuth2RefreshToken:
        if self.authorize is None:
            return self
        # The callback stores the vendor's refresh token into this config field.
        if config_field(self.refresh_token) is None:
            raise invalid(
                ("refresh_token",),
                "with authorize, refresh_token must be one config field, e.g. "
                "'{config.refresh_token}'",
                self.refresh_token,
            )
        return self

    @model_validator(mode="after")
    def _distinct_token_fields(self) -> OAuth2RefreshToken:
        if self.access_token_field == self.expires_at_field:
            raise invalid(
                ("expires_at_field",),
                "expires_at_field must differ from access_token_field",
                self.expires_at_field,
            )
        if self.expires_at_field in placeholders(self.refresh_token) or (
            self.access_token_field in placeholders(self.refresh_token)
        ):
            raise invalid(
                ("refresh_token",),
                "the refresh token must be stored apart from the access token and its expiry",
                self.refresh_token,
            )
        return self


def config_field(template: str) -> str | None:
    """`refresh_token` for the template `{config.refresh_token}`; `None` for anything else."""
    names = placeholders(template)
    if len(names) == 1:
        (name,) = names
        if template == f"{{config.{name}}}":
            return name
    return None


class NoAuth(AuthMethod):
    type: Literal["none"]


Auth = Annotated[
    ApiKeyAuth | BearerAuth | BasicAuth | OAuth2ClientCredentials | OAuth2RefreshToken | NoAuth,
    Field(discriminator="type"),
]
