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


class OAuth2RefreshToken(AuthMethod):
    """Refresh-token grant; the refreshed tokens are persisted with the instance."""

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


class NoAuth(AuthMethod):
    type: Literal["none"]


Auth = Annotated[
    ApiKeyAuth | BearerAuth | BasicAuth | OAuth2ClientCredentials | OAuth2RefreshToken | NoAuth,
    Field(discriminator="type"),
]
