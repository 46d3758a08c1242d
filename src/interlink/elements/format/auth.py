"""How an element authenticates: API keys, bearer, basic, OAuth2 flows."""

from __future__ import annotations

from dataclasses import dataclass
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


class OAuth2Authorize(Strict):
    """How an organization connects through the vendor's consent screen (RFC 6749 §4.1).

    The hub sends the browser to `url` and exchanges the code it gets back at the token
    endpoint of the surrounding `oauth2_refresh_token` section; from then on the instance
    runs on the refresh-token grant. (`bearer` and `api_key` take a `TokenAuthorize`, which
    names its token endpoint and client itself.) `client_id`/`client_secret` come from the
    instance config or, for built-in elements, from
    `INTERLINK_OAUTH_<ELEMENT>_CLIENT_ID/_SECRET`.
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
    callback_signature: Literal["none", "shopify"] = Field(
        default="none",
        description=(
            "how the vendor signs the callback's query: `shopify` is a hex HMAC-SHA256 of the "
            "other parameters (sorted, form-encoded), keyed with the client secret, in `hmac`"
        ),
    )

    @model_validator(mode="after")
    def _params_leave_the_protocol_alone(self) -> OAuth2Authorize:
        for name in self.params:
            if name in _AUTHORIZE_PROTOCOL_PARAMS:
                raise invalid(
                    ("params", name), f"{name!r} is set by Interlink itself", self.params[name]
                )
        return self


class TokenAuthorize(OAuth2Authorize):
    """`authorize` of an auth that presents one access token as it is (`bearer`, `api_key`).

    These auths have no token endpoint nor client of their own, so the section names them:
    the code is exchanged at `token_url` by this client, and the access token is stored
    (encrypted) into the config field the auth's template names. No refresh token is
    needed: the token is used until the vendor refuses it (GitHub OAuth apps, Shopify
    offline tokens); a refresh token or expiry the vendor sends anyway is not used.
    """

    token_url: ConfigTemplate = Field(description="the vendor's token endpoint (template)")
    client_id: ConfigTemplate = Field(description="template, e.g. '{config.client_id}'")
    client_secret: ConfigTemplate = Field(description="template, e.g. '{config.client_secret}'")
    client_auth: Literal["body", "basic"] = "body"


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


class ApiKeyAuth(AuthMethod):
    """A key in a header or query parameter. With `authorize`, the key is the access token
    an OAuth2 authorization code yields (Shopify's `X-Shopify-Access-Token`)."""

    secret_templates = ("value",)

    type: Literal["api_key"]
    location: Literal["header", "query"] = Field(default="header", alias="in")
    name: str
    value: ConfigTemplate = Field(description="template, e.g. '{config.api_key}'")
    authorize: TokenAuthorize | None = Field(
        default=None,
        description=(
            "the authorization-code flow that creates instances through consent; the access "
            "token is stored into the config field `value` names"
        ),
    )

    @model_validator(mode="after")
    def _authorized_token_has_a_place(self) -> ApiKeyAuth:
        _check_token_template(self.authorize, "value", self.value)
        return self


class BearerAuth(AuthMethod):
    """`Authorization: Bearer <token>`. With `authorize`, the token is the access token an
    OAuth2 authorization code yields, kept until the vendor refuses it (GitHub OAuth apps)."""

    secret_templates = ("token",)

    type: Literal["bearer"]
    token: ConfigTemplate
    authorize: TokenAuthorize | None = Field(
        default=None,
        description=(
            "the authorization-code flow that creates instances through consent; the access "
            "token is stored into the config field `token` names"
        ),
    )

    @model_validator(mode="after")
    def _authorized_token_has_a_place(self) -> BearerAuth:
        _check_token_template(self.authorize, "token", self.token)
        return self


def _check_token_template(authorize: TokenAuthorize | None, attribute: str, template: str) -> None:
    # The callback stores the vendor's access token into this config field.
    if authorize is not None and config_field(template) is None:
        raise invalid(
            (attribute,),
            f"with authorize, {attribute} must be exactly one config field, e.g. "
            "'{config.token}': the access token of the authorization is stored there",
            template,
        )


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


@dataclass(frozen=True)
class CodeFlow:
    """The authorization-code flow of an auth section, whatever its type.

    `refresh_token_field` is `None` for auths that present the access token as it is: the
    callback then stores the access token into `access_token_field`, a config field.
    """

    authorize: OAuth2Authorize
    token_url: str
    client_id: str
    client_secret: str
    client_auth: Literal["body", "basic"]
    access_token_field: str
    refresh_token_field: str | None
    expires_at_field: str | None

    @property
    def stored_field(self) -> str:
        """The config field the callback fills: the refresh token, or the access token."""
        return self.refresh_token_field or self.access_token_field

    @property
    def vendor_fields(self) -> tuple[str, ...]:
        """The config fields only the vendor's answer fills."""
        names = (self.refresh_token_field, self.access_token_field, self.expires_at_field)
        return tuple(name for name in names if name is not None)


def code_flow(auth: AuthMethod) -> CodeFlow | None:
    """The authorization-code flow `auth` declares, or `None`."""
    if isinstance(auth, OAuth2RefreshToken) and auth.authorize is not None:
        return CodeFlow(
            authorize=auth.authorize,
            token_url=auth.token_url,
            client_id=auth.client_id,
            client_secret=auth.client_secret,
            client_auth=auth.client_auth,
            access_token_field=auth.access_token_field,
            refresh_token_field=config_field(auth.refresh_token) or "refresh_token",
            expires_at_field=auth.expires_at_field,
        )
    if isinstance(auth, BearerAuth | ApiKeyAuth) and auth.authorize is not None:
        template = auth.token if isinstance(auth, BearerAuth) else auth.value
        field = config_field(template)
        if field is None:  # refused when the definition is read
            return None
        authorize = auth.authorize
        return CodeFlow(
            authorize=authorize,
            token_url=authorize.token_url,
            client_id=authorize.client_id,
            client_secret=authorize.client_secret,
            client_auth=authorize.client_auth,
            access_token_field=field,
            refresh_token_field=None,
            expires_at_field=None,
        )
    return None


class NoAuth(AuthMethod):
    type: Literal["none"]


Auth = Annotated[
    ApiKeyAuth | BearerAuth | BasicAuth | OAuth2ClientCredentials | OAuth2RefreshToken | NoAuth,
    Field(discriminator="type"),
]
