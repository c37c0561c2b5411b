"""The API's JSON shapes (camelCase). Serializers parse and format types only: every rule and
its message is the rule book's (publishing.rules), applied by the services.

One module per part of the API: fields (the types every body is read with), posts, webhooks,
accounts (connections and /me); the API's modules use them as ``s.<name>``.
"""

from api.serializers.accounts import (  # noqa: F401
    ConnectionSerializer,
    KeySerializer,
    MeSerializer,
    TeamSerializer,
)
from api.serializers.fields import (  # noqa: F401
    HTTP_URL,
    MEDIA_URLS_SCHEMA,
    MediaUrlsField,
    Rfc3339Field,
    StrictSerializer,
    Text,
    ThreadField,
    ThreadPartSerializer,
    VariantSerializer,
    VariantsField,
    VariantsSerializer,
    Wording,
)
from api.serializers.posts import (  # noqa: F401
    BULK_MAX,
    ApproveSerializer,
    BulkItemSerializer,
    BulkPostsField,
    BulkResultSerializer,
    BulkSerializer,
    ChannelsField,
    PlatformsField,
    PostCreateSerializer,
    PostPatchSerializer,
    PostSerializer,
    PostWriteSerializer,
    PublicationSerializer,
    RejectSerializer,
    RetrySerializer,
)
from api.serializers.webhooks import (  # noqa: F401
    AttemptSerializer,
    DeliverySerializer,
    EndpointCreatedSerializer,
    EndpointPatchSerializer,
    EndpointSerializer,
    EndpointWriteSerializer,
    EventsField,
    SecretSerializer,
    UrlText,
)
